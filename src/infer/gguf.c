/* GGUF: reading (memory-mapped, everything checked before anything is handed out) and writing
 * (atomic, in the layout gguf-py's GGUFWriter produces, byte for byte).
 *
 * Invariants of an open hlm_gguf_file: every metadata value and every string lies inside the
 * mapping; array element types are fixed-size scalars or strings (no arrays of arrays); bools are
 * 0 or 1; keys are unique and tensor names are unique (neither contains a NUL byte); every
 * tensor has a known type, 0..4 dimensions none of which is 0, a row length that is a multiple of
 * its type's block size, a byte size under 2^63, an offset that is a multiple of the alignment,
 * and bytes inside the file that no other tensor shares. Callers may therefore index any value,
 * element or tensor without further checks.
 *
 * Metadata values are not aligned in the file, so every load goes through memcpy. Byte order:
 * GGUF here is little-endian (big-endian files are recognised and refused); this file assumes a
 * little-endian host (x86, ARM). */
#include "infer/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host (GGUF files are little-endian)"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3u
#define HEADER_BYTES 24u
/* The smallest encodings: a metadata entry (empty key, type, a uint8) and a tensor info (empty
 * name, n_dims 0, type, offset). They bound the counts a file of a given size can declare. */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_INFO_BYTES 24u
#define MAX_BYTES ((uint64_t)INT64_MAX)

/* ---- types ---- */

static const char *const value_type_names[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array",
    "uint64", "int64", "float64",
};
#define N_VALUE_TYPES 13u

