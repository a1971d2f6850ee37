/* safetensors: write/read round trips, f16/bf16/f64 -> f32 conversion, a file written by PyPI
 * `safetensors` (tests/fixtures/model/st_reference.*, made by tools/gen_safetensors_fixtures.py:
 * expected f32 values are numpy's conversions, compared bit for bit: both are exact for f16 and
 * bf16 and round to nearest for f64), and corrupt files, each of which must fail with
 * HLM_ERR_FORMAT and a message naming the file and the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "model/safetensors.h"

#include "tmpdir.h"

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
    float f32[6] = {1, -2, 3.5f, 0, 1e-20f, -0.0f};
    uint16_t f16[3] = {0x3C00, 0xC000, 0x0001}; /* 1, -2, 2^-24 */
    uint16_t bf16[2] = {0x3F80, 0x4049};        /* 1, 3.140625 */
    uint8_t u8[5] = {1, 2, 3, 4, 250};          /* odd length: the tensors after it are misaligned */
    double f64[2] = {1.0 / 3, -1e300};
    int64_t i64 = -123456789012345;
    int32_t i32[4] = {1, -1, 2147483647, 0};
    uint8_t flags[3] = {1, 0, 1};
    hlm_st_tensor in[] = {
        {"u8.odd", HLM_DT_U8, 1, {5}, u8, sizeof u8},
        {"w.f32", HLM_DT_F32, 2, {2, 3}, f32, sizeof f32},
        {"w.f16", HLM_DT_F16, 1, {3}, f16, sizeof f16},
        {"w.bf16", HLM_DT_BF16, 2, {1, 2}, bf16, sizeof bf16},
        {"w.f64", HLM_DT_F64, 1, {2}, f64, sizeof f64},
        {"scalar.i64", HLM_DT_I64, 0, {0}, &i64, sizeof i64},
        {"i32", HLM_DT_I32, 3, {2, 1, 2}, i32, sizeof i32},
        {"bool", HLM_DT_BOOL, 1, {3}, flags, sizeof flags},
        {"empty", HLM_DT_F32, 2, {0, 7}, NULL, 0},
    };
    int n = (int)(sizeof in / sizeof *in);
    const char *keys[] = {"format", "step"}, *values[] = {"pt", "1200 \xe2\x9c\x93"};
    char path[300];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    hlm_error err;
    assert_int_equal(hlm_st_write(path, in, n, keys, values, 2, &err), HLM_OK);

    /* layout as Hugging Face writes it */
    hlm_buf raw = {0};
    assert_int_equal(hlm_file_read_all(path, &raw, &err), HLM_OK);
    uint64_t hlen;
    memcpy(&hlen, raw.data, 8);
    assert_int_equal(hlen % 8, 0);
    assert_memory_equal(raw.data + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30);
    assert_true(raw.data[8 + hlen - 1] == '}' || raw.data[8 + hlen - 1] == ' ');
    size_t total = 0;
    for (int i = 0; i < n; i++) total += in[i].nbytes;
    assert_int_equal(raw.len, 8 + hlen + total); /* packed, no gaps */
    assert_non_null(strstr((char *)raw.data + 8, "\"w.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[5,29]}"));
    hlm_buf_free(&raw);

    hlm_st_file *f;
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_OK);
    assert_int_equal(hlm_st_count(f), n);
    for (int i = 0; i < n; i++) {
        const hlm_st_tensor *t = hlm_st_get(f, i);
        assert_string_equal(t->name, in[i].name); /* header order is the given order */
        assert_int_equal(t->dtype, in[i].dtype);
        assert_int_equal(t->ndim, in[i].ndim);
        for (int d = 0; d < t->ndim; d++) assert_int_equal(t->shape[d], in[i].shape[d]);
        assert_int_equal(t->nbytes, in[i].nbytes);
        if (t->nbytes) assert_memory_equal(t->data, in[i].data, t->nbytes);
        assert_ptr_equal(hlm_st_find(f, in[i].name), t);
    }
    assert_null(hlm_st_get(f, n));
    assert_null(hlm_st_get(f, -1));
    assert_null(hlm_st_find(f, "w.f33"));
    assert_string_equal(hlm_st_metadata(f, "format"), "pt");
    assert_string_equal(hlm_st_metadata(f, "step"), "1200 \xe2\x9c\x93");
    assert_null(hlm_st_metadata(f, "missing"));

    float out[6];
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s12[2] = {1, 2}, s2[1] = {2}, s07[2] = {0, 7};
    assert_int_equal(hlm_st_read_f32(f, "w.f32", 2, s23, out, &err), HLM_OK);
    for (int i = 0; i < 6; i++) assert_int_equal(bits_of(out[i]), bits_of(f32[i]));
    assert_int_equal(hlm_st_read_f32(f, "w.f16", 1, s3, out, &err), HLM_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == ldexpf(1, -24));
    assert_int_equal(hlm_st_read_f32(f, "w.bf16", 2, s12, out, &err), HLM_OK);
    assert_true(out[0] == 1.0f && out[1] == 3.140625f);
    assert_int_equal(hlm_st_read_f32(f, "w.f64", 1, s2, out, &err), HLM_OK);
    assert_true(out[0] == (float)(1.0 / 3) && isinf(out[1]) && out[1] < 0);
    assert_int_equal(hlm_st_read_f32(f, "empty", 2, s07, out, &err), HLM_OK);

    /* errors name the file, the tensor and what differs */
    assert_int_equal(hlm_st_read_f32(f, "w.f32", 2, (int64_t[]){3, 2}, out, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "'w.f32'"));
    assert_non_null(strstr(err.msg, "expected shape [3, 2], found [2, 3]"));
    assert_int_equal(hlm_st_read_f32(f, "w.f32", 1, s23, out, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_st_read_f32(f, "i32", 3, (int64_t[]){2, 1, 2}, out, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "I32"));
    assert_int_equal(hlm_st_read_f32(f, "nope", 1, s2, out, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "'nope'"));
    hlm_st_close(f);

    /* without metadata there is no __metadata__ key */
    assert_int_equal(hlm_st_write(path, in + 1, 1, NULL, NULL, 0, &err), HLM_OK);
    assert_int_equal(hlm_file_read_all(path, &raw, &err), HLM_OK);
    assert_null(strstr((char *)raw.data + 8, "__metadata__"));
    assert_memory_equal(raw.data + 8, "{\"w.f32\":", 9);
    hlm_buf_free(&raw);
    /* no tensors at all is a valid file */
    assert_int_equal(hlm_st_write(path, NULL, 0, NULL, NULL, 0, &err), HLM_OK);
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_OK);
    assert_int_equal(hlm_st_count(f), 0);
    assert_null(hlm_st_find(f, "x"));
    hlm_st_close(f);
}

