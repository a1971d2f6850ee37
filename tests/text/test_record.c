/* Document records: JSON escaping (checked against cJSON as an independent parser), the JSONL
 * writer (.jsonl and .jsonl.zst, atomic), sources over folders (order, doc numbers, parts) and
 * fields kept through a round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hyperlm/file.h"
#include "text/record.h"
#include "tmpdir.h"

static void put(const char *path, const char *s) { write_file(path, s, strlen(s)); }

static void test_escape_matches_cjson(void **state)
{
    (void)state;
    /* every control character, quotes, backslashes, Hangul, an emoji and invalid bytes */
    uint8_t in[300];
    size_t n = 0;
    for (int c = 0; c < 0x20; c++) in[n++] = (uint8_t)c;
    const char *rest = "\"\\/ 한국어 \xF0\x9F\x98\x80 \xC3\x28 \xFF end";
    memcpy(in + n, rest, strlen(rest));
    n += strlen(rest);
    hlm_buf out = {0};
    assert_int_equal(hlm_json_escape_append(&out, in, n), HLM_OK);
    assert_int_equal(hlm_buf_terminate(&out), HLM_OK);
    cJSON *v = cJSON_Parse((const char *)out.data);
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    /* cJSON stops at the U+0000 escape; compare the rest from byte 1 by re-escaping without it */
    cJSON_Delete(v);
    out.len = 0;
    assert_int_equal(hlm_json_escape_append(&out, in + 1, n - 1), HLM_OK);
    assert_int_equal(hlm_buf_terminate(&out), HLM_OK);
    v = cJSON_Parse((const char *)out.data);
    assert_non_null(v);
    const char *s = v->valuestring;
    for (int c = 1; c < 0x20; c++) assert_int_equal((uint8_t)s[c - 1], c);
    /* the invalid bytes became U+FFFD, the valid text is unchanged */
    assert_non_null(strstr(s, "\"\\/ 한국어 \xF0\x9F\x98\x80 \xEF\xBF\xBD( \xEF\xBF\xBD end"));
    cJSON_Delete(v);
    hlm_buf_free(&out);
}

static void write_and_read(const char *path)
{
    hlm_error err;
    hlm_record_writer *w;
    assert_int_equal(hlm_record_writer_open(&w, path, &err), HLM_OK);
    hlm_record r = {0};
    for (int i = 0; i < 2000; i++) {
        r.id.len = r.text.len = r.source.len = r.url.len = r.lang.len = r.extra.len = 0;
        hlm_buf_appendf(&r.id, "doc-%d", i);
        hlm_buf_appendf(&r.text, "문서 %d\n\"quoted\" line\ttab", i);
        hlm_buf_appendf(&r.source, "src");
        if (i % 2) hlm_buf_appendf(&r.url, "https://example.com/%d", i);
        hlm_buf_appendf(&r.lang, "ko");
        r.lang_score = 0.25;
        if (i % 3 == 0) hlm_buf_appendf(&r.extra, "\"meta\":{\"n\":%d}", i);
        assert_int_equal(hlm_record_write(w, &r, &err), HLM_OK);
    }
    /* nothing under the final name before commit */
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(hlm_record_writer_commit(w, &err), HLM_OK);

    hlm_source *s;
    hlm_source_opts so = {0};
    const char *in[1] = {path};
    assert_int_equal(hlm_source_open(&s, in, 1, &so, &err), HLM_OK);
    int more, i = 0;
    for (;;) {
        assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_OK);
        if (!more) break;
        char want[128];
        snprintf(want, sizeof want, "doc-%d", i);
        assert_string_equal((const char *)r.id.data, want);
        snprintf(want, sizeof want, "문서 %d\n\"quoted\" line\ttab", i);
        assert_string_equal((const char *)r.text.data, want);
        assert_string_equal((const char *)r.source.data, "src");
        assert_string_equal((const char *)r.lang.data, "ko");
        assert_true(r.lang_score == 0.25);
        if (i % 2) {
            snprintf(want, sizeof want, "https://example.com/%d", i);
            assert_string_equal((const char *)r.url.data, want);
        } else {
            assert_int_equal(r.url.len, 0);
        }
        if (i % 3 == 0) {
            snprintf(want, sizeof want, "\"meta\":{\"n\":%d}", i);
            assert_string_equal((const char *)r.extra.data, want);
        } else {
            assert_int_equal(r.extra.len, 0);
        }
        assert_int_equal(r.doc_number, HLM_DOC_NUMBER(0, i));
        i++;
    }
    assert_int_equal(i, 2000);
    hlm_source_close(s);
    hlm_record_free(&r);
}

static void test_writer_round_trip(void **state)
{
    write_and_read(tmp_path("docs.jsonl"));
    write_and_read(tmp_path("docs.jsonl.zst"));
}

static void test_writer_abort_leaves_nothing(void **state)
{
    const char *path = tmp_path("gone.jsonl");
    hlm_error err;
    hlm_record_writer *w;
    assert_int_equal(hlm_record_writer_open(&w, path, &err), HLM_OK);
    hlm_record_writer_abort(w);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(hlm_record_writer_open(&w, tmp_path("x.jsonl.gz"), &err), HLM_ERR_INVALID);
}