/* bytes of a fixed-size value type; 0 for string and array */
static const uint8_t value_type_size[N_VALUE_TYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *hlm_gguf_type_name(hlm_gguf_type t)
{
    return (unsigned)t < N_VALUE_TYPES ? value_type_names[t] : "?";
}

/* Block sizes from gguf-py 0.19.0's GGML_QUANT_SIZES (elements per block, bytes per block). */
static const struct {
    const char *name;
    uint16_t block_elems, block_bytes;
} ggml_types[] = {
    [HLM_GGML_F32] = {"F32", 1, 4},           [HLM_GGML_F16] = {"F16", 1, 2},
    [HLM_GGML_Q4_0] = {"Q4_0", 32, 18},       [HLM_GGML_Q4_1] = {"Q4_1", 32, 20},
    [HLM_GGML_Q5_0] = {"Q5_0", 32, 22},       [HLM_GGML_Q5_1] = {"Q5_1", 32, 24},
    [HLM_GGML_Q8_0] = {"Q8_0", 32, 34},       [HLM_GGML_Q8_1] = {"Q8_1", 32, 40},
    [HLM_GGML_Q2_K] = {"Q2_K", 256, 84},      [HLM_GGML_Q3_K] = {"Q3_K", 256, 110},
    [HLM_GGML_Q4_K] = {"Q4_K", 256, 144},     [HLM_GGML_Q5_K] = {"Q5_K", 256, 176},
    [HLM_GGML_Q6_K] = {"Q6_K", 256, 210},     [HLM_GGML_Q8_K] = {"Q8_K", 256, 292},
    [HLM_GGML_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [HLM_GGML_IQ2_XS] = {"IQ2_XS", 256, 74},
    [HLM_GGML_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [HLM_GGML_IQ1_S] = {"IQ1_S", 256, 50},
    [HLM_GGML_IQ4_NL] = {"IQ4_NL", 32, 18},   [HLM_GGML_IQ3_S] = {"IQ3_S", 256, 110},
    [HLM_GGML_IQ2_S] = {"IQ2_S", 256, 82},    [HLM_GGML_IQ4_XS] = {"IQ4_XS", 256, 136},
    [HLM_GGML_I8] = {"I8", 1, 1},             [HLM_GGML_I16] = {"I16", 1, 2},
    [HLM_GGML_I32] = {"I32", 1, 4},           [HLM_GGML_I64] = {"I64", 1, 8},
    [HLM_GGML_F64] = {"F64", 1, 8},           [HLM_GGML_IQ1_M] = {"IQ1_M", 256, 56},
    [HLM_GGML_BF16] = {"BF16", 1, 2},         [HLM_GGML_TQ1_0] = {"TQ1_0", 256, 54},
    [HLM_GGML_TQ2_0] = {"TQ2_0", 256, 66},    [HLM_GGML_MXFP4] = {"MXFP4", 32, 17},
    [HLM_GGML_NVFP4] = {"NVFP4", 64, 36},     [HLM_GGML_Q1_0] = {"Q1_0", 128, 18},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof *ggml_types)

const char *hlm_ggml_type_name(hlm_ggml_type t)
{
    return (unsigned)t < N_GGML_TYPES ? ggml_types[t].name : NULL;
}

int hlm_ggml_type_block(hlm_ggml_type t, uint32_t *block_elems, uint32_t *block_bytes)
{
    if ((unsigned)t >= N_GGML_TYPES || !ggml_types[t].name) return 0;
    if (block_elems) *block_elems = ggml_types[t].block_elems;
    if (block_bytes) *block_bytes = ggml_types[t].block_bytes;
    return 1;
}

typedef enum size_problem { SIZE_OK, SIZE_TYPE, SIZE_NDIMS, SIZE_ZERO_DIM, SIZE_BLOCK, SIZE_OVERFLOW } size_problem;

/* Element count and byte size of a tensor; *bad_dim is the dimension a SIZE_ZERO_DIM names. */
static size_problem tensor_size(hlm_ggml_type t, uint32_t n_dims, const uint64_t *dims, uint64_t *n_elems,
                                uint64_t *nbytes, uint32_t *bad_dim)
{
    uint32_t be, bb;
    if (!hlm_ggml_type_block(t, &be, &bb)) return SIZE_TYPE;
    if (n_dims > HLM_GGUF_MAX_DIMS) return SIZE_NDIMS;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (!dims[d]) {
            *bad_dim = d;
            return SIZE_ZERO_DIM;
        }
        if (__builtin_mul_overflow(n, dims[d], &n) || n > MAX_BYTES) return SIZE_OVERFLOW;
    }
    if ((n_dims ? dims[0] : 1) % be) return SIZE_BLOCK;
    uint64_t b;
    if (__builtin_mul_overflow(n / be, (uint64_t)bb, &b) || b > MAX_BYTES) return SIZE_OVERFLOW;
    *n_elems = n;
    *nbytes = b;
    return SIZE_OK;
}

uint64_t hlm_ggml_tensor_bytes(hlm_ggml_type t, uint32_t n_dims, const uint64_t *dims, const char **why)
{
    static const char *const reasons[] = {
        [SIZE_TYPE] = "unknown ggml type",
        [SIZE_NDIMS] = "more than 4 dimensions",
        [SIZE_ZERO_DIM] = "a dimension is 0",
        [SIZE_BLOCK] = "the row length (dims[0]) is not a multiple of the type's block size",
        [SIZE_OVERFLOW] = "the size overflows 63 bits",
    };
    uint64_t n, b;
    uint32_t bad;
    size_problem p = tensor_size(t, n_dims, dims, &n, &b, &bad);
    if (why) *why = p ? reasons[p] : NULL;
    return p ? 0 : b;
}

/* ---- reading ---- */

struct hlm_gguf_file {
    hlm_mmap map; /* hlm_gguf_open only */
    char *source;
    size_t len;
    uint32_t version, alignment;
    uint64_t data_offset;
    hlm_gguf_kv *kvs; /* file order */
    const hlm_gguf_kv **kv_by_key;
    size_t n_kv;
    hlm_gguf_tensor *tensors; /* file order */
    const hlm_gguf_tensor **by_name;
    size_t n_tensors;
};

/* Reading position. ctx says what is being read ("metadata 'general.name'") for messages. */
typedef struct cursor {
    const uint8_t *p;
    size_t len, at;
    const char *src;
    char ctx[320];
    hlm_error *err;
} cursor;

static int has(const cursor *c, uint64_t n) { return n <= c->len - c->at; }

static hlm_status past_end(cursor *c, const char *field, uint64_t n)
{
    return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: %s at byte %zu needs %llu bytes, past the end of the file (%zu bytes)",
                      c->src, c->ctx, field, c->at, (unsigned long long)n, c->len);
}

static hlm_status rd_u32(cursor *c, const char *field, uint32_t *v)
{
    if (!has(c, 4)) return past_end(c, field, 4);
    memcpy(v, c->p + c->at, 4);
    c->at += 4;
    return HLM_OK;
}

static hlm_status rd_u64(cursor *c, const char *field, uint64_t *v)
{
    if (!has(c, 8)) return past_end(c, field, 8);
    memcpy(v, c->p + c->at, 8);
    c->at += 8;
    return HLM_OK;
}

/* A string (uint64 length + bytes); field names it ("key", "name", "value"). */
static hlm_status rd_str(cursor *c, const char *field, hlm_gguf_str *s)
{
    uint64_t n = 0;
    if (!has(c, 8)) {
        char what[80];
        snprintf(what, sizeof what, "%s length", field);
        return past_end(c, what, 8);
    }
    memcpy(&n, c->p + c->at, 8);
    c->at += 8;
    if (!has(c, n))
        return hlm_errorf(c->err, HLM_ERR_FORMAT,
                          "%s: %s: %s of %llu bytes at byte %zu runs past the end of the file (%zu bytes)", c->src,
                          c->ctx, field, (unsigned long long)n, c->at, c->len);
    s->ptr = (const char *)c->p + c->at;
    s->len = n;
    c->at += (size_t)n;
    return HLM_OK;
}

/* A key or tensor name as a C string: NUL bytes inside would make it unfindable. */
static hlm_status copy_name(cursor *c, const char *field, hlm_gguf_str s, char **out)
{
    if (memchr(s.ptr, 0, (size_t)s.len))
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: the %s contains a NUL byte", c->src, c->ctx, field);
    if (!(*out = malloc((size_t)s.len + 1))) return hlm_errorf(c->err, HLM_ERR_NOMEM, "%s: out of memory", c->src);
    memcpy(*out, s.ptr, (size_t)s.len);
    (*out)[s.len] = 0;
    return HLM_OK;
}

static hlm_status check_bools(cursor *c, const uint8_t *b, uint64_t n, int is_array)
{
    for (uint64_t i = 0; i < n; i++)
        if (b[i] > 1) {
            if (is_array)
                return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: bool element %llu is %u (expected 0 or 1)", c->src,
                                  c->ctx, (unsigned long long)i, b[i]);
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: bool value is %u (expected 0 or 1)", c->src, c->ctx,
                              b[i]);
        }
    return HLM_OK;
}

