/* Pass 2 of one part only (hlm_pipeline_dedup with out_docs NULL for the others), as each rank
 * of `mpirun hyperlm data prepare` runs it: over two parts with exact duplicates, near-duplicates
 * and boilerplate lines across them, each part written alone is byte-identical to the same part
 * written by one pass 2 over both, and the two parts' reports add up to that one's, with the
 * whole-run figures (clusters, line table) the same in each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hyperlm/file.h"
#include "text/pipeline.h"
#include "tmpdir.h"

/* 60 documents of 80 pseudo-random words; document 41 + k repeats document k exactly (k < 6) or
 * with its first word changed (6 <= k < 12), and every third original ends with the same
 * boilerplate line. One file split by document ordinal: even and odd documents are the two
 * parts, so every planted pair crosses them and only pass 2 can find it. */
static void write_corpus(const char *path)
{
    static const char *const words[] = {"model", "data",  "token", "filter", "memory", "thread", "cluster",
                                        "shard", "layer", "train", "cache",  "vector", "merge",  "signal"};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    uint32_t seed = 12345;
    char text[60][1024];
    for (int d = 0; d < 60; d++) {
        size_t n = 0;
        for (int w = 0; w < 80; w++) {
            seed = seed * 1664525u + 1013904223u;
            n += (size_t)snprintf(text[d] + n, sizeof text[d] - n, "%s%s%u", w ? " " : "", words[(seed >> 16) % 14],
                                  (seed >> 8) % 50);
        }
        int original = d >= 41 && d < 53 ? d - 41 : d;
        if (original != d) memmove(text[d], text[original], sizeof text[d]);
        if (d >= 47 && d < 53) memcpy(text[d], "CHANGED", 7);
        fprintf(f, "{\"id\": \"d%02d\", \"text\": \"%s%s\"}\n", d, text[d],
                original % 3 ? "" : "\\nCopyright Example Corporation, all rights reserved.");
    }
    fclose(f);
}

static void read_file(const char *path, hlm_buf *out)
{
    hlm_error err;
    out->len = 0;
    assert_int_equal(hlm_file_read_all(path, out, &err), HLM_OK);
}

static void test_one_part_as_one_rank(void **state)
{
    (void)state;
    hlm_pipeline_opts o;
    hlm_pipeline_opts_default(&o);
    o.normalize = o.langid = o.filters = o.pii = 0;
    o.threads = 1;
    o.progress = 0;
    const char *corpus = tmp_path("corpus.jsonl");
    write_corpus(corpus);
    assert_int_equal(mkdir(tmp_path("parts"), 0755), 0);
    hlm_part_files pf[2];
    hlm_pipeline_report pass1[2], all, alone[2];
    hlm_error err;
    memset(&all, 0, sizeof all);
    for (unsigned i = 0; i < 2; i++) {
        o.source.part = i;
        o.source.parts = 2;
        hlm_part_files_in(&pf[i], tmpdir, i, 2, &o);
        memset(&pass1[i], 0, sizeof pass1[i]);
        assert_int_equal(hlm_pipeline_run(&o, &corpus, 1, &pf[i], &pass1[i], &err), HLM_OK);
        hlm_report_merge(&all, &pass1[i]);
    }
    char both_out[2][400], alone_out[2][400];
    for (int i = 0; i < 2; i++) {
        snprintf(both_out[i], sizeof both_out[i], "%s/both-%d.jsonl", tmpdir, i);
        snprintf(alone_out[i], sizeof alone_out[i], "%s/alone-%d.jsonl", tmpdir, i);
    }
    const char *both[2] = {both_out[0], both_out[1]};
    assert_int_equal(hlm_pipeline_dedup(&o, pf, 2, both, &all, &err), HLM_OK);
    assert_true(all.removed[HLM_RM_DEDUP_EXACT] >= 3); /* the pairs across parts, found in pass 2 */
    assert_true(all.removed[HLM_RM_DEDUP_NEAR] >= 3);
    assert_true(all.lines_removed_dedup >= 10);

    hlm_buf a = {0}, b = {0};
    uint64_t kept = 0, removed_near = 0, removed_exact = 0, lines_removed = 0;
    for (int i = 0; i < 2; i++) {
        const char *outs[2] = {NULL, NULL};
        outs[i] = alone_out[i];
        alone[i] = pass1[i];
        assert_int_equal(hlm_pipeline_dedup(&o, pf, 2, outs, &alone[i], &err), HLM_OK);
        read_file(both_out[i], &a);
        read_file(alone_out[i], &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        kept += alone[i].docs_kept;
        removed_near += alone[i].removed[HLM_RM_DEDUP_NEAR];
        removed_exact += alone[i].removed[HLM_RM_DEDUP_EXACT];
        lines_removed += alone[i].lines_removed_dedup;
        assert_int_equal(alone[i].near_dup_clusters, all.near_dup_clusters);
        assert_int_equal(alone[i].line_table_entries, all.line_table_entries);
        assert_int_equal(alone[i].dedup_memory_bytes, all.dedup_memory_bytes);
        assert_int_equal(alone[i].stage[HLM_STAGE_DEDUP].docs_in, pass1[i].docs_kept);
    }
    assert_int_equal(kept, all.docs_kept);
    assert_int_equal(removed_near, all.removed[HLM_RM_DEDUP_NEAR]);
    assert_int_equal(removed_exact, all.removed[HLM_RM_DEDUP_EXACT]);
    assert_int_equal(lines_removed, all.lines_removed_dedup);
    hlm_buf_free(&a);
    hlm_buf_free(&b);
    hlm_pipeline_opts_free(&o);
}

/* A report sent as JSON bytes (between the ranks of a world) reads back as from a file, and
 * damaged bytes fail naming what they are. */
static void test_report_bytes(void **state)
{
    (void)state;
    hlm_pipeline_report r, back;
    hlm_error err;
    memset(&r, 0, sizeof r);
    r.parts = 2;
    r.docs_in = 12;
    r.docs_kept = 9;
    r.removed[HLM_RM_DEDUP_NEAR] = 3;
    r.examples_n[HLM_RM_DEDUP_NEAR] = 1;
    snprintf(r.examples[HLM_RM_DEDUP_NEAR][0].id, sizeof r.examples[0][0].id, "d07");
    r.near_dup_clusters = 2;
    r.stage[HLM_STAGE_DEDUP].docs_in = 9;
    r.stage[HLM_STAGE_DEDUP].cpu_s = 0.25;
    hlm_buf json = {0}, file = {0};
    assert_int_equal(hlm_report_to_json(&r, NULL, &json, &err), HLM_OK);
    assert_int_equal(hlm_report_write_json(&r, NULL, tmp_path("r.json"), &err), HLM_OK);
    read_file(tmp_path("r.json"), &file);
    assert_int_equal(json.len, file.len);
    assert_memory_equal(json.data, file.data, json.len);
    assert_int_equal(hlm_report_parse_json(&back, json.data, json.len, "rank 1's report", &err), HLM_OK);
    assert_int_equal(back.docs_kept, 9);
    assert_int_equal(back.removed[HLM_RM_DEDUP_NEAR], 3);
    assert_string_equal(back.examples[HLM_RM_DEDUP_NEAR][0].id, "d07");
    assert_int_equal(back.near_dup_clusters, 2);
    assert_true(back.stage[HLM_STAGE_DEDUP].cpu_s == 0.25);
    assert_int_equal(hlm_report_parse_json(&back, json.data, json.len / 2, "rank 1's report", &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "rank 1's report"));
    hlm_buf_free(&json);
    hlm_buf_free(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_part_as_one_rank),
        cmocka_unit_test(test_report_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