/* A folder of mixed inputs: sorted order, kinds by name, doc numbers and parts. */
static void test_source_folder_and_parts(void **state)
{
    char sub[1100];
    snprintf(sub, sizeof sub, "%s", tmp_path("in"));
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s", tmp_path("in/b"));
    mkdir(sub, 0777);
    put(tmp_path("in/a.jsonl"), "{\"text\":\"one\",\"id\":7}\n\n{\"text\":\"two\"}\n");
    put(tmp_path("in/b/c.txt"), "a whole file\nis one document\n");
    put(tmp_path("in/b/d.tsv"), "id\ttext\nx\tthree\ny\tfour\n");
    put(tmp_path("in/b/image.png"), "\x89PNG");
    put(tmp_path("in/e.html"), "<html><body><p>page text</p></body></html>");
    hlm_error err;
    const char *in[1] = {tmp_path("in")};
    const char *want_text[] = {"one", "two", "a whole file\nis one document\n", "three", "four", "page text"};
    const uint64_t want_num[] = {HLM_DOC_NUMBER(0, 0), HLM_DOC_NUMBER(0, 1), HLM_DOC_NUMBER(1, 0),
                                 HLM_DOC_NUMBER(2, 0), HLM_DOC_NUMBER(2, 1), HLM_DOC_NUMBER(3, 0)};
    hlm_record r = {0};
    /* all, then 4 parts (files split round-robin: 4 files >= 4 parts) and 5 parts (by ordinal) */
    for (unsigned parts = 1; parts <= 5; parts += (parts == 1 ? 3 : 1)) {
        int seen[6] = {0};
        for (unsigned part = 0; part < parts; part++) {
            hlm_source *s;
            hlm_source_opts so = {.part = part, .parts = parts};
            assert_int_equal(hlm_source_open(&s, in, 1, &so, &err), HLM_OK);
            assert_int_equal(hlm_source_files(s), 4);
            uint64_t last = 0;
            int more, first = 1;
            for (;;) {
                assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_OK);
                if (!more) break;
                int k = 0;
                while (k < 6 && want_num[k] != r.doc_number) k++;
                assert_true(k < 6);
                assert_string_equal((const char *)r.text.data, want_text[k]);
                assert_true(first || r.doc_number > last);
                first = 0;
                last = r.doc_number;
                seen[k]++;
                if (k == 0) assert_string_equal((const char *)r.id.data, "7");
                if (k == 5) assert_string_equal((const char *)r.id.data, "e.html");
            }
            hlm_source_close(s);
        }
        for (int k = 0; k < 6; k++) assert_int_equal(seen[k], 1); /* every document in exactly one part */
    }
    hlm_record_free(&r);
}

static void test_source_errors(void **state)
{
    hlm_error err;
    hlm_source *s;
    const char *missing[1] = {tmp_path("nope.jsonl")};
    assert_int_equal(hlm_source_open(&s, missing, 1, NULL, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "nope.jsonl"));
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", tmp_path("empty"));
    mkdir(dir, 0777);
    put(tmp_path("empty/x.png"), "png");
    const char *empty[1] = {dir};
    assert_int_equal(hlm_source_open(&s, empty, 1, NULL, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no document files"));
    put(tmp_path("bad.jsonl"), "{\"text\":\"ok\"}\n{\"text\":1}\n");
    const char *bad[1] = {tmp_path("bad.jsonl")};
    assert_int_equal(hlm_source_open(&s, bad, 1, NULL, &err), HLM_OK);
    hlm_record r = {0};
    int more;
    assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_OK);
    assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "bad.jsonl:2"));
    hlm_source_close(s);
    hlm_record_free(&r);
    const char *twice[2] = {bad[0], bad[0]};
    assert_int_equal(hlm_source_open(&s, twice, 2, NULL, &err), HLM_ERR_INVALID);
}


/* Legacy Korean charsets: an EUC-KR page (with a CP949-only syllable, 똠, as such pages often
 * have) named by its <meta>, and a WARC response whose HTTP header names it, come out as UTF-8;
 * bytes the charset cannot decode become U+FFFD. Reference bytes: Python's codecs ("cp949"). */
static void test_legacy_charsets(void **state)
{
    (void)state;
    /* "한국어 똠방각하" in CP949: 한 C7D1 국 B1B9 어 BEEE, 똠 8C63 방 B9E6 각 B0A2 하 C7CF */
    static const char page[] = "<html><head><meta charset=\"euc-kr\"><title>t</title></head><body><p>"
                               "\xC7\xD1\xB1\xB9\xBE\xEE \x8C\x63\xB9\xE6\xB0\xA2\xC7\xCF \xFF!</p></body></html>";
    put(tmp_path("euckr.html"), page);
    hlm_error err;
    hlm_source *s;
    const char *in[1] = {tmp_path("euckr.html")};
    assert_int_equal(hlm_source_open(&s, in, 1, NULL, &err), HLM_OK);
    hlm_record r = {0};
    int more;
    assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_OK);
    assert_int_equal(more, 1);
    assert_string_equal((const char *)r.text.data, "한국어 똠방각하 \xEF\xBF\xBD!");
    hlm_source_close(s);

    char warc[1024];
    static const char body[] = "<html><body><p>\xC7\xD1\xB1\xB9\xBE\xEE</p></body></html>";
    char http[512];
    int hn = snprintf(http, sizeof http,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=EUC-KR\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(body), body);
    int wn = snprintf(warc, sizeof warc,
                      "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:x>\r\nWARC-Target-URI: http://k.kr/\r\n"
                      "Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n",
                      hn, http);
    write_file(tmp_path("k.warc"), warc, (size_t)wn);
    in[0] = tmp_path("k.warc");
    assert_int_equal(hlm_source_open(&s, in, 1, NULL, &err), HLM_OK);
    assert_int_equal(hlm_source_next(s, &r, &more, &err), HLM_OK);
    assert_int_equal(more, 1);
    assert_string_equal((const char *)r.text.data, "한국어");
    assert_string_equal((const char *)r.url.data, "http://k.kr/");
    hlm_source_close(s);
    hlm_record_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_matches_cjson),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_abort_leaves_nothing),
        cmocka_unit_test(test_source_folder_and_parts),
        cmocka_unit_test(test_source_errors),
        cmocka_unit_test(test_legacy_charsets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