static hlm_status parse_value(cursor *c, hlm_gguf_kv *kv, const char *src)
{
    hlm_status st;
    kv->count = 1;
    if (kv->type == HLM_GGUF_STRING) {
        hlm_gguf_str s;
        kv->raw = c->p + c->at;
        if ((st = rd_str(c, "value", &s))) return st;
    } else if (kv->type != HLM_GGUF_ARRAY) {
        uint64_t size = value_type_size[kv->type];
        kv->raw = c->p + c->at;
        if (!has(c, size)) return past_end(c, "value", size);
        if (kv->type == HLM_GGUF_BOOL && (st = check_bools(c, kv->raw, 1, 0))) return st;
        c->at += size;
    } else {
        uint32_t et = 0;
        if ((st = rd_u32(c, "array element type", &et)) || (st = rd_u64(c, "array count", &kv->count))) return st;
        if (et >= N_VALUE_TYPES)
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: unknown array element type %u (expected 0..12)", src,
                              c->ctx, et);
        if (et == HLM_GGUF_ARRAY)
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: arrays of arrays are not supported", src, c->ctx);
        kv->elem_type = (hlm_gguf_type)et;
        kv->raw = c->p + c->at;
        size_t left = c->len - c->at;
        if (et == HLM_GGUF_STRING) {
            if (kv->count > left / 8)
                return hlm_errorf(c->err, HLM_ERR_FORMAT,
                                  "%s: %s: array count %llu: that many strings cannot fit in the %zu bytes left", src,
                                  c->ctx, (unsigned long long)kv->count, left);
            uint64_t *at = malloc(((size_t)kv->count + 1) * sizeof *at);
            if (!at) return hlm_errorf(c->err, HLM_ERR_NOMEM, "%s: out of memory", src);
            kv->str_at = at;
            size_t base = c->at;
            for (uint64_t i = 0; i < kv->count; i++) {
                uint64_t n = 0;
                at[i] = c->at - base;
                if (has(c, 8)) memcpy(&n, c->p + c->at, 8);
                if (!has(c, 8) || n > c->len - c->at - 8) { /* rd_str says what is wrong */
                    hlm_gguf_str s;
                    char field[48];
                    snprintf(field, sizeof field, "element %llu", (unsigned long long)i);
                    return rd_str(c, field, &s);
                }
                c->at += 8 + (size_t)n;
            }
        } else {
            uint64_t size = value_type_size[et];
            if (kv->count > left / size)
                return hlm_errorf(c->err, HLM_ERR_FORMAT,
                                  "%s: %s: array of %llu %s needs more than the %zu bytes left in the file", src,
                                  c->ctx, (unsigned long long)kv->count, value_type_names[et], left);
            if (et == HLM_GGUF_BOOL && (st = check_bools(c, kv->raw, kv->count, 1))) return st;
            c->at += (size_t)(kv->count * size);
        }
    }
    kv->raw_len = (uint64_t)(c->p + c->at - kv->raw);
    return HLM_OK;
}

static int kv_key_cmp(const void *a, const void *b)
{
    return strcmp((*(const hlm_gguf_kv *const *)a)->key, (*(const hlm_gguf_kv *const *)b)->key);
}

static int tensor_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const hlm_gguf_tensor *const *)a)->name, (*(const hlm_gguf_tensor *const *)b)->name);
}

static int tensor_offset_cmp(const void *a, const void *b)
{
    const hlm_gguf_tensor *x = *(const hlm_gguf_tensor *const *)a, *y = *(const hlm_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static hlm_status parse_kvs(hlm_gguf_file *f, cursor *c, uint64_t n)
{
    hlm_status st;
    if (!(f->kvs = calloc((size_t)n + 1, sizeof *f->kvs)) || !(f->kv_by_key = calloc((size_t)n + 1, sizeof *f->kv_by_key)))
        return hlm_errorf(c->err, HLM_ERR_NOMEM, "%s: out of memory for %llu metadata entries", f->source,
                          (unsigned long long)n);
    for (size_t i = 0; i < n; i++) {
        hlm_gguf_kv *kv = &f->kvs[i];
        hlm_gguf_str key;
        uint32_t type = 0;
        snprintf(c->ctx, sizeof c->ctx, "metadata entry %zu", i);
        if ((st = rd_str(c, "key", &key)) || (st = copy_name(c, "key", key, (char **)&kv->key))) return st;
        f->n_kv++;
        snprintf(c->ctx, sizeof c->ctx, "metadata '%.200s'", kv->key);
        if ((st = rd_u32(c, "value type", &type))) return st;
        if (type >= N_VALUE_TYPES)
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: unknown value type %u (expected 0..12)", f->source,
                              c->ctx, type);
        kv->type = (hlm_gguf_type)type;
        if ((st = parse_value(c, kv, f->source))) return st;
        f->kv_by_key[i] = kv;
    }
    if (f->n_kv > 1) qsort(f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, kv_key_cmp);
    for (size_t i = 1; i < f->n_kv; i++)
        if (!strcmp(f->kv_by_key[i - 1]->key, f->kv_by_key[i]->key))
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: metadata key '%.200s' appears twice", f->source,
                              f->kv_by_key[i]->key);
    const hlm_gguf_kv *a = hlm_gguf_find(f, "general.alignment");
    f->alignment = HLM_GGUF_DEFAULT_ALIGNMENT;
    if (a) {
        if (a->type != HLM_GGUF_UINT32)
            return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: metadata 'general.alignment': type %s, expected uint32",
                              f->source, value_type_names[a->type]);
        memcpy(&f->alignment, a->raw, 4);
        if (!f->alignment || (f->alignment & (f->alignment - 1)))
            return hlm_errorf(c->err, HLM_ERR_FORMAT,
                              "%s: metadata 'general.alignment': %u is not a power of two", f->source, f->alignment);
    }
    return HLM_OK;
}

static hlm_status parse_tensor_info(hlm_gguf_file *f, cursor *c, size_t i)
{
    hlm_gguf_tensor *t = &f->tensors[i];
    hlm_gguf_str name;
    uint32_t type = 0;
    hlm_status st;
    snprintf(c->ctx, sizeof c->ctx, "tensor info %zu", i);
    if ((st = rd_str(c, "name", &name)) || (st = copy_name(c, "name", name, (char **)&t->name))) return st;
    f->n_tensors++;
    snprintf(c->ctx, sizeof c->ctx, "tensor '%.200s'", t->name);
    if ((st = rd_u32(c, "n_dims", &t->n_dims))) return st;
    if (t->n_dims > HLM_GGUF_MAX_DIMS)
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: n_dims %u (at most %d)", f->source, c->ctx, t->n_dims,
                          HLM_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < HLM_GGUF_MAX_DIMS; d++) {
        t->dims[d] = 1;
        if (d < t->n_dims && (st = rd_u64(c, "dims", &t->dims[d]))) return st;
    }
    if ((st = rd_u32(c, "type", &type)) || (st = rd_u64(c, "offset", &t->offset))) return st;
    t->type = (hlm_ggml_type)type;
    uint64_t nbytes;
    uint32_t bad = 0, be = 1;
    switch (tensor_size(t->type, t->n_dims, t->dims, &t->n_elems, &nbytes, &bad)) {
    case SIZE_OK:
        break;
    case SIZE_TYPE:
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: unknown ggml type %u", f->source, c->ctx, type);
    case SIZE_ZERO_DIM:
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: dims[%u] is 0", f->source, c->ctx, bad);
    case SIZE_BLOCK:
        hlm_ggml_type_block(t->type, &be, NULL);
        return hlm_errorf(c->err, HLM_ERR_FORMAT,
                          "%s: %s: dims[0] %llu is not a multiple of the %s block size %u", f->source, c->ctx,
                          (unsigned long long)t->dims[0], ggml_types[t->type].name, be);
    case SIZE_NDIMS: /* checked above */
    case SIZE_OVERFLOW:
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: %s: dims [%llu, %llu, %llu, %llu]: the size overflows",
                          f->source, c->ctx, (unsigned long long)t->dims[0], (unsigned long long)t->dims[1],
                          (unsigned long long)t->dims[2], (unsigned long long)t->dims[3]);
    }
    t->nbytes = (size_t)nbytes;
    return HLM_OK;
}

