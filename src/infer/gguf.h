/* GGUF, llama.cpp's self-describing model file (docs/gguf.md): "GGUF", uint32 version (3; 2 is
 * read too), uint64 tensor count, uint64 metadata count; the metadata as (string key, uint32
 * value type, value); the tensor infos as (string name, uint32 n_dims <= 4, uint64 dims[n_dims]
 * innermost first, uint32 ggml type, uint64 offset into the data section); zero padding to the
 * alignment (metadata `general.alignment`, a uint32 power of two, default 32); the data section,
 * where every tensor starts at a multiple of the alignment. A string is a uint64 length and that
 * many bytes (no terminator); an array is a uint32 element type, a uint64 count and the elements.
 * Everything is little-endian.
 *
 * The reader maps the file and checks all of it before handing anything out (bounds, counts,
 * types, dims, alignment, overlaps, duplicates); strings and tensor data are views into the
 * mapping. The writer lays files out exactly as gguf-py's GGUFWriter does, so that the same
 * content gives the same bytes. */
#ifndef HYPERLM_INFER_GGUF_H
#define HYPERLM_INFER_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

#define HLM_GGUF_MAX_DIMS 4
#define HLM_GGUF_DEFAULT_ALIGNMENT 32u

/* Metadata value types, numbered as in the file. */
typedef enum hlm_gguf_type {
    HLM_GGUF_UINT8 = 0, HLM_GGUF_INT8 = 1, HLM_GGUF_UINT16 = 2, HLM_GGUF_INT16 = 3, HLM_GGUF_UINT32 = 4,
    HLM_GGUF_INT32 = 5, HLM_GGUF_FLOAT32 = 6, HLM_GGUF_BOOL = 7, HLM_GGUF_STRING = 8, HLM_GGUF_ARRAY = 9,
    HLM_GGUF_UINT64 = 10, HLM_GGUF_INT64 = 11, HLM_GGUF_FLOAT64 = 12,
} hlm_gguf_type;

/* Tensor types, numbered as ggml numbers them (gguf-py's GGMLQuantizationType). Ids 4, 5 (the
 * removed Q4_2, Q4_3) and 31..33, 36..38 are not types. */
typedef enum hlm_ggml_type {
    HLM_GGML_F32 = 0, HLM_GGML_F16 = 1, HLM_GGML_Q4_0 = 2, HLM_GGML_Q4_1 = 3, HLM_GGML_Q5_0 = 6,
    HLM_GGML_Q5_1 = 7, HLM_GGML_Q8_0 = 8, HLM_GGML_Q8_1 = 9, HLM_GGML_Q2_K = 10, HLM_GGML_Q3_K = 11,
    HLM_GGML_Q4_K = 12, HLM_GGML_Q5_K = 13, HLM_GGML_Q6_K = 14, HLM_GGML_Q8_K = 15, HLM_GGML_IQ2_XXS = 16,
    HLM_GGML_IQ2_XS = 17, HLM_GGML_IQ3_XXS = 18, HLM_GGML_IQ1_S = 19, HLM_GGML_IQ4_NL = 20, HLM_GGML_IQ3_S = 21,
    HLM_GGML_IQ2_S = 22, HLM_GGML_IQ4_XS = 23, HLM_GGML_I8 = 24, HLM_GGML_I16 = 25, HLM_GGML_I32 = 26,
    HLM_GGML_I64 = 27, HLM_GGML_F64 = 28, HLM_GGML_IQ1_M = 29, HLM_GGML_BF16 = 30, HLM_GGML_TQ1_0 = 34,
    HLM_GGML_TQ2_0 = 35, HLM_GGML_MXFP4 = 39, HLM_GGML_NVFP4 = 40, HLM_GGML_Q1_0 = 41,
} hlm_ggml_type;

/* A string in the file: len bytes at ptr, NOT NUL-terminated (it may contain NUL bytes). */
typedef struct hlm_gguf_str {
    const char *ptr;
    uint64_t len;
} hlm_gguf_str;

/* One metadata entry of an open file (read-only). */
typedef struct hlm_gguf_kv {
    const char *key;        /* NUL-terminated copy */
    hlm_gguf_type type;
    hlm_gguf_type elem_type; /* arrays only */
    uint64_t count;         /* arrays: number of elements; otherwise 1 */
    /* The value as encoded in the file, after its type field (arrays: after element type and
     * count, i.e. the elements). Not aligned: read through hlm_gguf_kv_value/elem or memcpy. */
    const uint8_t *raw;
    uint64_t raw_len;
    const uint64_t *str_at; /* arrays of strings: offset in raw of element i */
} hlm_gguf_kv;

