/* libFuzzer target: GGUF files from memory (hlm_gguf_open_mem).
 * Invariants checked:
 *  - any input either opens or fails with HLM_ERR_FORMAT and a message naming the input; never a
 *    crash, an out-of-bounds read (ASan), a leak or undefined behaviour;
 *  - an opened file's metadata is found by key, every value and array element decodes (strings
 *    lie inside the input and are read whole, so ASan sees any bad view), and the typed getters
 *    succeed or fail with a message;
 *  - its tensors lie inside the input, at aligned offsets, with the byte size their type and
 *    dims give, no two sharing a byte, each found by name; their bytes are read;
 *  - an opened file rewritten with the writer (small inputs only) opens again with the same
 *    metadata and tensors, and rewriting that gives the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "infer/gguf.h"
#include "fuzz_check.h"

static unsigned touch(const void *p, uint64_t n)
{
    unsigned s = 0;
    for (uint64_t i = 0; i < n; i++) s += ((const uint8_t *)p)[i];
    return s;
}

static int inside(const void *p, uint64_t n, const uint8_t *data, size_t len)
{
    const uint8_t *b = p;
    return (!n && b >= data && b <= data + len) || (b >= data && n <= len && b <= data + len - n);
}

static void check_metadata(const hlm_gguf_file *f, const uint8_t *data, size_t len)
{
    hlm_error err;
    for (size_t i = 0; i < hlm_gguf_kv_count(f); i++) {
        const hlm_gguf_kv *kv = hlm_gguf_kv_at(f, i);
        CHECK(hlm_gguf_find(f, kv->key) == kv);
        CHECK(inside(kv->raw, kv->raw_len, data, len));
        if (kv->type == HLM_GGUF_ARRAY) {
            for (uint64_t k = 0; k < kv->count; k++) {
                hlm_gguf_value v = hlm_gguf_kv_elem(kv, k);
                CHECK(v.type == kv->elem_type);
                if (v.type == HLM_GGUF_STRING) {
                    CHECK(inside(v.s.ptr, v.s.len, kv->raw, kv->raw_len));
                    (void)touch(v.s.ptr, v.s.len);
                    CHECK(hlm_gguf_arr_str(kv, k).ptr == v.s.ptr);
                }
                if (v.type == HLM_GGUF_BOOL) CHECK(v.b == 0 || v.b == 1);
            }
            const hlm_gguf_kv *a;
            CHECK(hlm_gguf_get_array(f, kv->key, kv->elem_type, &a, &err) == HLM_OK && a == kv);
        } else {
            hlm_gguf_value v = hlm_gguf_kv_value(kv);
            CHECK(v.type == kv->type);
            if (v.type == HLM_GGUF_STRING) {
                CHECK(inside(v.s.ptr, v.s.len, data, len));
                (void)touch(v.s.ptr, v.s.len);
            }
        }
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        int b;
        hlm_gguf_str s;
        hlm_status st[7] = {
            hlm_gguf_get_u32(f, kv->key, &u32, &err), hlm_gguf_get_i32(f, kv->key, &i32, &err),
            hlm_gguf_get_u64(f, kv->key, &u64, &err), hlm_gguf_get_i64(f, kv->key, &i64, &err),
            hlm_gguf_get_f32(f, kv->key, &f32, &err), hlm_gguf_get_bool(f, kv->key, &b, &err),
            hlm_gguf_get_str(f, kv->key, &s, &err),
        };
        for (int k = 0; k < 7; k++) CHECK(st[k] == HLM_OK || st[k] == HLM_ERR_FORMAT);
        CHECK((st[6] == HLM_OK) == (kv->type == HLM_GGUF_STRING));
        CHECK((st[5] == HLM_OK) == (kv->type == HLM_GGUF_BOOL));
    }
    uint32_t a;
    hlm_error err2;
    CHECK(hlm_gguf_get_u32(f, "no such key", &a, &err2) == HLM_ERR_FORMAT && err2.msg[0]);
}

static void check_tensors(const hlm_gguf_file *f, const uint8_t *data, size_t len)
{
    uint32_t align = hlm_gguf_alignment(f);
    CHECK(align && !(align & (align - 1)));
    size_t n = hlm_gguf_tensor_count(f);
    for (size_t i = 0; i < n; i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        CHECK(hlm_gguf_find_tensor(f, t->name) == t);
        CHECK(t->n_dims <= HLM_GGUF_MAX_DIMS && t->offset % align == 0);
        CHECK(inside(t->data, t->nbytes, data, len));
        CHECK((uint64_t)((const uint8_t *)t->data - data) == hlm_gguf_data_offset(f) + t->offset);
        CHECK(hlm_ggml_tensor_bytes(t->type, t->n_dims, t->dims, NULL) == t->nbytes && t->nbytes);
        (void)touch(t->data, t->nbytes);
        for (size_t j = 0; j < i; j++) { /* no shared bytes (small inputs have few tensors) */
            const hlm_gguf_tensor *u = hlm_gguf_tensor_at(f, j);
            CHECK(t->offset >= u->offset + u->nbytes || u->offset >= t->offset + t->nbytes);
        }
    }
}

