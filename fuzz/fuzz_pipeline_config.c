/* libFuzzer target: the data pipeline's JSON config and its report.json (both read from files:
 * the config from the user, reports from the parts of a `--part i/N` run).
 * Invariants checked:
 *  - any input either loads or fails with a non-empty message; never a crash, leak or undefined
 *    behaviour;
 *  - a loaded config has values in their documented ranges, and its filter overrides apply;
 *  - a report that reads back writes out and reads back to the same counts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/pipeline.h"
#include "fuzz_check.h"

static char path[64], path2[64];

static void write_input(const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f);
    if (len) CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/hlm-fuzz-config-%d.json", (int)getpid());
        snprintf(path2, sizeof path2, "/tmp/hlm-fuzz-report-%d.json", (int)getpid());
    }
    write_input(data, len);
    hlm_error err;
    static hlm_pipeline_opts o;
    hlm_pipeline_opts_default(&o);
    if (hlm_pipeline_config_load(&o, path, &err) == HLM_OK) {
        CHECK(o.min_lang_score >= 0 && o.min_lang_score <= 1);
        CHECK(o.max_invalid_fraction >= 0 && o.max_invalid_fraction <= 1);
        CHECK(o.minhash.bands >= 1 && o.minhash.bands <= 64 && o.minhash.rows >= 1 && o.minhash.rows <= 64);
        CHECK(o.n_keep_langs <= HLM_PIPE_MAX_LANGS && o.n_overrides <= HLM_PIPE_MAX_OVERRIDES);
        hlm_filter_params p;
        CHECK(hlm_pipeline_filter_params(&o, "ko", &p, &err) == HLM_OK);
    } else {
        CHECK(err.msg[0]);
    }
    hlm_pipeline_opts_free(&o);
    static hlm_pipeline_report r, back;
    if (hlm_report_read_json(&r, path, &err) == HLM_OK) {
        CHECK(hlm_report_write_json(&r, NULL, path2, &err) == HLM_OK);
        CHECK(hlm_report_read_json(&back, path2, &err) == HLM_OK);
        CHECK(back.docs_in == r.docs_in && back.docs_kept == r.docs_kept);
        for (int k = 0; k < HLM_RM_COUNT; k++) CHECK(back.removed[k] == r.removed[k]);
        hlm_buf s = {0};
        CHECK(hlm_report_summary(&r, &s) == HLM_OK);
        hlm_buf_free(&s);
        unlink(path2);
    } else {
        CHECK(err.msg[0]);
    }
    unlink(path);
    return 0;
}
