/* Pre-tokenizer and NFC throughput on one core: bench_pretok FILE...
 * For each file: MB/s of splitting the whole text into pieces with each pattern, of NFC
 * (hlm_nfc_append) and of the NFC stability check. The peer for pre-tokenization is the regex
 * inside tiktoken (Rust fancy-regex); it is measured as part of the whole encoder by the
 * tokenizer benchmark, not here. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hyperlm/file.h"
#include "text/unicode.h"
#include "tokenizer/pretok.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs f over the text until at least min_s have passed; returns MB/s. */
#define TIME_MBPS(result, len, body)                                                                 \
    do {                                                                                             \
        double t0_ = now_s(), t_ = 0;                                                                \
        long reps_ = 0;                                                                              \
        do {                                                                                         \
            body;                                                                                    \
            reps_++;                                                                                 \
        } while ((t_ = now_s() - t0_) < 0.5);                                                        \
        (result) = (double)(len) * (double)reps_ / t_ / 1e6;                                         \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    double t0 = now_s();
    hlm_class_table_get();
    printf("class table built in %.1f ms\n", (now_s() - t0) * 1e3);
    for (int f = 1; f < argc; f++) {
        hlm_buf text = {0};
        hlm_error err;
        if (hlm_file_read_all(argv[f], &text, &err) != HLM_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        const uint8_t *s = text.data;
        size_t len = text.len;
        printf("%s: %.1f MB\n", argv[f], (double)len / 1e6);
        for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
            size_t pieces = 0;
            double mbps;
            TIME_MBPS(mbps, len, {
                pieces = 0;
                for (size_t pos = 0; pos < len; pieces++) pos = hlm_pretok_next((hlm_pattern)p, s, len, pos);
            });
            printf("  pretok %-12s %8.1f MB/s  (%zu pieces, %.2f bytes each)\n", hlm_pattern_name((hlm_pattern)p),
                   mbps, pieces, (double)len / (double)pieces);
        }
        hlm_buf out = {0};
        double mbps;
        int stable = 0;
        TIME_MBPS(mbps, len, { stable = hlm_nfc_is_stable(s, len); });
        printf("  nfc_is_stable       %8.1f MB/s  (%s)\n", mbps, stable ? "stable" : "not stable");
        TIME_MBPS(mbps, len, {
            out.len = 0;
            if (hlm_nfc_append(s, len, &out, &err) != HLM_OK) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        });
        printf("  nfc_append          %8.1f MB/s\n", mbps);
        hlm_buf_free(&out);
        hlm_buf_free(&text);
    }
    return 0;
}
