/* GGUF container: files written by gguf-py's GGUFWriter (tests/fixtures/gguf/, made by
 * tools/gen_gguf_fixtures.py with gguf 0.19.0; *.json say what gguf-py's GGUFReader found in
 * them) are read back field by field, and rewritten with our writer, both by copying the entries
 * (hlm_gguf_add_kv) and by rebuilding them from the description with the typed adders, which
 * must give the same bytes. Then the typed getters' conversions and errors, the writer's
 * argument checks, a 50k-string vocabulary, and corrupt files: every prefix of a file, huge
 * counts, bad magic and versions, unknown types, misaligned or overlapping tensors, n_dims 5.
 * Each must fail with HLM_ERR_FORMAT and a message that names the file and the field. */
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

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "infer/gguf.h"

#include "tmpdir.h"

static const char *const fixture_names[] = {"types", "align64", "vocab", "v2", "empty"};
#define N_FIXTURES (sizeof fixture_names / sizeof *fixture_names)

static void fixture(char *buf, size_t cap, const char *name, const char *ext)
{
    const char *fx = getenv("HLM_FIXTURES");
    snprintf(buf, cap, "%s/gguf/%s.%s", fx ? fx : "tests/fixtures", name, ext);
}

static void read_all(const char *path, hlm_buf *out)
{
    hlm_error err;
    out->len = 0;
    if (hlm_file_read_all(path, out, &err)) fail_msg("%s", err.msg);
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* Hex text to bytes (malloc'd, *n bytes). */
static uint8_t *unhex(const char *s, size_t *n)
{
    size_t len = strlen(s);
    assert_int_equal(len % 2, 0);
    uint8_t *b = malloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; i++) b[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    *n = len / 2;
    return b;
}

static uint64_t json_u64(const cJSON *j) { return strtoull(cJSON_GetStringValue(j), NULL, 0); }
static int64_t json_i64(const cJSON *j) { return strtoll(cJSON_GetStringValue(j), NULL, 0); }

static int type_is_signed(hlm_gguf_type t)
{
    return t == HLM_GGUF_INT8 || t == HLM_GGUF_INT16 || t == HLM_GGUF_INT32 || t == HLM_GGUF_INT64;
}

/* A decoded value equals the description's (integers in decimal, floats as bit patterns, strings
 * as hex). */
static void check_value(hlm_gguf_value v, hlm_gguf_type t, const cJSON *want, const char *key)
{
    assert_int_equal(v.type, t);
    if (t == HLM_GGUF_FLOAT32) {
        float f = (float)v.f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (bits != (uint32_t)json_u64(want)) fail_msg("%s: float32 bits 0x%08x, expected %s", key, bits, want->valuestring);
    } else if (t == HLM_GGUF_FLOAT64) {
        uint64_t bits;
        memcpy(&bits, &v.f, 8);
        if (bits != json_u64(want)) fail_msg("%s: float64 bits 0x%016llx, expected %s", key, (unsigned long long)bits,
                                             want->valuestring);
    } else if (t == HLM_GGUF_STRING) {
        size_t n;
        uint8_t *s = unhex(want->valuestring, &n);
        assert_int_equal(v.s.len, n);
        if (n) assert_memory_equal(v.s.ptr, s, n);
        free(s);
    } else if (t == HLM_GGUF_BOOL) {
        assert_int_equal(v.b, json_u64(want));
    } else if (type_is_signed(t)) {
        if (v.i != json_i64(want)) fail_msg("%s: %lld, expected %s", key, (long long)v.i, want->valuestring);
    } else {
        if (v.u != json_u64(want)) fail_msg("%s: %llu, expected %s", key, (unsigned long long)v.u, want->valuestring);
    }
}

/* Rebuilds the file from its description with the typed adders. */
static void rebuild(hlm_gguf_writer *w, const cJSON *desc, uint8_t ***keep, size_t *n_keep)
{
    hlm_error err;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(desc, "metadata"))
    {
        const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
        hlm_gguf_type t = (hlm_gguf_type)cJSON_GetObjectItem(e, "type")->valueint;
        const cJSON *v = cJSON_GetObjectItem(e, "value");
        hlm_status st = HLM_OK;
        switch (t) {
        case HLM_GGUF_UINT8: st = hlm_gguf_add_u8(w, key, (uint8_t)json_u64(v), &err); break;
        case HLM_GGUF_INT8: st = hlm_gguf_add_i8(w, key, (int8_t)json_i64(v), &err); break;
        case HLM_GGUF_UINT16: st = hlm_gguf_add_u16(w, key, (uint16_t)json_u64(v), &err); break;
        case HLM_GGUF_INT16: st = hlm_gguf_add_i16(w, key, (int16_t)json_i64(v), &err); break;
        case HLM_GGUF_UINT32: st = hlm_gguf_add_u32(w, key, (uint32_t)json_u64(v), &err); break;
        case HLM_GGUF_INT32: st = hlm_gguf_add_i32(w, key, (int32_t)json_i64(v), &err); break;
        case HLM_GGUF_UINT64: st = hlm_gguf_add_u64(w, key, json_u64(v), &err); break;
        case HLM_GGUF_INT64: st = hlm_gguf_add_i64(w, key, json_i64(v), &err); break;
        case HLM_GGUF_BOOL: st = hlm_gguf_add_bool(w, key, (int)json_u64(v), &err); break;
        case HLM_GGUF_FLOAT32: {
            uint32_t bits = (uint32_t)json_u64(v);
            float f;
            memcpy(&f, &bits, 4);
            st = hlm_gguf_add_f32(w, key, f, &err);
            break;
        }
        case HLM_GGUF_FLOAT64: {
            uint64_t bits = json_u64(v);
            double d;
            memcpy(&d, &bits, 8);
            st = hlm_gguf_add_f64(w, key, d, &err);
            break;
        }
        case HLM_GGUF_STRING: {
            size_t n;
            uint8_t *s = unhex(v->valuestring, &n);
            st = hlm_gguf_add_strn(w, key, (const char *)s, n, &err);
            free(s);
            break;
        }
        case HLM_GGUF_ARRAY: {
            hlm_gguf_type et = (hlm_gguf_type)cJSON_GetObjectItem(e, "elem_type")->valueint;
            const cJSON *vals = cJSON_GetObjectItem(e, "values"), *x;
            size_t n = (size_t)cJSON_GetArraySize(vals), i = 0;
            if (et == HLM_GGUF_STRING) {
                char **strs = calloc(n + 1, sizeof *strs);
                size_t *lens = calloc(n + 1, sizeof *lens);
                cJSON_ArrayForEach(x, vals)
                {
                    strs[i] = (char *)unhex(x->valuestring, &lens[i]);
                    i++;
                }
                st = hlm_gguf_add_str_array(w, key, (const char *const *)strs, lens, n, &err);
                for (i = 0; i < n; i++) free(strs[i]);
                free(strs);
                free(lens);
            } else {
                uint8_t *items = calloc(n + 1, 8);
                cJSON_ArrayForEach(x, vals)
                {
                    uint64_t u = json_u64(x);
                    int64_t s = json_i64(x);
                    switch (et) {
                    case HLM_GGUF_UINT8: case HLM_GGUF_BOOL: items[i] = (uint8_t)u; break;
                    case HLM_GGUF_INT8: ((int8_t *)items)[i] = (int8_t)s; break;
                    case HLM_GGUF_UINT16: ((uint16_t *)items)[i] = (uint16_t)u; break;
                    case HLM_GGUF_INT16: ((int16_t *)items)[i] = (int16_t)s; break;
                    case HLM_GGUF_UINT32: case HLM_GGUF_FLOAT32: ((uint32_t *)items)[i] = (uint32_t)u; break;
                    case HLM_GGUF_INT32: ((int32_t *)items)[i] = (int32_t)s; break;
                    case HLM_GGUF_UINT64: case HLM_GGUF_FLOAT64: ((uint64_t *)items)[i] = u; break;
                    case HLM_GGUF_INT64: ((int64_t *)items)[i] = s; break;
                    default: fail_msg("%s: element type %d", key, et);
                    }
                    i++;
                }
                st = hlm_gguf_add_array(w, key, et, items, n, &err);
                free(items);
            }
            break;
        }
        }
        if (st) fail_msg("%s", err.msg);
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(desc, "tensors"))
    {
        const cJSON *dims = cJSON_GetObjectItem(e, "dims"), *d;
        uint64_t dv[4] = {0};
        uint32_t nd = 0;
        cJSON_ArrayForEach(d, dims) dv[nd++] = (uint64_t)d->valuedouble;
        size_t n;
        uint8_t *data = unhex(cJSON_GetObjectItem(e, "data")->valuestring, &n);
        *keep = realloc(*keep, (*n_keep + 1) * sizeof **keep);
        (*keep)[(*n_keep)++] = data; /* copy = 0: must live until the write */
        if (hlm_gguf_add_tensor(w, cJSON_GetObjectItem(e, "name")->valuestring,
                                (hlm_ggml_type)cJSON_GetObjectItem(e, "type")->valueint, nd, dv, data, n, 0, &err))
            fail_msg("%s", err.msg);
    }
}

static void check_fixture(const char *name)
{
    char path[512], json_path[512];
    fixture(path, sizeof path, name, "gguf");
    fixture(json_path, sizeof json_path, name, "json");
    hlm_buf text = {0}, raw = {0}, out = {0};
    read_all(json_path, &text);
    read_all(path, &raw);
    cJSON *desc = cJSON_Parse((const char *)text.data);
    assert_non_null(desc);
    hlm_error err;
    hlm_gguf_file *f;
    if (hlm_gguf_open(path, &f, &err)) fail_msg("%s", err.msg);

    assert_int_equal(hlm_gguf_version(f), cJSON_GetObjectItem(desc, "version")->valueint);
    assert_int_equal(hlm_gguf_alignment(f), cJSON_GetObjectItem(desc, "alignment")->valueint);
    assert_int_equal(hlm_gguf_data_offset(f), cJSON_GetObjectItem(desc, "data_offset")->valueint);
    assert_int_equal(hlm_gguf_file_size(f), raw.len);
    assert_string_equal(hlm_gguf_source(f), path);

    const cJSON *meta = cJSON_GetObjectItem(desc, "metadata"), *e;
    assert_int_equal(hlm_gguf_kv_count(f), cJSON_GetArraySize(meta));
    size_t i = 0;
    cJSON_ArrayForEach(e, meta)
    {
        const hlm_gguf_kv *kv = hlm_gguf_kv_at(f, i++);
        const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
        assert_string_equal(kv->key, key);
        assert_ptr_equal(hlm_gguf_find(f, key), kv);
        hlm_gguf_type t = (hlm_gguf_type)cJSON_GetObjectItem(e, "type")->valueint;
        assert_int_equal(kv->type, t);
        if (t == HLM_GGUF_ARRAY) {
            hlm_gguf_type et = (hlm_gguf_type)cJSON_GetObjectItem(e, "elem_type")->valueint;
            assert_int_equal(kv->elem_type, et);
            const cJSON *vals = cJSON_GetObjectItem(e, "values"), *x;
            assert_int_equal(kv->count, cJSON_GetArraySize(vals));
            uint64_t k = 0;
            cJSON_ArrayForEach(x, vals)
            {
                check_value(hlm_gguf_kv_elem(kv, k), et, x, key);
                if (et == HLM_GGUF_STRING) {
                    hlm_gguf_str s = hlm_gguf_arr_str(kv, k);
                    assert_ptr_equal(s.ptr, hlm_gguf_kv_elem(kv, k).s.ptr);
                }
                k++;
            }
            assert_int_equal(hlm_gguf_kv_elem(kv, k).type, HLM_GGUF_ARRAY); /* past the end */
            assert_null(hlm_gguf_arr_str(kv, k).ptr);
            const hlm_gguf_kv *arr;
            assert_int_equal(hlm_gguf_get_array(f, key, et, &arr, &err), HLM_OK);
            assert_ptr_equal(arr, kv);
        } else {
            check_value(hlm_gguf_kv_value(kv), t, cJSON_GetObjectItem(e, "value"), key);
        }
    }
    assert_null(hlm_gguf_kv_at(f, i));
    assert_null(hlm_gguf_find(f, "no.such.key"));

    const cJSON *tensors = cJSON_GetObjectItem(desc, "tensors");
    assert_int_equal(hlm_gguf_tensor_count(f), cJSON_GetArraySize(tensors));
    i = 0;
    cJSON_ArrayForEach(e, tensors)
    {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i++);
        assert_string_equal(t->name, cJSON_GetObjectItem(e, "name")->valuestring);
        assert_ptr_equal(hlm_gguf_find_tensor(f, t->name), t);
        assert_int_equal(t->type, cJSON_GetObjectItem(e, "type")->valueint);
        assert_string_equal(hlm_ggml_type_name(t->type), cJSON_GetObjectItem(e, "type_name")->valuestring);
        const cJSON *dims = cJSON_GetObjectItem(e, "dims"), *d;
        assert_int_equal(t->n_dims, cJSON_GetArraySize(dims));
        uint32_t k = 0;
        uint64_t n_elems = 1;
        cJSON_ArrayForEach(d, dims)
        {
            assert_int_equal(t->dims[k++], (uint64_t)d->valuedouble);
            n_elems *= (uint64_t)d->valuedouble;
        }
        for (; k < HLM_GGUF_MAX_DIMS; k++) assert_int_equal(t->dims[k], 1);
        assert_int_equal(t->n_elems, n_elems);
        assert_int_equal(t->offset, cJSON_GetObjectItem(e, "offset")->valueint);
        assert_int_equal(t->nbytes, cJSON_GetObjectItem(e, "nbytes")->valueint);
        assert_int_equal(hlm_ggml_tensor_bytes(t->type, t->n_dims, t->dims, NULL), t->nbytes);
        size_t n;
        uint8_t *want = unhex(cJSON_GetObjectItem(e, "data")->valuestring, &n);
        assert_int_equal(n, t->nbytes);
        assert_memory_equal(t->data, want, n);
        free(want);
    }
    assert_null(hlm_gguf_tensor_at(f, i));
    assert_null(hlm_gguf_find_tensor(f, "no.such.tensor"));

    /* our writer gives gguf-py's bytes: by copying the entries ... (we always write version 3) */
    uint8_t *expect = malloc(raw.len);
    memcpy(expect, raw.data, raw.len);
    expect[4] = 3;
    const char *copy_path = tmp_path("copy.gguf");
    hlm_gguf_writer *w;
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    for (i = 0; i < hlm_gguf_kv_count(f); i++)
        if (hlm_gguf_add_kv(w, hlm_gguf_kv_at(f, i), &err)) fail_msg("%s", err.msg);
    for (i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        if (hlm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->dims, t->data, t->nbytes, 1, &err))
            fail_msg("%s", err.msg);
    }
    if (hlm_gguf_write(w, copy_path, &err)) fail_msg("%s", err.msg);
    hlm_gguf_writer_free(w);
    read_all(copy_path, &out);
    assert_int_equal(out.len, raw.len);
    for (size_t b = 0; b < raw.len; b++)
        if (out.data[b] != expect[b]) fail_msg("%s: copy differs from gguf-py at byte %zu", name, b);

    /* ... and by rebuilding them from the description with the typed adders */
    uint8_t **keep = NULL;
    size_t n_keep = 0;
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    rebuild(w, desc, &keep, &n_keep);
    if (hlm_gguf_write(w, copy_path, &err)) fail_msg("%s", err.msg);
    hlm_gguf_writer_free(w);
    for (i = 0; i < n_keep; i++) free(keep[i]);
    free(keep);
    read_all(copy_path, &out);
    assert_int_equal(out.len, raw.len);
    for (size_t b = 0; b < raw.len; b++)
        if (out.data[b] != expect[b]) fail_msg("%s: rebuilt file differs from gguf-py at byte %zu", name, b);

    free(expect);
    hlm_gguf_close(f);
    cJSON_Delete(desc);
    hlm_buf_free(&text);
    hlm_buf_free(&raw);
    hlm_buf_free(&out);
}

