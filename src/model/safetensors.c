/* safetensors: reading (memory-mapped, everything checked before any tensor is handed out) and
 * writing (atomic, in the layout Hugging Face's own writer produces).
 *
 * Invariants of an open hlm_st_file: every tensor's bytes lie inside the data area, no two
 * tensors share a byte, nbytes == product(shape) * dtype size (with no overflow), names are
 * unique. Readers may therefore index any tensor without further checks. Tensor data in the
 * mapping is NOT necessarily aligned (the header length is arbitrary; HF pads it to 8 bytes, but
 * an f16 tensor of odd length misaligns the next f32 one), so every load here goes through memcpy.
 *
 * Byte order: safetensors is little-endian; this file assumes a little-endian host (x86, ARM). */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (safetensors data is little-endian)"
#endif

#define MAX_HEADER_BYTES 100000000u /* the reference implementation's limit (100 MB) */
#define MAX_EXACT ((double)(1ull << 53))
#define MAX_DIMS 8

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct hlm_st_file {
    hlm_mmap map; /* hlm_st_open only */
    char *source;
    hlm_st_tensor *tensors; /* in header order */
    const hlm_st_tensor **by_name;
    int n;
    st_meta *meta; /* sorted by key */
    int n_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [HLM_DT_F32] = {"F32", 4}, [HLM_DT_F16] = {"F16", 2}, [HLM_DT_BF16] = {"BF16", 2}, [HLM_DT_F64] = {"F64", 8},
    [HLM_DT_I64] = {"I64", 8}, [HLM_DT_I32] = {"I32", 4}, [HLM_DT_I16] = {"I16", 2},   [HLM_DT_I8] = {"I8", 1},
    [HLM_DT_U8] = {"U8", 1},   [HLM_DT_U16] = {"U16", 2}, [HLM_DT_U32] = {"U32", 4},   [HLM_DT_U64] = {"U64", 8},
    [HLM_DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof *dtypes))

const char *hlm_dtype_name(hlm_dtype dt) { return (int)dt >= 0 && (int)dt < N_DTYPES ? dtypes[dt].name : "?"; }

size_t hlm_dtype_size(hlm_dtype dt) { return (int)dt >= 0 && (int)dt < N_DTYPES ? dtypes[dt].size : 0; }

static int dtype_from_name(const char *s, hlm_dtype *dt)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *dt = (hlm_dtype)i;
            return 1;
        }
    return 0;
}

/* numel * size of a shape, 0 on overflow of uint64 (with *ok = 0). */
static uint64_t shape_bytes(const int64_t *shape, int ndim, size_t size, int *ok)
{
    uint64_t n = size;
    *ok = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) {
            *ok = 0;
            return 0;
        }
    return n;
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---- reading ---- */

void hlm_st_close(hlm_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->source);
    hlm_mmap_close(&f->map);
    free(f);
}

static int by_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const hlm_st_tensor *const *)a)->name, (*(const hlm_st_tensor *const *)b)->name);
}

static int by_offset_cmp(const void *a, const void *b)
{
    const hlm_st_tensor *x = *(const hlm_st_tensor *const *)a, *y = *(const hlm_st_tensor *const *)b;
    const uint8_t *xa = x->data, *ya = y->data;
    if (xa != ya) return xa < ya ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* A JSON number that is an integer in 0..2^53 (exactly representable). */
static int json_u53(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static hlm_status parse_tensor(hlm_st_file *f, const cJSON *e, const uint8_t *area, size_t area_len,
                               hlm_st_tensor *t, hlm_error *err)
{
    const char *src = f->source, *name = e->string;
    if (!cJSON_IsObject(e)) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': expected an object", src, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': key 'dtype': expected a string", src, name);
    if (!dtype_from_name(dt->valuestring, &t->dtype))
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: tensor '%s': unknown dtype \"%.32s\" (expected F32, F16, BF16, F64, I64, I32, I16, "
                          "I8, U8, U16, U32, U64 or BOOL)",
                          src, name, dt->valuestring);
    if (!cJSON_IsArray(shape))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': key 'shape': expected an array of sizes", src, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > MAX_DIMS)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d are supported)", src, name,
                          ndim, MAX_DIMS);
    t->ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        uint64_t v;
        if (!json_u53(d, &v))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': key 'shape': expected integers >= 0", src, name);
        t->shape[t->ndim++] = (int64_t)v;
    }
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_u53(offs->child, &begin) ||
        !json_u53(offs->child->next, &end))
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: tensor '%s': key 'data_offsets': expected [begin, end], two integers >= 0", src, name);
    if (begin > end || end > area_len)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] out of range (the data area has %zu bytes)",
                          src, name, (unsigned long long)begin, (unsigned long long)end, area_len);
    int ok;
    uint64_t want = shape_bytes(t->shape, t->ndim, dtypes[t->dtype].size, &ok);
    if (!ok || want != end - begin) {
        char s[256];
        shape_str(t->shape, t->ndim, s, sizeof s);
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: tensor '%s': shape %s of %s does not match data_offsets [%llu, %llu] (%llu bytes)", src,
                          name, s, dtypes[t->dtype].name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)(end - begin));
    }
    t->data = area + begin;
    t->nbytes = (size_t)(end - begin);
    return HLM_OK;
}

