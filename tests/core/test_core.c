/* Core: buffers, errors, atomic files, the decompressing reader, parallel_for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <dirent.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "hyperlm/thread.h"

#include "tmpdir.h"

static void test_buf_and_error(void **state)
{
    hlm_buf b = {0};
    for (int i = 0; i < 1000; i++) assert_int_equal(hlm_buf_appendf(&b, "%d,", i), HLM_OK);
    assert_int_equal(b.len, 3890);
    assert_memory_equal(b.data + b.len - 4, "999,", 4);
    hlm_buf_free(&b);
    hlm_ids v = {0};
    for (uint32_t i = 0; i < 100000; i++) assert_int_equal(hlm_ids_push(&v, i * 3), HLM_OK);
    assert_int_equal(v.data[99999], 299997);
    hlm_ids_free(&v);

    hlm_error err;
    assert_int_equal(hlm_errorf(&err, HLM_ERR_FORMAT, "%s: field '%s': expected %s", "a.json", "vocab", "object"),
                     HLM_ERR_FORMAT);
    hlm_error_prefix(&err, "loading %s: ", "tok");
    assert_string_equal(err.msg, "loading tok: a.json: field 'vocab': expected object");
    assert_int_equal(hlm_errorf(NULL, HLM_ERR_IO, "x"), HLM_ERR_IO); /* NULL err is allowed */
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    char path[300];
    snprintf(path, sizeof path, "%s/out.txt", tmpdir);
    hlm_error err;
    assert_int_equal(hlm_file_write_atomic(path, "old", 3, &err), HLM_OK);
    /* An aborted write leaves the old file and no temporary behind. */
    hlm_atomic_file f;
    assert_int_equal(hlm_atomic_open(&f, path, &err), HLM_OK);
    fputs("half of the new", f.fp);
    hlm_atomic_abort(&f);
    hlm_buf b = {0};
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_OK);
    assert_string_equal((char *)b.data, "old");
    assert_int_equal(count_entries(tmpdir), 1);
    b.len = 0;
    assert_int_equal(hlm_file_write_atomic(path, "new!", 4, &err), HLM_OK);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_OK);
    assert_string_equal((char *)b.data, "new!");
    hlm_buf_free(&b);
    /* A folder that does not exist: an error naming the path. */
    assert_int_equal(hlm_file_write_atomic("/nonexistent-dir/x", "a", 1, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x"));
}

static void test_reader_compressed(void **state)
{
    /* 3 MB of varied text so that several read calls and buffer refills happen. */
    size_t n = 3u << 20;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++) text[i] = (char)('a' + (i * 2654435761u >> 13) % 26);
    hlm_error err;
    char path[300];
    hlm_buf b = {0};

    size_t zcap = ZSTD_compressBound(n);
    void *z = malloc(zcap);
    size_t zn = ZSTD_compress(z, zcap, text, n, 3);
    snprintf(path, sizeof path, "%s/t.zst", tmpdir);
    write_file(path, z, zn);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, text, n);
    b.len = 0;
    write_file(path, z, zn / 2); /* truncated */
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "t.zst"));
    b.len = 0;

    uLongf gcap = compressBound(n) + 64;
    unsigned char *g = malloc(gcap);
    z_stream zs = {0};
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)text;
    zs.avail_in = (uInt)n;
    zs.next_out = g;
    zs.avail_out = (uInt)gcap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gn = zs.total_out;
    deflateEnd(&zs);
    snprintf(path, sizeof path, "%s/t.gz", tmpdir);
    write_file(path, g, gn);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, text, n);
    b.len = 0;
    g[gn / 2] ^= 0x55; /* corrupt: gzip's CRC or the deflate stream must catch it */
    write_file(path, g, gn);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_ERR_FORMAT);
    b.len = 0;
    write_file(path, g, gn / 3);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_ERR_FORMAT);

    snprintf(path, sizeof path, "%s/missing.txt", tmpdir);
    assert_int_equal(hlm_file_read_all(path, &b, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.txt"));
    assert_int_equal(hlm_file_read_all(tmpdir, &b, &err), HLM_ERR_IO);
    hlm_buf_free(&b);
    free(text);
    free(z);
    free(g);
}

static void test_mmap(void **state)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m.bin", tmpdir);
    write_file(path, "hello", 5);
    hlm_mmap m;
    hlm_error err;
    assert_int_equal(hlm_mmap_open(&m, path, &err), HLM_OK);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "hello", 5);
    hlm_mmap_close(&m);
    write_file(path, "", 0);
    assert_int_equal(hlm_mmap_open(&m, path, &err), HLM_OK);
    assert_int_equal(m.len, 0);
    hlm_mmap_close(&m);
}

typedef struct {
    atomic_int hits[1000];
    atomic_int max_thread;
} pf_ctx;

static void pf_task(void *p, size_t task, int thread)
{
    pf_ctx *c = p;
    atomic_fetch_add(&c->hits[task], 1);
    int m = atomic_load(&c->max_thread);
    while (thread > m && !atomic_compare_exchange_weak(&c->max_thread, &m, thread)) {
    }
}

static void test_parallel_for(void **state)
{
    for (int threads = 1; threads <= 4; threads++) {
        pf_ctx *c = calloc(1, sizeof *c);
        assert_int_equal(hlm_parallel_for(1000, threads, pf_task, c, NULL), HLM_OK);
        for (int i = 0; i < 1000; i++) assert_int_equal(atomic_load(&c->hits[i]), 1);
        assert_true(atomic_load(&c->max_thread) < threads);
        free(c);
    }
    assert_int_equal(hlm_parallel_for(0, 4, pf_task, NULL, NULL), HLM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_and_error),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_reader_compressed),
        cmocka_unit_test(test_mmap),
        cmocka_unit_test(test_parallel_for),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