static void test_fixtures(void **state)
{
    for (size_t i = 0; i < N_FIXTURES; i++) check_fixture(fixture_names[i]);
}

/* ---- typed getters ---- */

static void expect_msg(const hlm_error *err, const char *a, const char *b)
{
    if (!strstr(err->msg, a) || (b && !strstr(err->msg, b)))
        fail_msg("message \"%s\" should contain \"%s\" and \"%s\"", err->msg, a, b ? b : "");
}

static void test_getters(void **state)
{
    char path[512];
    fixture(path, sizeof path, "types", "gguf");
    hlm_gguf_file *f;
    hlm_error err;
    if (hlm_gguf_open(path, &f, &err)) fail_msg("%s", err.msg);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    int b;
    hlm_gguf_str s;
    assert_int_equal(hlm_gguf_get_u32(f, "test.u32", &u32, &err), HLM_OK);
    assert_int_equal(u32, 4294967295u);
    assert_int_equal(hlm_gguf_get_u32(f, "test.u8", &u32, &err), HLM_OK); /* widening */
    assert_int_equal(u32, 255);
    assert_int_equal(hlm_gguf_get_i32(f, "test.i8", &i32, &err), HLM_OK);
    assert_int_equal(i32, -128);
    assert_int_equal(hlm_gguf_get_u32(f, "test.small_u32", &u32, &err), HLM_OK);
    assert_int_equal(u32, 7);
    assert_int_equal(hlm_gguf_get_i32(f, "test.small_u32", &i32, &err), HLM_OK);
    assert_int_equal(i32, 7);
    assert_int_equal(hlm_gguf_get_i64(f, "test.i64", &i64, &err), HLM_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(hlm_gguf_get_u64(f, "test.u64", &u64, &err), HLM_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(hlm_gguf_get_u64(f, "test.u16", &u64, &err), HLM_OK);
    assert_int_equal(u64, 65535);
    /* out of range */
    assert_int_equal(hlm_gguf_get_i32(f, "test.u32", &i32, &err), HLM_ERR_FORMAT);
    expect_msg(&err, "'test.u32'", "4294967295 does not fit int32");
    assert_int_equal(hlm_gguf_get_u32(f, "test.negative_i32", &u32, &err), HLM_ERR_FORMAT);
    expect_msg(&err, "-5 does not fit uint32", path);
    assert_int_equal(hlm_gguf_get_u64(f, "test.i64", &u64, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_gguf_get_i64(f, "test.u64", &i64, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_gguf_get_u32(f, "test.u64", &u32, &err), HLM_ERR_FORMAT);
    /* wrong types, missing keys */
    assert_int_equal(hlm_gguf_get_u32(f, "test.string", &u32, &err), HLM_ERR_FORMAT);
    expect_msg(&err, "'test.string' is string, expected an integer", NULL);
    assert_int_equal(hlm_gguf_get_str(f, "test.u32", &s, &err), HLM_ERR_FORMAT);
    expect_msg(&err, "'test.u32' is uint32, expected string", NULL);
    assert_int_equal(hlm_gguf_get_u32(f, "llama.block_count", &u32, &err), HLM_ERR_FORMAT);
    expect_msg(&err, path, "'llama.block_count' is missing");
    assert_int_equal(hlm_gguf_get_f32(f, "test.u8", &f32, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_gguf_get_bool(f, "test.u8", &b, &err), HLM_ERR_FORMAT);
    /* floats, bools, strings */
    assert_int_equal(hlm_gguf_get_f32(f, "test.f32", &f32, &err), HLM_OK);
    assert_true(f32 == 3.1415927f);
    assert_int_equal(hlm_gguf_get_f32(f, "test.f64", &f32, &err), HLM_OK);
    assert_true(f32 == (float)(-1.0 / 3.0));
    assert_int_equal(hlm_gguf_get_bool(f, "test.bool_true", &b, &err), HLM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(hlm_gguf_get_bool(f, "test.bool_false", &b, &err), HLM_OK);
    assert_int_equal(b, 0);
    assert_int_equal(hlm_gguf_get_str(f, "general.architecture", &s, &err), HLM_OK);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "llama", 5);
    /* arrays */
    const hlm_gguf_kv *a;
    assert_int_equal(hlm_gguf_get_array(f, "test.arr_str", HLM_GGUF_STRING, &a, &err), HLM_OK);
    assert_int_equal(a->count, 4);
    assert_int_equal(hlm_gguf_arr_str(a, 1).len, 0);
    assert_memory_equal(hlm_gguf_arr_str(a, 2).ptr, "\xec\x95\x88\xeb\x85\x95", 6);
    assert_int_equal(hlm_gguf_get_array(f, "test.arr_i32", HLM_GGUF_FLOAT32, &a, &err), HLM_ERR_FORMAT);
    assert_null(a);
    expect_msg(&err, "'test.arr_i32' is an array of int32, expected an array of float32", NULL);
    assert_int_equal(hlm_gguf_get_array(f, "test.u8", HLM_GGUF_UINT8, &a, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_gguf_get_array(f, "test.arr_f32", HLM_GGUF_FLOAT32, &a, &err), HLM_OK);
    assert_true(hlm_gguf_kv_elem(a, 1).f == -1.25);
    assert_int_equal(hlm_gguf_kv_value(a).type, HLM_GGUF_ARRAY);
    assert_null(hlm_gguf_arr_str(a, 0).ptr); /* not an array of strings */
    hlm_gguf_close(f);

    /* type tables */
    uint32_t be, bb;
    assert_true(hlm_ggml_type_block(HLM_GGML_Q4_0, &be, &bb) && be == 32 && bb == 18);
    assert_true(hlm_ggml_type_block(HLM_GGML_Q6_K, &be, &bb) && be == 256 && bb == 210);
    assert_true(hlm_ggml_type_block(HLM_GGML_BF16, &be, &bb) && be == 1 && bb == 2);
    assert_false(hlm_ggml_type_block((hlm_ggml_type)4, &be, &bb));
    assert_false(hlm_ggml_type_block((hlm_ggml_type)1000, &be, &bb));
    assert_null(hlm_ggml_type_name((hlm_ggml_type)31));
    assert_string_equal(hlm_ggml_type_name(HLM_GGML_Q8_0), "Q8_0");
    assert_string_equal(hlm_gguf_type_name(HLM_GGUF_FLOAT64), "float64");
    assert_string_equal(hlm_gguf_type_name((hlm_gguf_type)13), "?");
    const char *why;
    assert_int_equal(hlm_ggml_tensor_bytes(HLM_GGML_Q4_1, 2, (uint64_t[]){64, 3}, &why), 3 * 2 * 20);
    assert_null(why);
    assert_int_equal(hlm_ggml_tensor_bytes(HLM_GGML_Q4_1, 2, (uint64_t[]){48, 3}, &why), 0);
    assert_non_null(strstr(why, "block size"));
    assert_int_equal(hlm_ggml_tensor_bytes(HLM_GGML_F32, 2, (uint64_t[]){1ull << 32, 1ull << 31}, &why), 0);
    assert_non_null(strstr(why, "overflows"));
    assert_int_equal(hlm_ggml_tensor_bytes(HLM_GGML_F32, 0, NULL, &why), 4); /* a scalar */
}

/* ---- the writer ---- */

static void test_writer(void **state)
{
    hlm_gguf_writer *w;
    hlm_error err;
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    /* a vocabulary of 50000 strings, scores, types, and edge cases */
    enum { N = 50000 };
    char **tok = malloc(N * sizeof *tok);
    float *scores = malloc(N * sizeof *scores);
    for (int i = 0; i < N; i++) {
        tok[i] = malloc(24);
        snprintf(tok[i], 24, i % 7 ? "\xc4\xa0tok%d" : "%d", i);
        scores[i] = -(float)i / 3;
    }
    assert_int_equal(hlm_gguf_add_str(w, "general.architecture", "llama", &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, N, &err),
                     HLM_OK);
    assert_int_equal(hlm_gguf_add_array(w, "tokenizer.ggml.scores", HLM_GGUF_FLOAT32, scores, N, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_array(w, "empty", HLM_GGUF_INT32, NULL, 0, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_str_array(w, "empty_strs", NULL, NULL, 0, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_str(w, "empty_str", "", &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_strn(w, "nul_inside", "a\0b", 3, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_array(w, "bools", HLM_GGUF_BOOL, (uint8_t[]){0, 7, 1}, 3, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_bool(w, "flag", 42, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_u32(w, "general.alignment", 16, &err), HLM_OK);
    float scalar = 2.5f;
    uint8_t q[2 * 34];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7);
    assert_int_equal(hlm_gguf_add_tensor(w, "scalar", HLM_GGML_F32, 0, NULL, &scalar, 4, 1, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_tensor(w, "q", HLM_GGML_Q8_0, 2, (uint64_t[]){32, 2}, q, sizeof q, 0, &err), HLM_OK);

    /* argument errors leave the writer as it was */
    assert_int_equal(hlm_gguf_add_u8(w, "flag", 1, &err), HLM_ERR_INVALID);
    expect_msg(&err, "'flag' added twice", NULL);
    assert_int_equal(hlm_gguf_add_u64(w, "general.alignment", 64, &err), HLM_ERR_INVALID);
    hlm_gguf_writer *w2;
    assert_int_equal(hlm_gguf_writer_new(&w2, &err), HLM_OK);
    assert_int_equal(hlm_gguf_add_u64(w2, "general.alignment", 64, &err), HLM_ERR_INVALID);
    expect_msg(&err, "general.alignment", "power of two");
    assert_int_equal(hlm_gguf_add_u32(w2, "general.alignment", 48, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_gguf_add_u32(w2, "general.alignment", 0, &err), HLM_ERR_INVALID);
    hlm_gguf_writer_free(w2);
    assert_int_equal(hlm_gguf_add_array(w, "strs", HLM_GGUF_STRING, tok, 1, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_gguf_add_array(w, "bad", (hlm_gguf_type)13, scores, 1, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_gguf_add_tensor(w, "q", HLM_GGML_Q8_0, 2, (uint64_t[]){32, 2}, q, sizeof q, 0, &err),
                     HLM_ERR_INVALID);
    expect_msg(&err, "'q' added twice", NULL);
    assert_int_equal(hlm_gguf_add_tensor(w, "x", HLM_GGML_Q8_0, 2, (uint64_t[]){32, 2}, q, 10, 0, &err),
                     HLM_ERR_INVALID);
    expect_msg(&err, "'x'", "10 bytes given");
    assert_int_equal(hlm_gguf_add_tensor(w, "x", HLM_GGML_Q8_0, 1, (uint64_t[]){33}, q, 34, 0, &err),
                     HLM_ERR_INVALID);
    expect_msg(&err, "'x'", "not a multiple of the Q8_0 block size 32");
    assert_int_equal(hlm_gguf_add_tensor(w, "x", HLM_GGML_F32, 5, (uint64_t[]){1, 1, 1, 1, 1}, q, 4, 0, &err),
                     HLM_ERR_INVALID);
    assert_int_equal(hlm_gguf_add_tensor(w, "x", HLM_GGML_F32, 2, (uint64_t[]){1, 0}, q, 0, 0, &err),
                     HLM_ERR_INVALID);
    expect_msg(&err, "dims[1] is 0", NULL);
    assert_int_equal(hlm_gguf_add_tensor(w, "x", (hlm_ggml_type)5, 1, (uint64_t[]){1}, q, 4, 0, &err),
                     HLM_ERR_INVALID);
    expect_msg(&err, "unknown ggml type 5", NULL);
    assert_int_equal(hlm_gguf_add_tensor(w, "x", HLM_GGML_F32, 1, (uint64_t[]){1}, NULL, 4, 0, &err),
                     HLM_ERR_INVALID);

    const char *path = tmp_path("w.gguf");
    assert_int_equal(hlm_gguf_write(w, path, &err), HLM_OK);
    /* the copied tensor is independent of the caller's memory */
    scalar = -1;
    hlm_gguf_file *f;
    if (hlm_gguf_open(path, &f, &err)) fail_msg("%s", err.msg);
    assert_int_equal(hlm_gguf_alignment(f), 16);
    assert_int_equal(hlm_gguf_data_offset(f) % 16, 0);
    assert_int_equal(hlm_gguf_kv_count(f), 10);
    const hlm_gguf_kv *a;
    assert_int_equal(hlm_gguf_get_array(f, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &a, &err), HLM_OK);
    assert_int_equal(a->count, N);
    for (int i = 0; i < N; i++) {
        hlm_gguf_str s = hlm_gguf_arr_str(a, (uint64_t)i);
        assert_int_equal(s.len, strlen(tok[i]));
        assert_memory_equal(s.ptr, tok[i], s.len);
    }
    assert_int_equal(hlm_gguf_get_array(f, "tokenizer.ggml.scores", HLM_GGUF_FLOAT32, &a, &err), HLM_OK);
    for (int i = 0; i < N; i++) assert_true(hlm_gguf_kv_elem(a, (uint64_t)i).f == scores[i]);
    assert_int_equal(hlm_gguf_get_array(f, "empty", HLM_GGUF_INT32, &a, &err), HLM_OK);
    assert_int_equal(a->count, 0);
    assert_int_equal(hlm_gguf_get_array(f, "empty_strs", HLM_GGUF_STRING, &a, &err), HLM_OK);
    assert_int_equal(a->count, 0);
    assert_int_equal(hlm_gguf_get_array(f, "bools", HLM_GGUF_BOOL, &a, &err), HLM_OK);
    assert_true(a->raw[0] == 0 && a->raw[1] == 1 && a->raw[2] == 1);
    hlm_gguf_str s;
    assert_int_equal(hlm_gguf_get_str(f, "nul_inside", &s, &err), HLM_OK);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);
    assert_int_equal(hlm_gguf_get_str(f, "empty_str", &s, &err), HLM_OK);
    assert_int_equal(s.len, 0);
    int b;
    assert_int_equal(hlm_gguf_get_bool(f, "flag", &b, &err), HLM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(hlm_gguf_tensor_count(f), 2);
    const hlm_gguf_tensor *t = hlm_gguf_find_tensor(f, "scalar");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elems, 1);
    assert_true(*(const float *)t->data == 2.5f);
    t = hlm_gguf_find_tensor(f, "q");
    assert_int_equal(t->offset, 16); /* 4 bytes padded to 16 */
    assert_int_equal(((uintptr_t)t->data - (uintptr_t)hlm_gguf_tensor_at(f, 0)->data) % 16, 0);
    assert_memory_equal(t->data, q, sizeof q);
    hlm_gguf_close(f);

    /* an unwritable path: an I/O error and nothing left behind */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/no-such-dir/x.gguf", tmpdir);
    assert_int_equal(hlm_gguf_write(w, bad, &err), HLM_ERR_IO);
    struct stat sb;
    assert_int_not_equal(stat(bad, &sb), 0);
    assert_int_equal(hlm_gguf_open(bad, &f, &err), HLM_ERR_IO);
    assert_null(f);
    hlm_gguf_writer_free(w);
    for (int i = 0; i < N; i++) free(tok[i]);
    free(tok);
    free(scores);
}

/* ---- corrupt files ---- */

typedef struct fb {
    uint8_t b[8192];
    size_t n;
} fb;

static void fb_put(fb *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof f->b);
    memcpy(f->b + f->n, p, n);
    f->n += n;
}
static void fb_u32(fb *f, uint32_t v) { fb_put(f, &v, 4); }
static void fb_u64(fb *f, uint64_t v) { fb_put(f, &v, 8); }
static void fb_str(fb *f, const char *s)
{
    fb_u64(f, strlen(s));
    fb_put(f, s, strlen(s));
}
static void fb_header(fb *f, uint64_t n_tensors, uint64_t n_kv)
{
    f->n = 0;
    fb_put(f, "GGUF", 4);
    fb_u32(f, 3);
    fb_u64(f, n_tensors);
    fb_u64(f, n_kv);
}
static void fb_pad(fb *f, size_t align)
{
    while (f->n % align) f->b[f->n++] = 0;
}

typedef struct tspec {
    const char *name;
    uint32_t n_dims;
    uint64_t dims[5];
    uint32_t type;
    uint64_t offset;
} tspec;

/* A file with one metadata entry and the given tensors, then data_bytes of data. */
static void fb_tensors(fb *f, const tspec *t, int n, size_t data_bytes)
{
    fb_header(f, (uint64_t)n, 1);
    fb_str(f, "general.architecture");
    fb_u32(f, HLM_GGUF_STRING);
    fb_str(f, "llama");
    for (int i = 0; i < n; i++) {
        fb_str(f, t[i].name);
        fb_u32(f, t[i].n_dims);
        for (uint32_t d = 0; d < t[i].n_dims; d++) fb_u64(f, t[i].dims[d]);
        fb_u32(f, t[i].type);
        fb_u64(f, t[i].offset);
    }
    fb_pad(f, 32);
    assert_true(f->n + data_bytes <= sizeof f->b);
    memset(f->b + f->n, 0x5a, data_bytes);
    f->n += data_bytes;
}

static void expect_bad(const fb *f, const char *want1, const char *want2)
{
    hlm_gguf_file *g = (hlm_gguf_file *)1;
    hlm_error err;
    hlm_status st = hlm_gguf_open_mem(f->b, f->n, "bad.gguf", &g, &err);
    if (st != HLM_ERR_FORMAT) fail_msg("expected a format error naming \"%s\", got status %d", want1, st);
    assert_null(g);
    if (strncmp(err.msg, "bad.gguf: ", 10) || !strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        fail_msg("message \"%s\" should name \"%s\" and \"%s\"", err.msg, want1, want2 ? want2 : "");
}

static void expect_ok(const fb *f)
{
    hlm_gguf_file *g;
    hlm_error err;
    if (hlm_gguf_open_mem(f->b, f->n, "ok.gguf", &g, &err)) fail_msg("%s", err.msg);
    hlm_gguf_close(g);
}

static void test_corrupt_header(void **state)
{
    fb f;
    fb_tensors(&f, NULL, 0, 0);
    expect_ok(&f);
    f.b[0] = 'g';
    expect_bad(&f, "bad magic 67 47 55 46", "\"GGUF\"");
    f.b[0] = 'G';
    f.b[4] = 1;
    expect_bad(&f, "version 1 is not supported", "expected 2 or 3");
    f.b[4] = 4;
    expect_bad(&f, "version 4", NULL);
    f.b[4] = 0;
    f.b[7] = 3;
    expect_bad(&f, "big-endian", NULL);
    f.b[7] = 0;
    f.b[4] = 2;
    expect_ok(&f);
    /* counts that the file cannot hold */
    fb_header(&f, 0, 1ull << 60);
    fb_str(&f, "k");
    expect_bad(&f, "metadata_kv_count 1152921504606846976", "can hold");
    fb_header(&f, UINT64_MAX, 0);
    expect_bad(&f, "tensor_count 18446744073709551615", NULL);
    fb_header(&f, 2, 0);
    fb_put(&f, "0123456789012345678901234567890123456789", 40);
    expect_bad(&f, "tensor_count 2", NULL);
    /* short files */
    f.n = 0;
    expect_bad(&f, "too short", NULL);
    fb_header(&f, 0, 0);
    f.n = 10;
    expect_bad(&f, "header: tensor_count", "past the end");
}

static void test_corrupt_metadata(void **state)
{
    fb f;
    /* a key longer than the file */
    fb_header(&f, 0, 1);
    fb_u64(&f, 1000);
    fb_put(&f, "abcdefgh", 8);
    expect_bad(&f, "metadata entry 0", "key of 1000 bytes");
    fb_header(&f, 0, 1);
    fb_u64(&f, UINT64_MAX);
    fb_put(&f, "abcdefgh", 8);
    expect_bad(&f, "metadata entry 0", "past the end");
    /* a NUL inside a key */
    fb_header(&f, 0, 1);
    fb_u64(&f, 3);
    fb_put(&f, "a\0b", 3);
    fb_u32(&f, HLM_GGUF_UINT8);
    fb_put(&f, "\1", 1);
    expect_bad(&f, "metadata entry 0", "NUL");
    /* unknown value type */
    fb_header(&f, 0, 1);
    fb_str(&f, "k.type");
    fb_u32(&f, 13);
    fb_u64(&f, 0);
    expect_bad(&f, "metadata 'k.type'", "unknown value type 13");
    /* a value cut off */
    fb_header(&f, 0, 1);
    fb_str(&f, "k.u64");
    fb_u32(&f, HLM_GGUF_UINT64);
    fb_u32(&f, 0);
    fb_put(&f, "\0", 1);
    expect_bad(&f, "metadata 'k.u64'", "value at byte");
    /* a bool that is neither 0 nor 1, alone and in an array */
    fb_header(&f, 0, 1);
    fb_str(&f, "k.bool");
    fb_u32(&f, HLM_GGUF_BOOL);
    fb_put(&f, "\2", 1);
    expect_bad(&f, "metadata 'k.bool'", "bool value is 2");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.bools");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_BOOL);
    fb_u64(&f, 3);
    fb_put(&f, "\1\0\xff", 3);
    expect_bad(&f, "metadata 'k.bools'", "element 2 is 255");
    /* arrays: nested, unknown element type, counts too large */
    fb_header(&f, 0, 1);
    fb_str(&f, "k.nested");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u64(&f, 0);
    expect_bad(&f, "metadata 'k.nested'", "arrays of arrays");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.arr");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, 99);
    fb_u64(&f, 0);
    expect_bad(&f, "metadata 'k.arr'", "unknown array element type 99");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.arr");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_UINT32);
    fb_u64(&f, 1ull << 62);
    fb_u64(&f, 0);
    expect_bad(&f, "metadata 'k.arr'", "array of 4611686018427387904 uint32");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.arr");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_UINT32);
    fb_u64(&f, 3);
    fb_u64(&f, 0);
    expect_bad(&f, "metadata 'k.arr'", "array of 3 uint32");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.strs");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_STRING);
    fb_u64(&f, UINT64_MAX);
    fb_str(&f, "one");
    expect_bad(&f, "metadata 'k.strs'", "that many strings");
    fb_header(&f, 0, 1);
    fb_str(&f, "k.strs");
    fb_u32(&f, HLM_GGUF_ARRAY);
    fb_u32(&f, HLM_GGUF_STRING);
    fb_u64(&f, 2);
    fb_str(&f, "one");
    fb_u64(&f, 50);
    fb_put(&f, "two", 3);
    expect_bad(&f, "metadata 'k.strs'", "element 1 of 50 bytes");
    /* duplicate keys */
    fb_header(&f, 0, 3);
    for (int i = 0; i < 3; i++) {
        fb_str(&f, i == 1 ? "b" : "a");
        fb_u32(&f, HLM_GGUF_UINT8);
        fb_put(&f, "\0", 1);
    }
    expect_bad(&f, "metadata key 'a' appears twice", NULL);
    /* general.alignment: wrong type, not a power of two, zero */
    uint32_t bad_align[] = {48, 0, 3};
    for (int i = 0; i < 3; i++) {
        fb_header(&f, 0, 1);
        fb_str(&f, "general.alignment");
        fb_u32(&f, HLM_GGUF_UINT32);
        fb_u32(&f, bad_align[i]);
        expect_bad(&f, "'general.alignment'", "not a power of two");
    }
    fb_header(&f, 0, 1);
    fb_str(&f, "general.alignment");
    fb_u32(&f, HLM_GGUF_UINT64);
    fb_u64(&f, 64);
    expect_bad(&f, "'general.alignment'", "type uint64, expected uint32");
}

static void test_corrupt_tensors(void **state)
{
    fb f;
    tspec ok[2] = {{"a", 2, {4, 2}, HLM_GGML_F32, 0}, {"b", 1, {32}, HLM_GGML_Q4_0, 32}};
    fb_tensors(&f, ok, 2, 32 + 18);
    expect_ok(&f);
    /* the last tensor's bytes cut off by one */
    f.n--;
    expect_bad(&f, "tensor 'b': data [", "past the end of the file");
    char want[128];
    hlm_gguf_file *g;
    hlm_error err;
    f.n++;
    assert_int_equal(hlm_gguf_open_mem(f.b, f.n, "x", &g, &err), HLM_OK);
    snprintf(want, sizeof want, "data [%llu, %llu) past the end of the file (%zu bytes)",
             (unsigned long long)(hlm_gguf_data_offset(g) + 32), (unsigned long long)(hlm_gguf_data_offset(g) + 50),
             f.n - 1);
    hlm_gguf_close(g);
    f.n--;
    expect_bad(&f, want, NULL);

    tspec t = {"blk.0.attn_q.weight", 5, {1, 1, 1, 1, 1}, HLM_GGML_F32, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 'blk.0.attn_q.weight'", "n_dims 5 (at most 4)");
    t = (tspec){"t", 2, {4, 0}, HLM_GGML_F32, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't'", "dims[1] is 0");
    t = (tspec){"t", 1, {4}, 4, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't'", "unknown ggml type 4");
    t = (tspec){"t", 1, {4}, 0xffffffffu, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't'", "unknown ggml type 4294967295");
    t = (tspec){"t", 2, {33, 1}, HLM_GGML_Q4_0, 0};
    fb_tensors(&f, &t, 1, 64);
    expect_bad(&f, "tensor 't'", "dims[0] 33 is not a multiple of the Q4_0 block size 32");
    t = (tspec){"t", 3, {1ull << 32, 1ull << 32, 2}, HLM_GGML_F32, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't'", "overflows");
    t = (tspec){"t", 2, {1ull << 31, 1ull << 31}, HLM_GGML_F32, 0}; /* 2^62 elements, 2^64 bytes */
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't'", "overflows");
    t = (tspec){"t", 1, {1ull << 40}, HLM_GGML_F32, 0};
    fb_tensors(&f, &t, 1, 32);
    expect_bad(&f, "tensor 't': data [", "past the end");
    t = (tspec){"t", 1, {4}, HLM_GGML_F32, 8};
    fb_tensors(&f, &t, 1, 64);
    expect_bad(&f, "tensor 't'", "offset 8 is not a multiple of the alignment 32");
    t = (tspec){"t", 1, {4}, HLM_GGML_F32, UINT64_MAX - 31};
    fb_tensors(&f, &t, 1, 64);
    expect_bad(&f, "tensor 't'", "past the end of the file");
    t = (tspec){"t", 1, {4}, HLM_GGML_F32, 1ull << 40};
    fb_tensors(&f, &t, 1, 64);
    expect_bad(&f, "tensor 't': data [", "past the end of the file");
    /* overlaps, either order, and an identical range */
    tspec two[2] = {{"a", 1, {16}, HLM_GGML_F32, 0}, {"b", 1, {4}, HLM_GGML_F32, 32}};
    fb_tensors(&f, two, 2, 96);
    expect_bad(&f, "tensors 'a' and 'b' overlap", NULL);
    tspec rev[2] = {{"b", 1, {4}, HLM_GGML_F32, 32}, {"a", 1, {16}, HLM_GGML_F32, 0}};
    fb_tensors(&f, rev, 2, 96);
    expect_bad(&f, "tensors 'a' and 'b' overlap", NULL);
    tspec same[2] = {{"a", 1, {4}, HLM_GGML_F32, 0}, {"b", 1, {4}, HLM_GGML_F32, 0}};
    fb_tensors(&f, same, 2, 32);
    expect_bad(&f, "overlap", NULL);
    /* duplicate names (disjoint data) */
    tspec dup[2] = {{"w", 1, {4}, HLM_GGML_F32, 0}, {"w", 1, {4}, HLM_GGML_F32, 32}};
    fb_tensors(&f, dup, 2, 64);
    expect_bad(&f, "tensor 'w' appears twice", NULL);
    /* a name past the end, a NUL inside a name, a cut-off tensor info */
    fb_header(&f, 1, 0);
    fb_u64(&f, 1ull << 50);
    fb_put(&f, "0123456789012345", 16);
    expect_bad(&f, "tensor info 0", "name of 1125899906842624 bytes");
    fb_header(&f, 1, 0);
    fb_u64(&f, 3);
    fb_put(&f, "x\0y", 3);
    fb_u32(&f, 1);
    fb_u64(&f, 4);
    fb_u32(&f, 0);
    fb_u64(&f, 0);
    expect_bad(&f, "tensor info 0", "NUL");
    t = (tspec){"cut", 2, {4, 4}, HLM_GGML_F32, 0};
    fb_tensors(&f, &t, 1, 0);
    f.n = 24 + 8 + 20 + 4 + 8 + 5 + 8 + 3 + 4 + 8 + 4; /* through dims[0] and half of dims[1] */
    expect_bad(&f, "tensor 'cut'", "dims at byte");
}

/* Every prefix of a valid file fails cleanly until the last tensor's bytes are all there. */
static void truncate_all(const char *name)
{
    char path[512];
    fixture(path, sizeof path, name, "gguf");
    hlm_buf raw = {0};
    read_all(path, &raw);
    hlm_gguf_file *f;
    hlm_error err;
    if (hlm_gguf_open_mem(raw.data, raw.len, name, &f, &err)) fail_msg("%s", err.msg);
    size_t need = 0; /* the end of the last tensor's bytes */
    for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        size_t end = (size_t)((const uint8_t *)t->data - raw.data) + t->nbytes;
        if (end > need) need = end;
    }
    int n_tensors = (int)hlm_gguf_tensor_count(f);
    hlm_gguf_close(f);
    for (size_t len = 0; len <= raw.len; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* a buffer of exactly len bytes: ASan sees any overread */
        memcpy(copy, raw.data, len);
        hlm_status st = hlm_gguf_open_mem(copy, len, "cut.gguf", &f, &err);
        if (n_tensors ? len >= need : st == HLM_OK) {
            if (st) fail_msg("%s cut to %zu bytes: %s", name, len, err.msg);
            hlm_gguf_close(f);
        } else {
            if (st != HLM_ERR_FORMAT) fail_msg("%s cut to %zu bytes: status %d", name, len, st);
            assert_null(f);
            if (strncmp(err.msg, "cut.gguf: ", 10) || (!strstr(err.msg, "past the end") && !strstr(err.msg, "too short") &&
                                                       !strstr(err.msg, "can hold") && !strstr(err.msg, "needs more") &&
                                                       !strstr(err.msg, "cannot fit")))
                fail_msg("%s cut to %zu bytes: unexpected message \"%s\"", name, len, err.msg);
        }
        free(copy);
    }
    hlm_buf_free(&raw);
}

static void test_truncated(void **state)
{
    truncate_all("types");
    truncate_all("align64");
    truncate_all("vocab");
    truncate_all("empty");
}

/* Flipping bits anywhere in a small file never crashes (the fuzz target does this at scale). */
static void test_bit_flips(void **state)
{
    char path[512];
    fixture(path, sizeof path, "types", "gguf");
    hlm_buf raw = {0};
    read_all(path, &raw);
    size_t header_end = 1248; /* the data section: flips there change no structure */
    for (size_t i = 0; i < header_end && i < raw.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *copy = malloc(raw.len);
            memcpy(copy, raw.data, raw.len);
            copy[i] ^= (uint8_t)(1u << bit);
            hlm_gguf_file *f;
            hlm_error err;
            hlm_status st = hlm_gguf_open_mem(copy, raw.len, "flip.gguf", &f, &err);
            if (st) {
                assert_int_equal(st, HLM_ERR_FORMAT);
                assert_null(f);
                assert_int_equal(strncmp(err.msg, "flip.gguf: ", 11), 0);
            } else {
                hlm_gguf_close(f);
            }
            free(copy);
        }
    hlm_buf_free(&raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer),          cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_corrupt_metadata), cmocka_unit_test(test_corrupt_tensors),
        cmocka_unit_test(test_truncated),       cmocka_unit_test(test_bit_flips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