/* Each tensor's bytes inside the file, offsets aligned, no two tensors sharing a byte. */
static hlm_status check_tensor_data(hlm_gguf_file *f, const uint8_t *data, hlm_error *err)
{
    for (size_t i = 0; i < f->n_tensors; i++) {
        hlm_gguf_tensor *t = &f->tensors[i];
        uint64_t begin, end;
        if (t->offset % f->alignment)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%.200s': offset %llu is not a multiple of the alignment %u",
                              f->source, t->name, (unsigned long long)t->offset, f->alignment);
        if (__builtin_add_overflow(f->data_offset, t->offset, &begin) ||
            __builtin_add_overflow(begin, (uint64_t)t->nbytes, &end))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%.200s': offset %llu is past the end of the file (%zu bytes)",
                              f->source, t->name, (unsigned long long)t->offset, f->len);
        if (end > f->len)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%.200s': data [%llu, %llu) past the end of the file (%zu bytes)",
                              f->source, t->name, (unsigned long long)begin, (unsigned long long)end, f->len);
        t->data = data + begin;
    }
    if (f->n_tensors < 2) return HLM_OK;
    if (!(f->by_name = malloc(f->n_tensors * sizeof *f->by_name)))
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", f->source);
    for (size_t i = 0; i < f->n_tensors; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n_tensors, sizeof *f->by_name, tensor_offset_cmp);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const hlm_gguf_tensor *a = f->by_name[i - 1], *b = f->by_name[i];
        if (b->offset < a->offset + a->nbytes) {
            uint64_t d = f->data_offset;
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensors '%.200s' and '%.200s' overlap: data [%llu, %llu) and [%llu, %llu)",
                              f->source, a->name, b->name, (unsigned long long)(d + a->offset),
                              (unsigned long long)(d + a->offset + a->nbytes), (unsigned long long)(d + b->offset),
                              (unsigned long long)(d + b->offset + b->nbytes));
        }
    }
    qsort(f->by_name, f->n_tensors, sizeof *f->by_name, tensor_name_cmp);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor '%.200s' appears twice", f->source, f->by_name[i]->name);
    return HLM_OK;
}

static hlm_status parse(hlm_gguf_file *f, const uint8_t *data, size_t len, hlm_error *err)
{
    cursor c = {.p = data, .len = len, .src = f->source, .err = err};
    snprintf(c.ctx, sizeof c.ctx, "header");
    f->len = len;
    if (len < 4)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %zu bytes is too short for GGUF (the header takes %u)", f->source,
                          len, HEADER_BYTES);
    if (memcmp(data, GGUF_MAGIC, 4))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: bad magic %02x %02x %02x %02x (expected \"GGUF\")", f->source,
                          data[0], data[1], data[2], data[3]);
    c.at = 4;
    uint64_t n_tensors = 0, n_kv = 0;
    hlm_status st;
    if ((st = rd_u32(&c, "version", &f->version))) return st;
    if (f->version && !(f->version & 0xffff))
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: version field 0x%08x: a big-endian GGUF file (only little-endian is supported)",
                          f->source, f->version);
    if (f->version != 2 && f->version != 3)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: version %u is not supported (expected 2 or 3)", f->source,
                          f->version);
    if ((st = rd_u64(&c, "tensor_count", &n_tensors)) || (st = rd_u64(&c, "metadata_kv_count", &n_kv))) return st;
    size_t left = len - c.at;
    if (n_kv > left / MIN_KV_BYTES)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: metadata_kv_count %llu is more than the %zu bytes after the header can hold", f->source,
                          (unsigned long long)n_kv, left);
    if (n_tensors > left / MIN_TENSOR_INFO_BYTES)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: tensor_count %llu is more than the %zu bytes after the header can hold", f->source,
                          (unsigned long long)n_tensors, left);
    if ((st = parse_kvs(f, &c, n_kv))) return st;
    if (!(f->tensors = calloc((size_t)n_tensors + 1, sizeof *f->tensors)))
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for %llu tensors", f->source,
                          (unsigned long long)n_tensors);
    for (size_t i = 0; i < n_tensors; i++)
        if ((st = parse_tensor_info(f, &c, i))) return st;
    f->data_offset = ((uint64_t)c.at + f->alignment - 1) / f->alignment * f->alignment;
    return check_tensor_data(f, data, err);
}

void hlm_gguf_close(hlm_gguf_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free((char *)f->kvs[i].key);
        free((uint64_t *)f->kvs[i].str_at);
    }
    for (size_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->kvs);
    free(f->kv_by_key);
    free(f->tensors);
    free(f->by_name);
    free(f->source);
    hlm_mmap_close(&f->map);
    free(f);
}

hlm_status hlm_gguf_open_mem(const void *data, size_t len, const char *source, hlm_gguf_file **out, hlm_error *err)
{
    *out = NULL;
    hlm_gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->source = strdup(source ? source : "gguf"))) {
        free(f);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", source ? source : "gguf");
    }
    hlm_status st = parse(f, data, len, err);
    if (st) {
        hlm_gguf_close(f);
        return st;
    }
    *out = f;
    return HLM_OK;
}