static int meta_cmp(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

static hlm_status parse_metadata(hlm_st_file *f, const cJSON *m, hlm_error *err)
{
    if (f->meta) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: __metadata__ appears twice", f->source);
    if (!cJSON_IsObject(m))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: __metadata__: expected an object of strings", f->source);
    f->meta = calloc((size_t)cJSON_GetArraySize(m) + 1, sizeof *f->meta);
    if (!f->meta) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", f->source);
    const cJSON *e;
    cJSON_ArrayForEach(e, m)
    {
        if (!cJSON_IsString(e))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: __metadata__: value of '%s' is not a string", f->source,
                              e->string);
        st_meta *kv = &f->meta[f->n_meta++];
        kv->key = strdup(e->string);
        kv->value = strdup(e->valuestring);
        if (!kv->key || !kv->value) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", f->source);
    }
    if (f->n_meta > 1) qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, meta_cmp);
    for (int i = 1; i < f->n_meta; i++)
        if (!strcmp(f->meta[i - 1].key, f->meta[i].key))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: __metadata__: key '%s' appears twice", f->source,
                              f->meta[i].key);
    return HLM_OK;
}

static hlm_status parse_header(hlm_st_file *f, const uint8_t *data, size_t len, hlm_error *err)
{
    const char *src = f->source;
    if (len < 8)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: %zu bytes is too short for safetensors (it starts with an 8-byte header length)", src,
                          len);
    uint64_t hlen;
    memcpy(&hlen, data, 8);
    if (hlen > MAX_HEADER_BYTES)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: header length %llu is over the %u-byte limit", src,
                          (unsigned long long)hlen, MAX_HEADER_BYTES);
    if (hlen > len - 8)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: header length %llu is beyond the end of the file (%zu bytes)", src,
                          (unsigned long long)hlen, len);
    const char *h = (const char *)data + 8;
    if (hlen < 2 || h[0] != '{')
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: the header is not a JSON object (it must start with '{')", src);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= h ? (size_t)(end - h) : 0;
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: the header is not valid JSON (error near byte %zu of it)", src, at);
    }
    hlm_status st = HLM_OK;
    /* after the object only padding may follow: HF pads with spaces; allow any JSON whitespace */
    for (const char *p = end; p < h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: unexpected bytes after the header's JSON (at byte %zu of it)",
                            src, (size_t)(p - h));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: the header is not a JSON object", src);
        goto done;
    }
    const uint8_t *area = data + 8 + hlen;
    size_t area_len = len - 8 - (size_t)hlen;
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    f->by_name = calloc((size_t)n + 1, sizeof *f->by_name);
    if (!f->tensors || !f->by_name) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for %d tensors", src, n);
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (!strcmp(e->string, "__metadata__")) {
            if ((st = parse_metadata(f, e, err))) goto done;
            continue;
        }
        hlm_st_tensor *t = &f->tensors[f->n];
        if ((st = parse_tensor(f, e, area, area_len, t, err))) goto done;
        if (!(t->name = strdup(e->string))) {
            st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", src);
            goto done;
        }
        f->by_name[f->n] = t;
        f->n++;
    }
    if (f->n > 1) qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, by_name_cmp);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name)) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s' appears twice", src, f->by_name[i]->name);
            goto done;
        }
    /* overlap: sort a copy by (begin, end); each tensor must begin at or after the previous end */
    if (f->n > 1) {
        const hlm_st_tensor **by_off = malloc((size_t)f->n * sizeof *by_off);
        if (!by_off) {
            st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", src);
            goto done;
        }
        memcpy(by_off, f->by_name, (size_t)f->n * sizeof *by_off);
        qsort(by_off, (size_t)f->n, sizeof *by_off, by_offset_cmp);
        for (int i = 1; i < f->n && !st; i++) {
            const hlm_st_tensor *a = by_off[i - 1], *b = by_off[i];
            if ((const uint8_t *)b->data < (const uint8_t *)a->data + a->nbytes)
                st = hlm_errorf(err, HLM_ERR_FORMAT,
                                "%s: tensors '%s' and '%s' overlap (data_offsets [%zu, %zu] and [%zu, %zu])", src,
                                a->name, b->name, (size_t)((const uint8_t *)a->data - area),
                                (size_t)((const uint8_t *)a->data - area) + a->nbytes,
                                (size_t)((const uint8_t *)b->data - area),
                                (size_t)((const uint8_t *)b->data - area) + b->nbytes);
        }
        free(by_off);
    }
