/* libFuzzer target: safetensors files from memory (hlm_st_open_mem).
 * Invariants checked:
 *  - any input either opens or fails with a message; never a crash, leak or undefined behaviour;
 *  - an opened file's tensors lie inside the input, their byte size matches shape and dtype, and
 *    every one is found by name; reading each float tensor as f32 succeeds (and touches every
 *    byte, so ASan sees any out-of-bounds view); other dtypes fail cleanly;
 *  - an opened file written back with hlm_st_write opens again with the same tensors. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "model/safetensors.h"
#include "fuzz_check.h"

static int is_float(hlm_dtype dt)
{
    return dt == HLM_DT_F32 || dt == HLM_DT_F16 || dt == HLM_DT_BF16 || dt == HLM_DT_F64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    hlm_st_file *f;
    hlm_error err;
    if (hlm_st_open_mem(data, len, "fuzz.safetensors", &f, &err) != HLM_OK) {
        CHECK(f == NULL && err.msg[0] && err.code == HLM_ERR_FORMAT);
        return 0;
    }
    int n = hlm_st_count(f);
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        const hlm_st_tensor *t = hlm_st_get(f, i);
        const uint8_t *p = t->data;
        CHECK(p >= data && p + t->nbytes <= data + len);
        CHECK(hlm_st_find(f, t->name) == t);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        CHECK(numel * hlm_dtype_size(t->dtype) == t->nbytes);
        sum += t->nbytes;
        CHECK(sum <= len);
        float *out = malloc(numel * sizeof *out + 1);
        CHECK(out);
        hlm_status st = hlm_st_read_f32(f, t->name, t->ndim, t->shape, out, &err);
        CHECK(is_float(t->dtype) ? st == HLM_OK : st == HLM_ERR_FORMAT);
        free(out);
    }
    (void)hlm_st_metadata(f, "format");

    /* write back (small files only: each run writes to /tmp) and reopen */
    if (len < 4096) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz_safetensors.%d", (int)getpid());
        hlm_st_tensor *ts = malloc(((size_t)n + 1) * sizeof *ts);
        CHECK(ts);
        for (int i = 0; i < n; i++) ts[i] = *hlm_st_get(f, i);
        CHECK(hlm_st_write(path, ts, n, NULL, NULL, 0, &err) == HLM_OK);
        hlm_st_file *g;
        CHECK(hlm_st_open(path, &g, &err) == HLM_OK);
        CHECK(hlm_st_count(g) == n);
        for (int i = 0; i < n; i++) {
            const hlm_st_tensor *a = hlm_st_get(f, i), *b = hlm_st_get(g, i);
            CHECK(!strcmp(a->name, b->name) && a->dtype == b->dtype && a->ndim == b->ndim &&
                  a->nbytes == b->nbytes && !memcmp(a->shape, b->shape, sizeof a->shape[0] * (size_t)a->ndim));
            CHECK(!a->nbytes || !memcmp(a->data, b->data, a->nbytes));
        }
        hlm_st_close(g);
        unlink(path);
        free(ts);
    }
    hlm_st_close(f);
    return 0;
}