static void test_write_errors(void **state)
{
    float x[4] = {0};
    char path[300], bad_dir[300];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    snprintf(bad_dir, sizeof bad_dir, "%s/no-such-dir/x.safetensors", tmpdir);
    hlm_error err;
    hlm_st_tensor t = {"x", HLM_DT_F32, 1, {3}, x, sizeof x}; /* 16 bytes for 3 floats */
    assert_int_equal(hlm_st_write(path, &t, 1, NULL, NULL, 0, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'x'"));
    hlm_st_tensor two[2] = {{"x", HLM_DT_F32, 1, {4}, x, sizeof x}, {"x", HLM_DT_F32, 1, {4}, x, sizeof x}};
    assert_int_equal(hlm_st_write(path, two, 2, NULL, NULL, 0, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "twice"));
    const char *k[2] = {"a", "a"}, *v[2] = {"1", "2"};
    assert_int_equal(hlm_st_write(path, two, 1, k, v, 2, &err), HLM_ERR_INVALID);
    two[0].name = "__metadata__";
    assert_int_equal(hlm_st_write(path, two, 1, NULL, NULL, 0, &err), HLM_ERR_INVALID);
    two[0].name = "x";
    assert_int_equal(hlm_st_write(bad_dir, two, 1, NULL, NULL, 0, &err), HLM_ERR_IO);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0); /* nothing written */

    hlm_st_file *f;
    assert_int_equal(hlm_st_open(bad_dir, &f, &err), HLM_ERR_IO);
    assert_null(f);
    assert_int_equal(hlm_file_write_atomic(path, "", 0, &err), HLM_OK);
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
}

/* ---- conversions ---- */

static void test_f16_bf16_values(void **state)
{
    static const struct {
        uint16_t h;
        float f;
    } f16[] = {
        {0x0000, 0.0f},       {0x3C00, 1.0f},          {0xC000, -2.0f},  {0x3555, 0.333251953125f},
        {0x7BFF, 65504.0f},   {0x0400, 6.103515625e-05f}, {0x03FF, 6.097555160522461e-05f},
        {0x0001, 5.960464477539063e-08f}, {0x8001, -5.960464477539063e-08f}, {0x7C00, INFINITY},
        {0xFC00, -INFINITY},
    };
    int n = (int)(sizeof f16 / sizeof *f16);
    uint16_t h[16], b[4] = {0x3F80, 0xBF80, 0x7F80, 0x0001};
    for (int i = 0; i < n; i++) h[i] = f16[i].h;
    h[n] = 0x7E00;     /* quiet NaN */
    h[n + 1] = 0x8000; /* -0 */
    hlm_st_tensor t[2] = {{"h", HLM_DT_F16, 1, {n + 2}, h, 2 * (size_t)(n + 2)}, {"b", HLM_DT_BF16, 1, {4}, b, 8}};
    char path[300];
    snprintf(path, sizeof path, "%s/conv.safetensors", tmpdir);
    hlm_error err;
    assert_int_equal(hlm_st_write(path, t, 2, NULL, NULL, 0, &err), HLM_OK);
    hlm_st_file *f;
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_OK);
    float out[16];
    assert_int_equal(hlm_st_read_f32(f, "h", 1, (int64_t[]){n + 2}, out, &err), HLM_OK);
    for (int i = 0; i < n; i++)
        if (bits_of(out[i]) != bits_of(f16[i].f)) fail_msg("f16 0x%04x: got %.9g, expected %.9g", f16[i].h, out[i], f16[i].f);
    assert_int_equal(bits_of(out[n]), 0x7FC00000u);
    assert_int_equal(bits_of(out[n + 1]), 0x80000000u);
    assert_int_equal(hlm_st_read_f32(f, "b", 1, (int64_t[]){4}, out, &err), HLM_OK);
    assert_true(out[0] == 1.0f && out[1] == -1.0f && isinf(out[2]) && bits_of(out[3]) == 0x00010000u);
    hlm_st_close(f);

    /* all 65536 f16 values: monotonic, symmetric, NaNs stay NaN, and each equals its definition */
    uint16_t all[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    hlm_st_tensor a = {"all", HLM_DT_F16, 1, {65536}, all, sizeof all};
    assert_int_equal(hlm_st_write(path, &a, 1, NULL, NULL, 0, &err), HLM_OK);
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_OK);
    float *v = malloc(65536 * sizeof *v);
    assert_int_equal(hlm_st_read_f32(f, "all", 1, (int64_t[]){65536}, v, &err), HLM_OK);
    for (int i = 1; i < 0x7C00; i++) assert_true(v[i] > v[i - 1] && v[i] == -v[i | 0x8000]);
    for (int i = 0x7C01; i < 0x8000; i++) assert_true(isnan(v[i]) && isnan(v[i | 0x8000]));
    /* value = mantissa * 2^(exp - 25) with the implicit bit, checked against ldexp */
    for (int i = 0x0400; i < 0x7C00; i++) assert_true(v[i] == ldexpf((float)(0x400 | (i & 0x3FF)), (i >> 10) - 25));
    for (int i = 0; i < 0x0400; i++) assert_true(v[i] == ldexpf((float)i, -24));
    free(v);
    hlm_st_close(f);
}