done:
    cJSON_Delete(root);
    return st;
}

hlm_status hlm_st_open_mem(const void *data, size_t len, const char *source, hlm_st_file **out, hlm_error *err)
{
    *out = NULL;
    hlm_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->source = strdup(source ? source : "safetensors"))) {
        free(f);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", source ? source : "safetensors");
    }
    hlm_status st = parse_header(f, data, len, err);
    if (st) {
        hlm_st_close(f);
        return st;
    }
    *out = f;
    return HLM_OK;
}

hlm_status hlm_st_open(const char *path, hlm_st_file **out, hlm_error *err)
{
    *out = NULL;
    hlm_mmap m;
    hlm_status st = hlm_mmap_open(&m, path, err);
    if (st) return st;
    if ((st = hlm_st_open_mem(m.data, m.len, path, out, err))) {
        hlm_mmap_close(&m);
        return st;
    }
    (*out)->map = m;
    return HLM_OK;
}

int hlm_st_count(const hlm_st_file *f) { return f->n; }

const hlm_st_tensor *hlm_st_get(const hlm_st_file *f, int i) { return i >= 0 && i < f->n ? &f->tensors[i] : NULL; }

const hlm_st_tensor *hlm_st_find(const hlm_st_file *f, const char *name)
{
    hlm_st_tensor key = {.name = name};
    const hlm_st_tensor *k = &key;
    const hlm_st_tensor **hit = f->n ? bsearch(&k, f->by_name, (size_t)f->n, sizeof *f->by_name, by_name_cmp) : NULL;
    return hit ? *hit : NULL;
}

const char *hlm_st_metadata(const hlm_st_file *f, const char *key)
{
    st_meta k = {.key = (char *)key};
    const st_meta *hit = f->n_meta ? bsearch(&k, f->meta, (size_t)f->n_meta, sizeof *f->meta, meta_cmp) : NULL;
    return hit ? hit->value : NULL;
}

/* IEEE half to single, exact for every input (subnormals, infinities, NaN payloads). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13; /* rebias 15 -> 127 */
    } else {
        float v = (float)mant * 5.9604644775390625e-8f; /* mant * 2^-24: exact, normal in f32 */
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

hlm_status hlm_st_read_f32(const hlm_st_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                           hlm_error *err)
{
    const hlm_st_tensor *t = hlm_st_find(f, name);
    if (!t) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: no tensor named '%s'", f->source, name);
    if (ndim != t->ndim || (ndim > 0 && memcmp(shape, t->shape, (size_t)ndim * sizeof *shape))) {
        char want[256], have[256];
        shape_str(shape, ndim < 0 ? 0 : ndim > MAX_DIMS ? MAX_DIMS : ndim, want, sizeof want);
        shape_str(t->shape, t->ndim, have, sizeof have);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': expected shape %s, found %s", f->source, name, want,
                          have);
    }
    const uint8_t *p = t->data;
    size_t n = t->nbytes / dtypes[t->dtype].size;
    switch (t->dtype) {
    case HLM_DT_F32:
        if (n) memcpy(dst, p, n * 4);
        break;
    case HLM_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        break;
    case HLM_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        break;
    case HLM_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%s': dtype %s cannot be read as f32 (expected F32, F16, "
                          "BF16 or F64)", f->source, name, dtypes[t->dtype].name);
    }
    return HLM_OK;
}

/* ---- writing ---- */

static int str_ptr_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names must be unique; returns the first duplicate or NULL (names copied, not modified). */
static hlm_status find_duplicate(const char **names, int n, const char **dup)
{
    *dup = NULL;
    if (n < 2) return HLM_OK;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) return HLM_ERR_NOMEM;
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, str_ptr_cmp);
    for (int i = 1; i < n && !*dup; i++)
        if (!strcmp(s[i - 1], s[i])) *dup = s[i];
    free(s);
    return HLM_OK;
}