hlm_status hlm_gguf_open(const char *path, hlm_gguf_file **out, hlm_error *err)
{
    *out = NULL;
    hlm_mmap m;
    hlm_status st = hlm_mmap_open(&m, path, err);
    if (st) return st;
    if ((st = hlm_gguf_open_mem(m.data, m.len, path, out, err))) {
        hlm_mmap_close(&m);
        return st;
    }
    (*out)->map = m;
    return HLM_OK;
}

const char *hlm_gguf_source(const hlm_gguf_file *f) { return f->source; }
uint32_t hlm_gguf_version(const hlm_gguf_file *f) { return f->version; }
uint32_t hlm_gguf_alignment(const hlm_gguf_file *f) { return f->alignment; }
uint64_t hlm_gguf_data_offset(const hlm_gguf_file *f) { return f->data_offset; }
size_t hlm_gguf_file_size(const hlm_gguf_file *f) { return f->len; }
size_t hlm_gguf_kv_count(const hlm_gguf_file *f) { return f->n_kv; }
size_t hlm_gguf_tensor_count(const hlm_gguf_file *f) { return f->n_tensors; }

const hlm_gguf_kv *hlm_gguf_kv_at(const hlm_gguf_file *f, size_t i) { return i < f->n_kv ? &f->kvs[i] : NULL; }

const hlm_gguf_tensor *hlm_gguf_tensor_at(const hlm_gguf_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const hlm_gguf_kv *hlm_gguf_find(const hlm_gguf_file *f, const char *key)
{
    hlm_gguf_kv k = {.key = key};
    const hlm_gguf_kv *kp = &k;
    const hlm_gguf_kv **hit =
        f->n_kv ? bsearch(&kp, f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, kv_key_cmp) : NULL;
    return hit ? *hit : NULL;
}

const hlm_gguf_tensor *hlm_gguf_find_tensor(const hlm_gguf_file *f, const char *name)
{
    if (f->n_tensors == 1) return strcmp(f->tensors[0].name, name) ? NULL : &f->tensors[0];
    hlm_gguf_tensor k = {.name = name};
    const hlm_gguf_tensor *kp = &k;
    const hlm_gguf_tensor **hit =
        f->n_tensors ? bsearch(&kp, f->by_name, f->n_tensors, sizeof *f->by_name, tensor_name_cmp) : NULL;
    return hit ? *hit : NULL;
}

/* The value of type t encoded at p (a string: its length field). */
static hlm_gguf_value decode(hlm_gguf_type t, const uint8_t *p)
{
    hlm_gguf_value v = {.type = t};
    switch (t) {
    case HLM_GGUF_UINT8: v.u = p[0]; break;
    case HLM_GGUF_INT8: v.i = (int8_t)p[0]; break;
    case HLM_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); v.u = x; break; }
    case HLM_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); v.i = x; break; }
    case HLM_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); v.u = x; break; }
    case HLM_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); v.i = x; break; }
    case HLM_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); v.f = x; break; }
    case HLM_GGUF_BOOL: v.b = p[0] != 0; break;
    case HLM_GGUF_STRING: memcpy(&v.s.len, p, 8); v.s.ptr = (const char *)p + 8; break;
    case HLM_GGUF_UINT64: memcpy(&v.u, p, 8); break;
    case HLM_GGUF_INT64: memcpy(&v.i, p, 8); break;
    case HLM_GGUF_FLOAT64: memcpy(&v.f, p, 8); break;
    case HLM_GGUF_ARRAY: break;
    }
    return v;
}

hlm_gguf_value hlm_gguf_kv_value(const hlm_gguf_kv *kv)
{
    if (kv->type == HLM_GGUF_ARRAY) return (hlm_gguf_value){.type = HLM_GGUF_ARRAY};
    return decode(kv->type, kv->raw);
}

hlm_gguf_value hlm_gguf_kv_elem(const hlm_gguf_kv *kv, uint64_t i)
{
    if (kv->type != HLM_GGUF_ARRAY || i >= kv->count) return (hlm_gguf_value){.type = HLM_GGUF_ARRAY};
    if (kv->elem_type == HLM_GGUF_STRING) return decode(HLM_GGUF_STRING, kv->raw + kv->str_at[i]);
    return decode(kv->elem_type, kv->raw + i * value_type_size[kv->elem_type]);
}

hlm_gguf_str hlm_gguf_arr_str(const hlm_gguf_kv *kv, uint64_t i)
{
    if (kv->type != HLM_GGUF_ARRAY || kv->elem_type != HLM_GGUF_STRING || i >= kv->count)
        return (hlm_gguf_str){NULL, 0};
    return decode(HLM_GGUF_STRING, kv->raw + kv->str_at[i]).s;
}

static hlm_status find_kv(const hlm_gguf_file *f, const char *key, const hlm_gguf_kv **kv, hlm_error *err)
{
    if (!(*kv = hlm_gguf_find(f, key)))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata key '%s' is missing", f->source, key);
    return HLM_OK;
}

static int is_signed(hlm_gguf_type t)
{
    return t == HLM_GGUF_INT8 || t == HLM_GGUF_INT16 || t == HLM_GGUF_INT32 || t == HLM_GGUF_INT64;
}

static int is_unsigned(hlm_gguf_type t)
{
    return t == HLM_GGUF_UINT8 || t == HLM_GGUF_UINT16 || t == HLM_GGUF_UINT32 || t == HLM_GGUF_UINT64;
}

