/* Line counts on arbitrary bytes: hlm_line_counts_load must accept a file or return an error naming
 * it, never crash, and leave the table unchanged when it refuses; what it accepts must survive a
 * save/load round trip. The same bytes, as a document, go through counting and removal.
 *
 * Input layout: byte 0 bit 0 set: the last 8 bytes are replaced by the right checksum first, so
 * that mutations reach the entry checks; the rest is the serialized table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "text/dedup.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int fix_sum = data[0] & 1;
    size_t n = size - 1;
    uint8_t *in = malloc(n ? n : 1);
    CHECK(in);
    if (n) memcpy(in, data + 1, n);
    if (fix_sum && n >= 8) {
        uint64_t sum = XXH3_64bits(in, n - 8);
        for (int i = 0; i < 8; i++) in[n - 8 + i] = (uint8_t)(sum >> (8 * i));
    }
    /* Take min_line_chars from the header so that the fuzzer gets past that check. */
    size_t min_chars = n >= 16 ? (size_t)(in[12] | in[13] << 8) : 5;

    hlm_error err;
    hlm_line_counts *c, *again;
    CHECK(hlm_line_counts_new(&c, 1 << 16, min_chars, &err) == HLM_OK);
    CHECK(hlm_line_counts_add(c, (const uint8_t *)"a line of some length\nanother one here", 38, &err) == HLM_OK);
    size_t before = hlm_line_counts_entries(c);
    hlm_status st = hlm_line_counts_load(c, in, n, "fuzz.in", &err);
    if (st) {
        CHECK(strncmp(err.msg, "fuzz.in:", 8) == 0);
        CHECK(hlm_line_counts_entries(c) == before);
    } else {
        hlm_buf saved = {0};
        CHECK(hlm_line_counts_save(c, &saved, &err) == HLM_OK);
        CHECK(hlm_line_counts_new(&again, 1 << 16, min_chars, &err) == HLM_OK);
        CHECK(hlm_line_counts_load(again, saved.data, saved.len, "saved", &err) == HLM_OK);
        CHECK(hlm_line_counts_entries(again) == hlm_line_counts_entries(c));
        CHECK(hlm_line_counts_dropped(again) == hlm_line_counts_dropped(c));
        hlm_line_counts_free(again);
        hlm_buf_free(&saved);
    }

    /* The bytes as a document: counted, then removed from itself. */
    CHECK(hlm_line_counts_add(c, in, n, &err) == HLM_OK);
    hlm_buf out = {0};
    size_t removed, lines = 1;
    for (size_t i = 0; i < n; i++) lines += in[i] == '\n';
    CHECK(hlm_line_dedup_apply(c, 1, in, n, &out, &removed, &err) == HLM_OK);
    CHECK(out.len <= n && removed <= lines);
    hlm_buf_free(&out);
    hlm_line_counts_free(c);
    free(in);
    return 0;
}
