/* Token shards: round trips for both widths, the exact header bytes, every corruption of the
 * header or body (HLM_ERR_FORMAT naming the file and the field), and atomic writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "data/shard.h"

#include "tmpdir.h"

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(*len ? *len : 1);
    assert_int_equal(fread(d, 1, *len, f), *len);
    fclose(f);
    return d;
}


static size_t files_in_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes docs of pseudo-random tokens < vocab; returns all tokens written (EOTs included). */
static uint32_t *write_shard(const char *path, uint32_t vocab, uint32_t eot, size_t n_docs, size_t *n_out)
{
    hlm_shard_writer *w;
    hlm_error err;
    assert_int_equal(hlm_shard_writer_open(path, 0, vocab, eot, &w, &err), HLM_OK);
    size_t cap = 1 << 20, n = 0;
    uint32_t *all = malloc(cap * sizeof *all), doc[700];
    uint64_t x = 12345;
    for (size_t d = 0; d < n_docs; d++) {
        size_t len = (d * 37) % 700;
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            doc[i] = (uint32_t)((x >> 33) % vocab);
            if (i == 0 && d == 1) doc[i] = vocab - 1; /* the largest id occurs */
        }
        assert_int_equal(hlm_shard_writer_append_doc(w, doc, len, &err), HLM_OK);
        memcpy(all + n, doc, len * sizeof *doc);
        n += len;
        all[n++] = eot;
        assert_int_equal(hlm_shard_writer_n_tokens(w), n);
    }
    assert_int_equal(hlm_shard_writer_n_docs(w), n_docs);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    *n_out = n;
    return all;
}