/* An integer entry whose value lies in [lo, hi]: *v holds it (v->i or v->u by its type). */
static hlm_status get_int(const hlm_gguf_file *f, const char *key, int64_t lo, uint64_t hi, const char *want,
                          hlm_gguf_value *v, hlm_error *err)
{
    const hlm_gguf_kv *kv;
    hlm_status st = find_kv(f, key, &kv, err);
    if (st) return st;
    if (!is_signed(kv->type) && !is_unsigned(kv->type))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s' is %s, expected an integer (%s)", f->source, key,
                          value_type_names[kv->type], want);
    *v = decode(kv->type, kv->raw);
    if (is_signed(kv->type) ? v->i < lo || (v->i > 0 && (uint64_t)v->i > hi) : v->u > hi) {
        if (is_signed(kv->type))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s': %lld does not fit %s", f->source, key,
                              (long long)v->i, want);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s': %llu does not fit %s", f->source, key,
                          (unsigned long long)v->u, want);
    }
    return HLM_OK;
}

#define INT_GETTER(fn, ctype, lo, hi, want)                                                                  \
    hlm_status fn(const hlm_gguf_file *f, const char *key, ctype *out, hlm_error *err)                      \
    {                                                                                                        \
        hlm_gguf_value v;                                                                                    \
        hlm_status st = get_int(f, key, lo, hi, want, &v, err);                                              \
        if (!st) *out = is_signed(v.type) ? (ctype)v.i : (ctype)v.u;                                         \
        return st;                                                                                           \
    }
INT_GETTER(hlm_gguf_get_u32, uint32_t, 0, UINT32_MAX, "uint32")
INT_GETTER(hlm_gguf_get_i32, int32_t, INT32_MIN, INT32_MAX, "int32")
INT_GETTER(hlm_gguf_get_u64, uint64_t, 0, UINT64_MAX, "uint64")
INT_GETTER(hlm_gguf_get_i64, int64_t, INT64_MIN, INT64_MAX, "int64")

hlm_status hlm_gguf_get_f32(const hlm_gguf_file *f, const char *key, float *out, hlm_error *err)
{
    const hlm_gguf_kv *kv;
    hlm_status st = find_kv(f, key, &kv, err);
    if (st) return st;
    if (kv->type != HLM_GGUF_FLOAT32 && kv->type != HLM_GGUF_FLOAT64)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s' is %s, expected float32", f->source, key,
                          value_type_names[kv->type]);
    *out = (float)decode(kv->type, kv->raw).f;
    return HLM_OK;
}

static hlm_status get_typed(const hlm_gguf_file *f, const char *key, hlm_gguf_type t, const hlm_gguf_kv **kv,
                            hlm_error *err)
{
    hlm_status st = find_kv(f, key, kv, err);
    if (st) return st;
    if ((*kv)->type != t)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s' is %s, expected %s", f->source, key,
                          value_type_names[(*kv)->type], value_type_names[t]);
    return HLM_OK;
}

hlm_status hlm_gguf_get_str(const hlm_gguf_file *f, const char *key, hlm_gguf_str *out, hlm_error *err)
{
    const hlm_gguf_kv *kv;
    hlm_status st = get_typed(f, key, HLM_GGUF_STRING, &kv, err);
    if (!st) *out = decode(HLM_GGUF_STRING, kv->raw).s;
    return st;
}

hlm_status hlm_gguf_get_bool(const hlm_gguf_file *f, const char *key, int *out, hlm_error *err)
{
    const hlm_gguf_kv *kv;
    hlm_status st = get_typed(f, key, HLM_GGUF_BOOL, &kv, err);
    if (!st) *out = kv->raw[0];
    return st;
}

hlm_status hlm_gguf_get_array(const hlm_gguf_file *f, const char *key, hlm_gguf_type elem_type,
                              const hlm_gguf_kv **out, hlm_error *err)
{
    hlm_status st = get_typed(f, key, HLM_GGUF_ARRAY, out, err);
    if (st) return st;
    if ((*out)->elem_type != elem_type) {
        const char *had = value_type_names[(*out)->elem_type];
        *out = NULL;
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: metadata '%s' is an array of %s, expected an array of %s",
                          f->source, key, had, hlm_gguf_type_name(elem_type));
    }
    return HLM_OK;
}

/* ---- writing ---- */

typedef struct w_tensor {
    char *name;
    hlm_ggml_type type;
    uint32_t n_dims;
    uint64_t dims[HLM_GGUF_MAX_DIMS];
    const void *data;
    void *owned; /* the copy, when the caller asked for one */
    size_t nbytes;
} w_tensor;

struct hlm_gguf_writer {
    hlm_buf kv; /* the metadata section, exactly as it will be written */
    char **keys;
    size_t n_kv, cap_kv;
    w_tensor *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t alignment;
};

hlm_status hlm_gguf_writer_new(hlm_gguf_writer **out, hlm_error *err)
{
    if (!(*out = calloc(1, sizeof **out))) return hlm_errorf(err, HLM_ERR_NOMEM, "gguf writer: out of memory");
    (*out)->alignment = HLM_GGUF_DEFAULT_ALIGNMENT;
    return HLM_OK;
}

void hlm_gguf_writer_free(hlm_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    free(w->keys);
    free(w->tensors);
    hlm_buf_free(&w->kv);
    free(w);
}

static hlm_status put_u32(hlm_buf *b, uint32_t v) { return hlm_buf_append(b, &v, 4); }
static hlm_status put_u64(hlm_buf *b, uint64_t v) { return hlm_buf_append(b, &v, 8); }

static hlm_status put_str(hlm_buf *b, const char *s, size_t n)
{
    hlm_status st = put_u64(b, n);
    return st ? st : hlm_buf_append(b, s, n);
}

/* The first steps of every entry: a new key, and general.alignment only as a uint32 power of two.
 * raw is the value's encoding (for the alignment check). */
static hlm_status begin_kv(hlm_gguf_writer *w, const char *key, hlm_gguf_type type, const void *raw, hlm_error *err)
{
    if (!key) return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: metadata key is NULL");
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: metadata key '%s' added twice", key);
    if (!strcmp(key, "general.alignment")) {
        uint32_t a = 0;
        if (type == HLM_GGUF_UINT32) memcpy(&a, raw, 4);
        if (type != HLM_GGUF_UINT32 || !a || (a & (a - 1)))
            return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: general.alignment must be a uint32 power of two");
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return hlm_errorf(err, HLM_ERR_NOMEM, "gguf writer: out of memory");
        w->keys = k;
        w->cap_kv = cap;
    }
    return HLM_OK;
}