static void rewrite(const hlm_gguf_file *f, const char *path)
{
    hlm_gguf_writer *w;
    hlm_error err;
    CHECK(hlm_gguf_writer_new(&w, &err) == HLM_OK);
    for (size_t i = 0; i < hlm_gguf_kv_count(f); i++) CHECK(hlm_gguf_add_kv(w, hlm_gguf_kv_at(f, i), &err) == HLM_OK);
    for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        CHECK(hlm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->dims, t->data, t->nbytes, 0, &err) == HLM_OK);
    }
    CHECK(hlm_gguf_write(w, path, &err) == HLM_OK);
    hlm_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    hlm_gguf_file *f;
    hlm_error err;
    if (hlm_gguf_open_mem(data, len, "fuzz.gguf", &f, &err) != HLM_OK) {
        CHECK(f == NULL && err.code == HLM_ERR_FORMAT && !strncmp(err.msg, "fuzz.gguf: ", 11));
        return 0;
    }
    check_metadata(f, data, len);
    check_tensors(f, data, len);

    if (len < 8192) {
        char path[64], path2[64];
        snprintf(path, sizeof path, "/tmp/fuzz_gguf.%d", (int)getpid());
        snprintf(path2, sizeof path2, "/tmp/fuzz_gguf2.%d", (int)getpid());
        rewrite(f, path);
        hlm_gguf_file *g;
        CHECK(hlm_gguf_open(path, &g, &err) == HLM_OK);
        CHECK(hlm_gguf_kv_count(g) == hlm_gguf_kv_count(f) && hlm_gguf_tensor_count(g) == hlm_gguf_tensor_count(f));
        CHECK(hlm_gguf_alignment(g) == hlm_gguf_alignment(f));
        for (size_t i = 0; i < hlm_gguf_kv_count(f); i++) {
            const hlm_gguf_kv *a = hlm_gguf_kv_at(f, i), *b = hlm_gguf_kv_at(g, i);
            CHECK(!strcmp(a->key, b->key) && a->type == b->type && a->count == b->count && a->raw_len == b->raw_len);
            CHECK(!memcmp(a->raw, b->raw, a->raw_len) && (a->type != HLM_GGUF_ARRAY || a->elem_type == b->elem_type));
        }
        for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
            const hlm_gguf_tensor *a = hlm_gguf_tensor_at(f, i), *b = hlm_gguf_tensor_at(g, i);
            CHECK(!strcmp(a->name, b->name) && a->type == b->type && a->n_dims == b->n_dims && a->nbytes == b->nbytes);
            CHECK(!memcmp(a->dims, b->dims, sizeof a->dims) && !memcmp(a->data, b->data, a->nbytes));
        }
        /* our own output is a fixed point */
        rewrite(g, path2);
        hlm_buf x = {0}, y = {0};
        CHECK(hlm_file_read_all(path, &x, &err) == HLM_OK && hlm_file_read_all(path2, &y, &err) == HLM_OK);
        CHECK(x.len == y.len && !memcmp(x.data, y.data, x.len));
        hlm_buf_free(&x);
        hlm_buf_free(&y);
        hlm_gguf_close(g);
        unlink(path);
        unlink(path2);
    }
    hlm_gguf_close(f);
    return 0;
}