/* ---- a file written by PyPI safetensors ---- */

static void fixture(char *buf, size_t cap, const char *name)
{
    const char *fx = getenv("HLM_FIXTURES");
    snprintf(buf, cap, "%s/model/%s", fx ? fx : "tests/fixtures", name);
}

static void test_reference_file(void **state)
{
    char path[512], json_path[512];
    fixture(path, sizeof path, "st_reference.safetensors");
    fixture(json_path, sizeof json_path, "st_reference.json");
    hlm_buf text = {0};
    hlm_error err;
    if (hlm_file_read_all(json_path, &text, &err)) fail_msg("%s", err.msg);
    cJSON *want = cJSON_Parse((const char *)text.data);
    assert_non_null(want);
    hlm_st_file *f;
    if (hlm_st_open(path, &f, &err)) fail_msg("%s", err.msg);

    const cJSON *m, *e;
    int n_meta = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(want, "metadata"))
    {
        const char *v = hlm_st_metadata(f, m->string);
        assert_non_null(v);
        assert_string_equal(v, m->valuestring);
        n_meta++;
    }
    assert_int_equal(n_meta, 3);
    const cJSON *tensors = cJSON_GetObjectItem(want, "tensors");
    assert_int_equal(hlm_st_count(f), cJSON_GetArraySize(tensors));
    int i = 0, n_checked = 0;
    cJSON_ArrayForEach(e, tensors)
    {
        const hlm_st_tensor *t = hlm_st_get(f, i++);
        assert_string_equal(t->name, cJSON_GetObjectItem(e, "name")->valuestring);
        assert_string_equal(hlm_dtype_name(t->dtype), cJSON_GetObjectItem(e, "dtype")->valuestring);
        const cJSON *shape = cJSON_GetObjectItem(e, "shape"), *d;
        assert_int_equal(t->ndim, cJSON_GetArraySize(shape));
        int64_t s[8];
        size_t numel = 1;
        int k = 0;
        cJSON_ArrayForEach(d, shape)
        {
            s[k] = (int64_t)d->valuedouble;
            assert_int_equal(t->shape[k], s[k]);
            numel *= (size_t)s[k++];
        }
        assert_int_equal(t->nbytes, numel * hlm_dtype_size(t->dtype));
        const cJSON *bits = cJSON_GetObjectItem(e, "f32_bits"), *ints = cJSON_GetObjectItem(e, "ints");
        if (bits) {
            float *out = malloc((numel + 1) * sizeof *out);
            if (hlm_st_read_f32(f, t->name, t->ndim, s, out, &err)) fail_msg("%s", err.msg);
            size_t j = 0;
            cJSON_ArrayForEach(d, bits)
            {
                uint32_t expect = (uint32_t)d->valuedouble;
                if (bits_of(out[j]) != expect)
                    fail_msg("%s[%zu]: bits 0x%08x, expected 0x%08x", t->name, j, bits_of(out[j]), expect);
                j++;
            }
            assert_int_equal(j, numel);
            free(out);
        } else {
            assert_non_null(ints);
            size_t j = 0;
            cJSON_ArrayForEach(d, ints)
            {
                int64_t got;
                if (t->dtype == HLM_DT_I64) {
                    memcpy(&got, (const uint8_t *)t->data + 8 * j, 8);
                } else {
                    assert_int_equal(t->dtype, HLM_DT_U8);
                    got = ((const uint8_t *)t->data)[j];
                }
                assert_true(got == (int64_t)d->valuedouble);
                j++;
            }
            assert_int_equal(j, numel);
            float out[8];
            assert_int_equal(hlm_st_read_f32(f, t->name, t->ndim, s, out, &err), HLM_ERR_FORMAT);
        }
        n_checked++;
    }
    assert_int_equal(n_checked, 8);
    hlm_st_close(f);
    cJSON_Delete(want);
    hlm_buf_free(&text);
}

