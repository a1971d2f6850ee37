/* Reference fixtures (tests/fixtures, or $HLM_FIXTURES): their paths, and safetensors files among
 * them. Include after <cmocka.h> and model/safetensors.h. */
#ifndef HLM_TESTS_FIXTURES_H
#define HLM_TESTS_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $HLM_FIXTURES/rel (malloc'd). */
static __attribute__((unused)) char *fixture_path(const char *rel)
{
    const char *dir = getenv("HLM_FIXTURES");
    if (!dir) dir = "tests/fixtures";
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

/* The fixture's safetensors file, opened; the test fails naming it when it cannot be. */
static __attribute__((unused)) hlm_st_file *open_st(const char *rel)
{
    char *path = fixture_path(rel);
    hlm_error err = {0};
    hlm_st_file *f = NULL;
    if (hlm_st_open(path, &f, &err) != HLM_OK) fail_msg("%s: %s", path, err.msg);
    free(path);
    return f;
}

#endif