static hlm_status check_write_args(const char *path, const hlm_st_tensor *tensors, int n, const char *const *keys,
                                   const char *const *values, int n_meta, hlm_error *err)
{
    if (n < 0 || n_meta < 0 || (n && !tensors) || (n_meta && (!keys || !values)))
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: bad tensor or metadata list", path);
    const char **names = malloc(((size_t)(n > n_meta ? n : n_meta) + 1) * sizeof *names);
    if (!names) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    hlm_status st = HLM_OK;
    for (int i = 0; i < n && !st; i++) {
        const hlm_st_tensor *t = &tensors[i];
        int ok;
        if (!t->name || !strcmp(t->name, "__metadata__"))
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s: tensor %d: missing or reserved name", path, i);
        else if (!hlm_dtype_size(t->dtype) || t->ndim < 0 || t->ndim > MAX_DIMS)
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s: tensor '%s': bad dtype or number of dimensions", path, t->name);
        else if (shape_bytes(t->shape, t->ndim, hlm_dtype_size(t->dtype), &ok) != t->nbytes || !ok)
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s: tensor '%s': %zu bytes do not match its shape and dtype %s",
                            path, t->name, t->nbytes, hlm_dtype_name(t->dtype));
        else if (t->nbytes && !t->data)
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s: tensor '%s': no data", path, t->name);
        names[i] = t->name;
    }
    const char *dup = NULL;
    if (!st && find_duplicate(names, n, &dup)) st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    if (!st && dup) st = hlm_errorf(err, HLM_ERR_INVALID, "%s: tensor '%s' given twice", path, dup);
    for (int i = 0; i < n_meta && !st; i++) {
        if (!keys[i] || !values[i]) st = hlm_errorf(err, HLM_ERR_INVALID, "%s: metadata %d: NULL key or value", path, i);
        names[i] = keys[i];
    }
    if (!st && find_duplicate(names, n_meta, &dup)) st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    if (!st && dup) st = hlm_errorf(err, HLM_ERR_INVALID, "%s: metadata key '%s' given twice", path, dup);
    free(names);
    return st;
}

/* The header JSON as Hugging Face's writer lays it out: compact, __metadata__ first, then the
 * tensors in order with packed offsets. Integers go in as raw text: cJSON would print values
 * above 1e15 in exponent form, which the reference reader rejects. */
static char *header_json(const hlm_st_tensor *tensors, int n, const char *const *keys, const char *const *values,
                         int n_meta)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < n_meta; i++) cJSON_AddStringToObject(m, keys[i], values[i]);
    }
    uint64_t off = 0;
    char buf[MAX_DIMS * 24 + 8];
    for (int i = 0; i < n; i++) {
        const hlm_st_tensor *t = &tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        if (!o) break;
        cJSON_AddStringToObject(o, "dtype", hlm_dtype_name(t->dtype));
        size_t k = 0;
        buf[k++] = '[';
        for (int d = 0; d < t->ndim; d++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        snprintf(buf + k, sizeof buf - k, "]");
        cJSON_AddRawToObject(o, "shape", buf);
        snprintf(buf, sizeof buf, "[%llu,%llu]", (unsigned long long)off, (unsigned long long)(off + t->nbytes));
        cJSON_AddRawToObject(o, "data_offsets", buf);
        off += t->nbytes;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

hlm_status hlm_st_write(const char *path, const hlm_st_tensor *tensors, int n, const char *const *meta_keys,
                        const char *const *meta_values, int n_meta, hlm_error *err)
{
    hlm_status st = check_write_args(path, tensors, n, meta_keys, meta_values, n_meta, err);
    if (st) return st;
    char *header = header_json(tensors, n, meta_keys, meta_values, n_meta);
    if (!header) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for the header", path);
    size_t hlen = strlen(header), pad = (8 - hlen % 8) % 8;
    uint64_t total = hlen + pad;
    hlm_atomic_file af;
    if ((st = hlm_atomic_open(&af, path, err))) {
        cJSON_free(header);
        return st;
    }
    int ok = fwrite(&total, 8, 1, af.fp) == 1 && fwrite(header, 1, hlen, af.fp) == hlen &&
             fwrite("        ", 1, pad, af.fp) == pad;
    for (int i = 0; i < n && ok; i++)
        if (tensors[i].nbytes) ok = fwrite(tensors[i].data, 1, tensors[i].nbytes, af.fp) == tensors[i].nbytes;
    cJSON_free(header);
    if (!ok) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        hlm_atomic_abort(&af);
        return st;
    }
    return hlm_atomic_commit(&af, err);
}