static void round_trip(uint32_t vocab, uint32_t expect_width)
{
    const char *path = tmp_path("rt.tok");
    size_t n;
    uint32_t eot = vocab - 2;
    uint32_t *all = write_shard(path, vocab, eot, 50, &n);
    hlm_shard *s;
    hlm_error err;
    assert_int_equal(hlm_shard_open(path, 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_version(s), 1);
    assert_int_equal(hlm_shard_token_bytes(s), expect_width);
    assert_int_equal(hlm_shard_n_tokens(s), n);
    assert_int_equal(hlm_shard_n_docs(s), 50);
    assert_int_equal(hlm_shard_vocab_size(s), vocab);
    assert_int_equal(hlm_shard_eot_id(s), eot);
    for (size_t i = 0; i < n; i++) assert_int_equal(hlm_shard_token(s, i), all[i]);
    int32_t *i32 = malloc(n * sizeof *i32);
    uint32_t *u32 = malloc(n * sizeof *u32);
    hlm_shard_copy_i32(s, 5, n - 5, i32);
    hlm_shard_copy_u32(s, 5, n - 5, u32);
    for (size_t i = 5; i < n; i++) {
        assert_int_equal(i32[i - 5], (int32_t)all[i]);
        assert_int_equal(u32[i - 5], all[i]);
    }
    hlm_shard_close(s);

    /* the header bytes, read independently of the reader */
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_int_equal(len, 64 + n * expect_width);
    assert_memory_equal(b, "HLMSHARD", 8);
    assert_int_equal(le32(b + 8), 1);
    assert_int_equal(le32(b + 12), expect_width);
    assert_int_equal(le64(b + 16), n);
    assert_int_equal(le64(b + 24), 50);
    assert_int_equal(le32(b + 32), vocab);
    assert_int_equal(le32(b + 36), eot);
    assert_int_equal(le64(b + 40), XXH64(b + 64, len - 64, 0));
    for (int i = 48; i < 64; i++) assert_int_equal(b[i], 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(expect_width == 2 ? (uint32_t)(b[64 + 2 * i] | b[65 + 2 * i] << 8) : le32(b + 64 + 4 * i),
                         all[i]);
    free(b);
    free(i32);
    free(u32);
    free(all);
}

static void test_round_trip_u16(void **state)
{
    round_trip(50257, 2);
    round_trip(65536, 2); /* the largest vocabulary that fits two bytes */
}

static void test_round_trip_u32(void **state)
{
    round_trip(65537, 4);
    round_trip(200019, 4);
}

static void test_forced_width_and_empty(void **state)
{
    hlm_shard_writer *w;
    hlm_shard *s;
    hlm_error err;
    const char *path = tmp_path("wide.tok");
    assert_int_equal(hlm_shard_writer_open(path, 4, 300, 0, &w, &err), HLM_OK);
    uint32_t t[3] = {299, 1, 2};
    assert_int_equal(hlm_shard_writer_append(w, t, 3, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    assert_int_equal(hlm_shard_open(path, 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_token_bytes(s), 4);
    assert_int_equal(hlm_shard_n_docs(s), 0);
    assert_int_equal(hlm_shard_token(s, 0), 299);
    hlm_shard_close(s);
    /* an empty shard is valid */
    assert_int_equal(hlm_shard_writer_open(path, 0, 300, 0, &w, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    assert_int_equal(hlm_shard_open(path, 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_n_tokens(s), 0);
    hlm_shard_close(s);
    /* bad writer arguments */
    assert_int_equal(hlm_shard_writer_open(path, 2, 70000, 0, &w, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_shard_writer_open(path, 3, 300, 0, &w, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_shard_writer_open(path, 0, 300, 300, &w, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_shard_writer_open(path, 0, 0, 0, &w, &err), HLM_ERR_INVALID);
}

static void test_writer_rejects_out_of_range(void **state)
{
    hlm_shard_writer *w;
    hlm_error err;
    const char *path = tmp_path("range.tok");
    assert_int_equal(hlm_shard_writer_open(path, 0, 100, 99, &w, &err), HLM_OK);
    uint32_t good[2] = {1, 2}, bad[3] = {3, 100, 4};
    assert_int_equal(hlm_shard_writer_append(w, good, 2, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_append(w, bad, 3, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "range.tok"));
    assert_non_null(strstr(err.msg, "100"));
    /* nothing of the failed call was written */
    assert_int_equal(hlm_shard_writer_n_tokens(w), 2);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    hlm_shard *s;
    assert_int_equal(hlm_shard_open(path, 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_n_tokens(s), 2);
    hlm_shard_close(s);
}

/* A valid shard in memory: 2-byte tokens, vocab 1000, eot 999, 3 docs. */
static uint8_t *valid_shard(size_t *len)
{
    const char *path = tmp_path("valid.tok");
    hlm_shard_writer *w;
    hlm_error err;
    assert_int_equal(hlm_shard_writer_open(path, 0, 1000, 999, &w, &err), HLM_OK);
    uint32_t d[5] = {10, 20, 30, 40, 998};
    for (int i = 0; i < 3; i++) assert_int_equal(hlm_shard_writer_append_doc(w, d, 5 - (size_t)i, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    return read_file(path, len);
}

static void refresh_checksum(uint8_t *b, size_t len) { put64(b + 40, XXH64(b + 64, len - 64, 0)); }

/* Expects b to fail as a file (and from memory) with HLM_ERR_FORMAT, naming the file and `field`. */
static void expect_corrupt(const uint8_t *b, size_t len, int verify, const char *field)
{
    const char *path = tmp_path("corrupt.tok");
    write_file(path, b, len);
    hlm_shard *s = (hlm_shard *)1;
    hlm_error err;
    assert_int_equal(hlm_shard_open(path, verify, &s, &err), HLM_ERR_FORMAT);
    assert_null(s);
    if (!strstr(err.msg, path) || !strstr(err.msg, field))
        fail_msg("message '%s' lacks '%s' or '%s'", err.msg, path, field);
    assert_int_equal(hlm_shard_open_mem(b, len, "mem.tok", verify, &s, &err), HLM_ERR_FORMAT);
    if (!strstr(err.msg, "mem.tok") || !strstr(err.msg, field)) fail_msg("message '%s' lacks '%s'", err.msg, field);
}

static void test_corruptions(void **state)
{
    size_t len;
    uint8_t *good = valid_shard(&len);
    uint8_t *b = malloc(len + 8);
    hlm_shard *s;
    hlm_error err;
    assert_int_equal(hlm_shard_open_mem(good, len, "good", 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_n_tokens(s), 15);
    hlm_shard_close(s);

#define RESET() memcpy(b, good, len)
    RESET(); b[0] = 'X';
    expect_corrupt(b, len, 0, "magic");
    RESET(); put32(b + 8, 2);
    expect_corrupt(b, len, 0, "version");
    RESET(); put32(b + 12, 3);
    expect_corrupt(b, len, 0, "token_bytes");
    RESET(); put32(b + 12, 4); /* the width changes the expected size */
    expect_corrupt(b, len, 0, "file size");
    RESET(); put32(b + 32, 0);
    expect_corrupt(b, len, 0, "vocab_size");
    RESET(); put32(b + 36, 1000);
    expect_corrupt(b, len, 0, "eot_id");
    RESET(); put64(b + 24, 16);
    expect_corrupt(b, len, 0, "n_docs");
    RESET(); put64(b + 16, 14);
    expect_corrupt(b, len, 0, "file size");
    RESET(); put64(b + 16, UINT64_MAX / 2);
    expect_corrupt(b, len, 0, "n_tokens");
    RESET();
    expect_corrupt(b, len - 1, 0, "file size"); /* truncated body */
    expect_corrupt(b, 63, 0, "truncated header");
    expect_corrupt(b, 0, 0, "truncated header");
    RESET(); b[len] = 0; b[len + 1] = 0;
    expect_corrupt(b, len + 2, 0, "file size"); /* trailing bytes */
    RESET(); b[64 + 3] ^= 1;
    expect_corrupt(b, len, 1, "checksum");
    RESET(); put32(b + 40, 0);
    expect_corrupt(b, len, 1, "checksum");
    /* a token >= vocab_size with a matching checksum */
    RESET(); b[64 + 2 * 7] = 0xe8; b[64 + 2 * 7 + 1] = 0x03; /* token 7 := 1000 */
    refresh_checksum(b, len);
    expect_corrupt(b, len, 1, "token 7");
    expect_corrupt(b, len, 1, "vocab_size 1000");
    /* without verification those two open, and hlm_shard_verify reports them */
    assert_int_equal(hlm_shard_open_mem(b, len, "late", 0, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_verify(s, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "late"));
    hlm_shard_close(s);
    /* reserved bytes are ignored in version 1 */
    RESET(); b[50] = 7;
    assert_int_equal(hlm_shard_open_mem(b, len, "reserved", 1, &s, &err), HLM_OK);
    hlm_shard_close(s);
#undef RESET
    /* not a file */
    assert_int_equal(hlm_shard_open(tmp_path("missing.tok"), 1, &s, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.tok"));
    assert_int_equal(hlm_shard_file_has_magic(tmp_path("valid.tok")), 1);
    assert_int_equal(hlm_shard_file_has_magic(tmp_path("missing.tok")), 0);
    assert_int_equal(hlm_shard_file_has_magic(tmpdir), 0);
    free(b);
    free(good);
}

static void test_atomic(void **state)
{
    const char *path = tmp_path("atomic.tok");
    hlm_shard_writer *w;
    hlm_error err;
    size_t before = files_in_tmpdir();
    assert_int_equal(hlm_shard_writer_open(path, 0, 100, 0, &w, &err), HLM_OK);
    uint32_t t[4] = {1, 2, 3, 4};
    assert_int_equal(hlm_shard_writer_append_doc(w, t, 4, &err), HLM_OK);
    /* while writing, only the temporary file exists */
    assert_int_equal(files_in_tmpdir(), before + 1);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    hlm_shard_writer_abort(w);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_equal(files_in_tmpdir(), before);
    hlm_shard_writer_abort(NULL);

    /* an aborted rewrite leaves the old shard as it was */
    size_t n;
    free(write_shard(path, 100, 0, 3, &n));
    size_t len0, len1;
    uint8_t *old = read_file(path, &len0);
    assert_int_equal(hlm_shard_writer_open(path, 0, 100, 0, &w, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_append_doc(w, t, 4, &err), HLM_OK);
    hlm_shard_writer_abort(w);
    uint8_t *now = read_file(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(old, now, len0);
    assert_int_equal(files_in_tmpdir(), before + 1);
    free(old);
    free(now);

    /* a folder that does not exist: an error naming the path, no file */
    assert_int_equal(hlm_shard_writer_open(tmp_path("no/such/dir.tok"), 0, 100, 0, &w, &err), HLM_ERR_IO);
    assert_null(w);
    assert_non_null(strstr(err.msg, "no/such/dir.tok"));
}

/* Large enough to cross the writer's 1 MiB buffer several times. */
static void test_large(void **state)
{
    const char *path = tmp_path("large.tok");
    hlm_shard_writer *w;
    hlm_error err;
    assert_int_equal(hlm_shard_writer_open(path, 0, 70000, 1, &w, &err), HLM_OK);
    size_t n = 3u << 20;
    uint32_t *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = (uint32_t)((i * 2654435761u) % 70000);
    for (size_t i = 0; i < n; i += 100000)
        assert_int_equal(hlm_shard_writer_append(w, t + i, n - i < 100000 ? n - i : 100000, &err), HLM_OK);
    assert_int_equal(hlm_shard_writer_commit(w, &err), HLM_OK);
    hlm_shard *s;
    assert_int_equal(hlm_shard_open(path, 1, &s, &err), HLM_OK);
    assert_int_equal(hlm_shard_n_tokens(s), n);
    for (size_t i = 0; i < n; i += 997) assert_int_equal(hlm_shard_token(s, i), t[i]);
    assert_int_equal(hlm_shard_token(s, n - 1), t[n - 1]);
    hlm_shard_close(s);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_u16),
        cmocka_unit_test(test_round_trip_u32),
        cmocka_unit_test(test_forced_width_and_empty),
        cmocka_unit_test(test_writer_rejects_out_of_range),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