/* Records the key of the entry whose bytes start at mark; on failure drops those bytes. */
static hlm_status end_kv(hlm_gguf_writer *w, const char *key, const void *raw, size_t mark, hlm_status st,
                         hlm_error *err)
{
    char *k = st ? NULL : strdup(key);
    if (!k) {
        w->kv.len = mark;
        return hlm_errorf(err, HLM_ERR_NOMEM, "gguf writer: out of memory for metadata '%s'", key);
    }
    w->keys[w->n_kv++] = k;
    if (!strcmp(key, "general.alignment")) memcpy(&w->alignment, raw, 4);
    return HLM_OK;
}

static hlm_status add_scalar(hlm_gguf_writer *w, const char *key, hlm_gguf_type type, const void *v, hlm_error *err)
{
    hlm_status st = begin_kv(w, key, type, v, err);
    if (st) return st;
    size_t mark = w->kv.len;
    st = put_str(&w->kv, key, strlen(key));
    if (!st) st = put_u32(&w->kv, type);
    if (!st) st = hlm_buf_append(&w->kv, v, value_type_size[type]);
    return end_kv(w, key, v, mark, st, err);
}

hlm_status hlm_gguf_add_u8(hlm_gguf_writer *w, const char *key, uint8_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_UINT8, &v, err);
}
hlm_status hlm_gguf_add_i8(hlm_gguf_writer *w, const char *key, int8_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_INT8, &v, err);
}
hlm_status hlm_gguf_add_u16(hlm_gguf_writer *w, const char *key, uint16_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_UINT16, &v, err);
}
hlm_status hlm_gguf_add_i16(hlm_gguf_writer *w, const char *key, int16_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_INT16, &v, err);
}
hlm_status hlm_gguf_add_u32(hlm_gguf_writer *w, const char *key, uint32_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_UINT32, &v, err);
}
hlm_status hlm_gguf_add_i32(hlm_gguf_writer *w, const char *key, int32_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_INT32, &v, err);
}
hlm_status hlm_gguf_add_f32(hlm_gguf_writer *w, const char *key, float v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_FLOAT32, &v, err);
}
hlm_status hlm_gguf_add_bool(hlm_gguf_writer *w, const char *key, int v, hlm_error *err)
{
    uint8_t b = v != 0;
    return add_scalar(w, key, HLM_GGUF_BOOL, &b, err);
}
hlm_status hlm_gguf_add_u64(hlm_gguf_writer *w, const char *key, uint64_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_UINT64, &v, err);
}
hlm_status hlm_gguf_add_i64(hlm_gguf_writer *w, const char *key, int64_t v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_INT64, &v, err);
}
hlm_status hlm_gguf_add_f64(hlm_gguf_writer *w, const char *key, double v, hlm_error *err)
{
    return add_scalar(w, key, HLM_GGUF_FLOAT64, &v, err);
}

hlm_status hlm_gguf_add_strn(hlm_gguf_writer *w, const char *key, const char *s, size_t len, hlm_error *err)
{
    if (!s && len) return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: metadata '%s': NULL string", key ? key : "");
    hlm_status st = begin_kv(w, key, HLM_GGUF_STRING, NULL, err);
    if (st) return st;
    size_t mark = w->kv.len;
    st = put_str(&w->kv, key, strlen(key));
    if (!st) st = put_u32(&w->kv, HLM_GGUF_STRING);
    if (!st) st = put_str(&w->kv, s, len);
    return end_kv(w, key, NULL, mark, st, err);
}

hlm_status hlm_gguf_add_str(hlm_gguf_writer *w, const char *key, const char *s, hlm_error *err)
{
    return hlm_gguf_add_strn(w, key, s, s ? strlen(s) : 0, err);
}

static hlm_status begin_array(hlm_gguf_writer *w, const char *key, hlm_gguf_type elem_type, uint64_t n)
{
    hlm_status st = put_str(&w->kv, key, strlen(key));
    if (!st) st = put_u32(&w->kv, HLM_GGUF_ARRAY);
    if (!st) st = put_u32(&w->kv, elem_type);
    if (!st) st = put_u64(&w->kv, n);
    return st;
}

hlm_status hlm_gguf_add_array(hlm_gguf_writer *w, const char *key, hlm_gguf_type elem_type, const void *items,
                              size_t n, hlm_error *err)
{
    if ((unsigned)elem_type >= N_VALUE_TYPES || !value_type_size[elem_type] || (n && !items))
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "gguf writer: metadata '%s': arrays of %s go through hlm_gguf_add_array only for fixed-size "
                          "element types with items given",
                          key ? key : "", hlm_gguf_type_name(elem_type));
    hlm_status st = begin_kv(w, key, HLM_GGUF_ARRAY, NULL, err);
    if (st) return st;
    size_t mark = w->kv.len, size = value_type_size[elem_type];
    st = begin_array(w, key, elem_type, n);
    if (!st && n) st = n > SIZE_MAX / size ? HLM_ERR_NOMEM : hlm_buf_reserve(&w->kv, n * size);
    if (!st && n) {
        memcpy(w->kv.data + w->kv.len, items, n * size);
        if (elem_type == HLM_GGUF_BOOL)
            for (size_t i = 0; i < n; i++) w->kv.data[w->kv.len + i] = w->kv.data[w->kv.len + i] != 0;
        w->kv.len += n * size;
    }
    return end_kv(w, key, NULL, mark, st, err);
}