/* A decoded value: u for unsigned types, i for signed ones, f for float32/float64 (float32 is
 * exact in a double), b (0 or 1) for bool, s for strings. */
typedef struct hlm_gguf_value {
    hlm_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        int b;
        hlm_gguf_str s;
    };
} hlm_gguf_value;

typedef struct hlm_gguf_tensor {
    const char *name;  /* NUL-terminated copy */
    hlm_ggml_type type;
    uint32_t n_dims;   /* 0..4; 0 is a scalar */
    uint64_t dims[HLM_GGUF_MAX_DIMS]; /* ggml order: dims[0] is the innermost (a row); unused ones are 1 */
    uint64_t n_elems;
    uint64_t offset;   /* in the data section; a multiple of the alignment */
    const void *data;  /* reader: into the mapping, aligned to the alignment within the file */
    size_t nbytes;     /* n_elems / block size * block bytes */
} hlm_gguf_tensor;

/* ---- types ---- */

const char *hlm_gguf_type_name(hlm_gguf_type t); /* "uint8" ... "float64"; "?" when unknown */
const char *hlm_ggml_type_name(hlm_ggml_type t); /* "F32", "Q4_0" ...; NULL when unknown */
/* Elements per block and bytes per block (F32: 1 and 4, Q4_0: 32 and 18); 0 when unknown. */
int hlm_ggml_type_block(hlm_ggml_type t, uint32_t *block_elems, uint32_t *block_bytes);
/* Byte size of a tensor: 0 (and *why set) when the type is unknown, n_dims > 4, a dimension is
 * 0, dims[0] is not a multiple of the block size, or the size overflows 63 bits. */
uint64_t hlm_ggml_tensor_bytes(hlm_ggml_type t, uint32_t n_dims, const uint64_t *dims, const char **why);

/* ---- reading ---- */

typedef struct hlm_gguf_file hlm_gguf_file;

hlm_status hlm_gguf_open(const char *path, hlm_gguf_file **out, hlm_error *err);
/* Same checks on bytes in memory (the fuzz target's entry); data must outlive the handle.
 * source names the bytes in error messages. */
hlm_status hlm_gguf_open_mem(const void *data, size_t len, const char *source, hlm_gguf_file **out,
                             hlm_error *err);
void hlm_gguf_close(hlm_gguf_file *f);

const char *hlm_gguf_source(const hlm_gguf_file *f);
uint32_t hlm_gguf_version(const hlm_gguf_file *f);
uint32_t hlm_gguf_alignment(const hlm_gguf_file *f);
uint64_t hlm_gguf_data_offset(const hlm_gguf_file *f); /* where the data section starts */
size_t hlm_gguf_file_size(const hlm_gguf_file *f);

/* Metadata in file order; find by key (NULL when absent). */
size_t hlm_gguf_kv_count(const hlm_gguf_file *f);
const hlm_gguf_kv *hlm_gguf_kv_at(const hlm_gguf_file *f, size_t i);
const hlm_gguf_kv *hlm_gguf_find(const hlm_gguf_file *f, const char *key);
/* The value of a scalar or string entry; of element i (< count) of an array. */
hlm_gguf_value hlm_gguf_kv_value(const hlm_gguf_kv *kv);
hlm_gguf_value hlm_gguf_kv_elem(const hlm_gguf_kv *kv, uint64_t i);
/* Element i of an array of strings ({NULL, 0} when kv is not one or i is out of range). */
hlm_gguf_str hlm_gguf_arr_str(const hlm_gguf_kv *kv, uint64_t i);

/* Typed getters. Errors (HLM_ERR_FORMAT) name the file and the key: missing key, wrong type, or a
 * value out of the target's range. The integer getters accept any integer type whose value fits
 * (converters write token ids as uint32 or int32); get_f32 accepts float32 and float64. */
hlm_status hlm_gguf_get_str(const hlm_gguf_file *f, const char *key, hlm_gguf_str *out, hlm_error *err);
hlm_status hlm_gguf_get_u32(const hlm_gguf_file *f, const char *key, uint32_t *out, hlm_error *err);
hlm_status hlm_gguf_get_i32(const hlm_gguf_file *f, const char *key, int32_t *out, hlm_error *err);
hlm_status hlm_gguf_get_u64(const hlm_gguf_file *f, const char *key, uint64_t *out, hlm_error *err);
hlm_status hlm_gguf_get_i64(const hlm_gguf_file *f, const char *key, int64_t *out, hlm_error *err);
hlm_status hlm_gguf_get_f32(const hlm_gguf_file *f, const char *key, float *out, hlm_error *err);
hlm_status hlm_gguf_get_bool(const hlm_gguf_file *f, const char *key, int *out, hlm_error *err);
/* An array whose elements are elem_type; elements through hlm_gguf_kv_elem / hlm_gguf_arr_str. */
hlm_status hlm_gguf_get_array(const hlm_gguf_file *f, const char *key, hlm_gguf_type elem_type,
                              const hlm_gguf_kv **out, hlm_error *err);

