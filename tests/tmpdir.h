/* A scratch folder per test program: cmocka group setup creates /tmp/hlm-test-XXXXXX, teardown
 * removes it. Include after <cmocka.h>. */
#ifndef HLM_TESTS_TMPDIR_H
#define HLM_TESTS_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hlm-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name; the two most recent results stay valid. */
static __attribute__((unused)) const char *tmp_path(const char *name)
{
    static char path[2][400];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static __attribute__((unused)) void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

#endif