/* ---- corrupt files ---- */

/* 8-byte length + header (as given, then padded to 8 with spaces) + data_len bytes of data. */
static uint8_t *make_file(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header), pad = (8 - h % 8) % 8;
    *len = 8 + h + pad + data_len;
    uint8_t *b = calloc(1, *len);
    uint64_t n = h + pad;
    memcpy(b, &n, 8);
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', pad);
    return b;
}

static void expect_format(const void *data, size_t len, const char *want1, const char *want2)
{
    hlm_st_file *f = (hlm_st_file *)1;
    hlm_error err;
    hlm_status st = hlm_st_open_mem(data, len, "corrupt.safetensors", &f, &err);
    if (st != HLM_ERR_FORMAT) fail_msg("expected a format error naming '%s', got status %d", want1, st);
    assert_null(f);
    if (!strstr(err.msg, "corrupt.safetensors") || !strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        fail_msg("message \"%s\" should name %s %s", err.msg, want1, want2 ? want2 : "");
}

static void expect_header(const char *header, size_t data_len, const char *want1, const char *want2)
{
    size_t len;
    uint8_t *b = make_file(header, data_len, &len);
    expect_format(b, len, want1, want2);
    free(b);
}

static void test_corrupt(void **state)
{
    /* a valid base file first */
    size_t len;
    uint8_t *ok = make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[8,12]}}",
                            12, &len);
    hlm_st_file *f;
    hlm_error err;
    assert_int_equal(hlm_st_open_mem(ok, len, "ok", &f, &err), HLM_OK);
    hlm_st_close(f);
    /* truncated: the last tensor's bytes are cut off */
    expect_format(ok, len - 1, "'b'", "out of range");
    /* truncated inside the length and inside the header */
    expect_format(ok, 5, "too short", NULL);
    expect_format(ok, 0, "too short", NULL);
    expect_format(ok, 20, "header length", "beyond the end");
    /* header length beyond the file, and over the limit */
    uint8_t *big = malloc(len);
    memcpy(big, ok, len);
    uint64_t n = len - 7;
    memcpy(big, &n, 8);
    expect_format(big, len, "beyond the end", NULL);
    n = 200000000;
    memcpy(big, &n, 8);
    expect_format(big, len, "limit", NULL);
    n = UINT64_MAX;
    memcpy(big, &n, 8);
    expect_format(big, len, "limit", NULL);
    free(big);
    free(ok);

    expect_header("{\"a\":{\"dtype\":\"F32\",", 0, "not valid JSON", NULL);
    expect_header("{\"a\" 1}", 0, "not valid JSON", NULL);
    expect_header("[1, 2]", 0, "must start with '{'", NULL);
    expect_header("{} trailing", 0, "unexpected bytes after", NULL);
    expect_header("{\"a\": 3}", 0, "'a'", "expected an object");
    /* overlapping tensors, in either header order */
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12, "overlap", "'a'");
    expect_header("{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                  12, "overlap", "'b'");
    /* an empty tensor inside another one's bytes also overlaps */
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                  8, "overlap", NULL);
    /* offsets out of range, reversed, malformed */
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "'a'", "out of range");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "'a'", "out of range");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "'a'", "data_offsets");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 8, "'a'", "data_offsets");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 8, "'a'", "data_offsets");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, "'a'", "data_offsets");
    /* shape and bytes disagree, including a product that overflows 64 bits */
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "'a'", "does not match");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,0]}}", 8,
                  "'a'", "does not match");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 8, "'a'", "shape");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 8, "'a'", "shape");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,12]}}", 12, "'a'", "shape");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 8, "'a'",
                  "dimensions");
    /* dtypes */
    expect_header("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8, "'a'", "F8_E4M3");
    expect_header("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "unknown dtype", NULL);
    expect_header("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "'a'", "dtype");
    /* names and metadata */
    expect_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                  8, "'a'", "twice");
    expect_header("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__", "'k'");
    expect_header("{\"__metadata__\":[\"k\"]}", 0, "__metadata__", NULL);
    expect_header("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__", "twice");
    expect_header("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__", "twice");
}

/* The same checks through a file: a truncated copy of a valid one. */
static void test_truncated_file(void **state)
{
    float x[64] = {0};
    hlm_st_tensor t[2] = {{"x", HLM_DT_F32, 2, {8, 8}, x, sizeof x}, {"y", HLM_DT_F32, 1, {64}, x, sizeof x}};
    char path[300];
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    hlm_error err;
    assert_int_equal(hlm_st_write(path, t, 2, NULL, NULL, 0, &err), HLM_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 100), 0);
    hlm_st_file *f;
    assert_int_equal(hlm_st_open(path, &f, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "'y'"));
    assert_non_null(strstr(err.msg, "out of range"));
}

static void test_dtype_table(void **state)
{
    static const struct {
        hlm_dtype dt;
        const char *name;
        size_t size;
    } want[] = {
        {HLM_DT_F32, "F32", 4}, {HLM_DT_F16, "F16", 2}, {HLM_DT_BF16, "BF16", 2}, {HLM_DT_F64, "F64", 8},
        {HLM_DT_I64, "I64", 8}, {HLM_DT_I32, "I32", 4}, {HLM_DT_I16, "I16", 2},   {HLM_DT_I8, "I8", 1},
        {HLM_DT_U8, "U8", 1},   {HLM_DT_U16, "U16", 2}, {HLM_DT_U32, "U32", 4},   {HLM_DT_U64, "U64", 8},
        {HLM_DT_BOOL, "BOOL", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_string_equal(hlm_dtype_name(want[i].dt), want[i].name);
        assert_int_equal(hlm_dtype_size(want[i].dt), want[i].size);
    }
    assert_int_equal(hlm_dtype_size((hlm_dtype)99), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_f16_bf16_values), cmocka_unit_test(test_reference_file),
        cmocka_unit_test(test_corrupt),        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_dtype_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