/* Tensors in file order; find by name (NULL when absent). */
size_t hlm_gguf_tensor_count(const hlm_gguf_file *f);
const hlm_gguf_tensor *hlm_gguf_tensor_at(const hlm_gguf_file *f, size_t i);
const hlm_gguf_tensor *hlm_gguf_find_tensor(const hlm_gguf_file *f, const char *name);

/* ---- writing ---- */

/* Collects metadata and tensors in the order they are added, then writes them atomically. The
 * alignment is that of a `general.alignment` entry (which must be a uint32 power of two) or 32.
 * Errors are HLM_ERR_INVALID naming the key or tensor (a key or name given twice, a bad type or
 * shape) or HLM_ERR_NOMEM. */
typedef struct hlm_gguf_writer hlm_gguf_writer;

hlm_status hlm_gguf_writer_new(hlm_gguf_writer **out, hlm_error *err);
void hlm_gguf_writer_free(hlm_gguf_writer *w);

hlm_status hlm_gguf_add_u8(hlm_gguf_writer *w, const char *key, uint8_t v, hlm_error *err);
hlm_status hlm_gguf_add_i8(hlm_gguf_writer *w, const char *key, int8_t v, hlm_error *err);
hlm_status hlm_gguf_add_u16(hlm_gguf_writer *w, const char *key, uint16_t v, hlm_error *err);
hlm_status hlm_gguf_add_i16(hlm_gguf_writer *w, const char *key, int16_t v, hlm_error *err);
hlm_status hlm_gguf_add_u32(hlm_gguf_writer *w, const char *key, uint32_t v, hlm_error *err);
hlm_status hlm_gguf_add_i32(hlm_gguf_writer *w, const char *key, int32_t v, hlm_error *err);
hlm_status hlm_gguf_add_f32(hlm_gguf_writer *w, const char *key, float v, hlm_error *err);
hlm_status hlm_gguf_add_bool(hlm_gguf_writer *w, const char *key, int v, hlm_error *err);
hlm_status hlm_gguf_add_u64(hlm_gguf_writer *w, const char *key, uint64_t v, hlm_error *err);
hlm_status hlm_gguf_add_i64(hlm_gguf_writer *w, const char *key, int64_t v, hlm_error *err);
hlm_status hlm_gguf_add_f64(hlm_gguf_writer *w, const char *key, double v, hlm_error *err);
hlm_status hlm_gguf_add_str(hlm_gguf_writer *w, const char *key, const char *s, hlm_error *err);
hlm_status hlm_gguf_add_strn(hlm_gguf_writer *w, const char *key, const char *s, size_t len, hlm_error *err);
/* An array of a fixed-size type: items is a C array of n values of that type (uint8_t for bool,
 * any non-zero is written as 1). */
hlm_status hlm_gguf_add_array(hlm_gguf_writer *w, const char *key, hlm_gguf_type elem_type, const void *items,
                              size_t n, hlm_error *err);
/* An array of strings (a tokenizer's vocabulary): lens NULL means NUL-terminated strings. */
hlm_status hlm_gguf_add_str_array(hlm_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  size_t n, hlm_error *err);
/* A copy of an entry of an open file, with its exact type (used to rewrite files). */
hlm_status hlm_gguf_add_kv(hlm_gguf_writer *w, const hlm_gguf_kv *kv, hlm_error *err);

/* A tensor: dims in ggml order (dims[0] innermost), nbytes must equal the type's size for them.
 * copy = 0 keeps a pointer to data, which must then stay valid until hlm_gguf_write returns. */
hlm_status hlm_gguf_add_tensor(hlm_gguf_writer *w, const char *name, hlm_ggml_type type, uint32_t n_dims,
                               const uint64_t *dims, const void *data, size_t nbytes, int copy, hlm_error *err);

/* Writes version 3 to path atomically (temp file in the same folder, fsync, rename). */
hlm_status hlm_gguf_write(const hlm_gguf_writer *w, const char *path, hlm_error *err);

#endif