hlm_status hlm_gguf_add_str_array(hlm_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  size_t n, hlm_error *err)
{
    if (n && !strs) return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: metadata '%s': no strings", key ? key : "");
    for (size_t i = 0; i < n; i++)
        if (!strs[i] && (!lens || lens[i]))
            return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: metadata '%s': string %zu is NULL", key ? key : "",
                              i);
    hlm_status st = begin_kv(w, key, HLM_GGUF_ARRAY, NULL, err);
    if (st) return st;
    size_t mark = w->kv.len;
    st = begin_array(w, key, HLM_GGUF_STRING, n);
    for (size_t i = 0; i < n && !st; i++) st = put_str(&w->kv, strs[i], lens ? lens[i] : strlen(strs[i]));
    return end_kv(w, key, NULL, mark, st, err);
}

hlm_status hlm_gguf_add_kv(hlm_gguf_writer *w, const hlm_gguf_kv *kv, hlm_error *err)
{
    hlm_status st = begin_kv(w, kv->key, kv->type, kv->raw, err);
    if (st) return st;
    size_t mark = w->kv.len;
    if (kv->type == HLM_GGUF_ARRAY) {
        st = begin_array(w, kv->key, kv->elem_type, kv->count);
    } else {
        st = put_str(&w->kv, kv->key, strlen(kv->key));
        if (!st) st = put_u32(&w->kv, kv->type);
    }
    if (!st) st = hlm_buf_append(&w->kv, kv->raw, (size_t)kv->raw_len);
    return end_kv(w, kv->key, kv->raw, mark, st, err);
}

hlm_status hlm_gguf_add_tensor(hlm_gguf_writer *w, const char *name, hlm_ggml_type type, uint32_t n_dims,
                               const uint64_t *dims, const void *data, size_t nbytes, int copy, hlm_error *err)
{
    if (!name) return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor name is NULL");
    uint64_t n_elems, want;
    uint32_t bad = 0, be = 1;
    switch (tensor_size(type, n_dims, dims, &n_elems, &want, &bad)) {
    case SIZE_OK:
        break;
    case SIZE_TYPE:
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': unknown ggml type %d", name, (int)type);
    case SIZE_NDIMS:
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': %u dimensions (at most 4)", name, n_dims);
    case SIZE_ZERO_DIM:
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': dims[%u] is 0", name, bad);
    case SIZE_BLOCK:
        hlm_ggml_type_block(type, &be, NULL);
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': dims[0] %llu is not a multiple of the %s "
                          "block size %u", name, (unsigned long long)dims[0], ggml_types[type].name, be);
    case SIZE_OVERFLOW:
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': the size overflows", name);
    }
    if (want != nbytes)
        return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': %zu bytes given, %s of %llu elements takes %llu",
                          name, nbytes, ggml_types[type].name, (unsigned long long)n_elems, (unsigned long long)want);
    if (!data) return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s': no data", name);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return hlm_errorf(err, HLM_ERR_INVALID, "gguf writer: tensor '%s' added twice", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        w_tensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) return hlm_errorf(err, HLM_ERR_NOMEM, "gguf writer: out of memory");
        w->tensors = t;
        w->cap_tensors = cap;
    }
    w_tensor t = {.name = strdup(name), .type = type, .n_dims = n_dims, .data = data, .nbytes = nbytes};
    for (uint32_t d = 0; d < n_dims; d++) t.dims[d] = dims[d];
    if (t.name && copy) {
        if ((t.owned = malloc(nbytes))) memcpy(t.owned, data, nbytes);
        t.data = t.owned;
    }
    if (!t.name || (copy && !t.owned)) {
        free(t.name);
        free(t.owned);
        return hlm_errorf(err, HLM_ERR_NOMEM, "gguf writer: tensor '%s': out of memory", name);
    }
    w->tensors[w->n_tensors++] = t;
    return HLM_OK;
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int write_zeros(FILE *fp, uint64_t n)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, fp) != k) return 0;
        n -= k;
    }
    return 1;
}

hlm_status hlm_gguf_write(const hlm_gguf_writer *w, const char *path, hlm_error *err)
{
    /* header and tensor infos; offsets advance by each tensor's size padded to the alignment */
    hlm_buf head = {0};
    hlm_status st = hlm_buf_append(&head, GGUF_MAGIC, 4);
    if (!st) st = put_u32(&head, GGUF_VERSION);
    if (!st) st = put_u64(&head, w->n_tensors);
    if (!st) st = put_u64(&head, w->n_kv);
    hlm_buf infos = {0};
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors && !st; i++) {
        const w_tensor *t = &w->tensors[i];
        st = put_str(&infos, t->name, strlen(t->name));
        if (!st) st = put_u32(&infos, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && !st; d++) st = put_u64(&infos, t->dims[d]);
        if (!st) st = put_u32(&infos, (uint32_t)t->type);
        if (!st) st = put_u64(&infos, offset);
        offset += pad_to(t->nbytes, w->alignment);
    }
    if (st) {
        hlm_buf_free(&head);
        hlm_buf_free(&infos);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for the GGUF header", path);
    }
    hlm_atomic_file af;
    if ((st = hlm_atomic_open(&af, path, err))) {
        hlm_buf_free(&head);
        hlm_buf_free(&infos);
        return st;
    }
    uint64_t at = head.len + w->kv.len + infos.len;
    int ok = fwrite(head.data, 1, head.len, af.fp) == head.len &&
             (!w->kv.len || fwrite(w->kv.data, 1, w->kv.len, af.fp) == w->kv.len) &&
             (!infos.len || fwrite(infos.data, 1, infos.len, af.fp) == infos.len) &&
             write_zeros(af.fp, pad_to(at, w->alignment) - at);
    for (size_t i = 0; i < w->n_tensors && ok; i++) {
        const w_tensor *t = &w->tensors[i];
        ok = fwrite(t->data, 1, t->nbytes, af.fp) == t->nbytes &&
             write_zeros(af.fp, pad_to(t->nbytes, w->alignment) - t->nbytes);
    }
    hlm_buf_free(&head);
    hlm_buf_free(&infos);
    if (!ok) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        hlm_atomic_abort(&af);
        return st;
    }
    return hlm_atomic_commit(&af, err);
}
