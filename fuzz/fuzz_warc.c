/* WARC/WET parsing on arbitrary bytes: records or an error naming the input and a record
 * offset, never a crash; every record's fields are C strings and its payload lies inside the
 * input (or, for a chunked HTTP body, is no longer than the record).
 *
 * Input layout: byte 0 picks the record size limit (so that skipping is exercised), the rest is
 * the WARC content, read through the in-memory reader (the same parser as for files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/extract.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const size_t limits[] = {64u << 20, 0, 1, 16, 100, 1000};
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    hlm_warc_reader *r;
    hlm_error err;
    CHECK(hlm_warc_open_mem(&r, "fuzz.warc", in, n, &err) == HLM_OK);
    size_t limit = limits[data[0] % 6];
    hlm_warc_set_max_record(r, limit);
    CHECK(hlm_warc_sniff(in, n) == (n >= 7 && memcmp(in, "WARC/1.", 7) == 0) ||
          (n && (in[0] == '\r' || in[0] == '\n')));
    size_t records = 0;
    for (;;) {
        hlm_warc_record rec;
        int more;
        hlm_status st = hlm_warc_next(r, &rec, &more, &err);
        if (st) {
            CHECK(st == HLM_ERR_FORMAT);
            CHECK(strncmp(err.msg, "fuzz.warc: record at byte ", 26) == 0);
            break;
        }
        if (!more) break;
        CHECK(++records <= n / 10 + 1);
        CHECK(rec.type && rec.type[0]);
        CHECK(rec.record_id && rec.target_uri && rec.date && rec.content_type);
        (void)strlen(rec.record_id), (void)strlen(rec.target_uri), (void)strlen(rec.date), (void)strlen(rec.content_type);
        CHECK(rec.payload_len <= limit);
        int inside = rec.payload >= in && rec.payload + rec.payload_len <= in + n;
        CHECK(inside || rec.kind == HLM_WARC_RESPONSE);
        uint8_t sum = 0; /* touches every payload byte, so ASan sees any read out of bounds */
        for (size_t i = 0; i < rec.payload_len; i++) sum ^= rec.payload[i];
        CHECK(rec.payload_len || sum == 0);
        if (rec.kind != HLM_WARC_RESPONSE) CHECK(rec.http_status == 0);
        CHECK(rec.http_status >= 0 && rec.http_status <= 999);
    }
    CHECK(hlm_warc_bytes_read(r) <= n);
    CHECK(hlm_warc_file_bytes(r) == n);
    hlm_warc_close(r);
    return 0;
}
