/* safetensors (Hugging Face's weight format): 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
 * then the tensor bytes. The reader maps the file and checks everything before anyone reads a
 * tensor: header length within the file, valid JSON, known dtypes, shapes whose byte size equals
 * the offsets, offsets inside the data area, in bounds and not overlapping. */
#ifndef HYPERLM_MODEL_SAFETENSORS_H
#define HYPERLM_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

typedef enum hlm_dtype {
    HLM_DT_F32, HLM_DT_F16, HLM_DT_BF16, HLM_DT_F64, HLM_DT_I64, HLM_DT_I32, HLM_DT_I16,
    HLM_DT_I8, HLM_DT_U8, HLM_DT_U16, HLM_DT_U32, HLM_DT_U64, HLM_DT_BOOL
} hlm_dtype;

typedef struct hlm_st_tensor {
    const char *name;
    hlm_dtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;  /* into the mapping (reader) or the caller's memory (writer) */
    size_t nbytes;
} hlm_st_tensor;

typedef struct hlm_st_file hlm_st_file;

hlm_status hlm_st_open(const char *path, hlm_st_file **out, hlm_error *err);
/* Same checks on bytes in memory (the fuzz target's entry); data must outlive the handle. */
hlm_status hlm_st_open_mem(const void *data, size_t len, const char *source, hlm_st_file **out,
                           hlm_error *err);
void hlm_st_close(hlm_st_file *f);
int hlm_st_count(const hlm_st_file *f);
const hlm_st_tensor *hlm_st_get(const hlm_st_file *f, int i);
const hlm_st_tensor *hlm_st_find(const hlm_st_file *f, const char *name);
/* Metadata value for key, or NULL. */
const char *hlm_st_metadata(const hlm_st_file *f, const char *key);
/* Copies tensor name as f32 into dst (n floats expected, shape must match ndim/shape given):
 * converts from f16/bf16/f64; errors name the file, the tensor, and expected vs found shape. */
hlm_status hlm_st_read_f32(const hlm_st_file *f, const char *name, int ndim, const int64_t *shape,
                           float *dst, hlm_error *err);

/* Writes tensors (in the given order, offsets packed, header padded with spaces to a multiple of
 * 8 bytes) and metadata pairs (meta_keys[i] -> meta_values[i]) atomically to path. */
hlm_status hlm_st_write(const char *path, const hlm_st_tensor *tensors, int n,
                        const char *const *meta_keys, const char *const *meta_values, int n_meta,
                        hlm_error *err);
const char *hlm_dtype_name(hlm_dtype dt);
size_t hlm_dtype_size(hlm_dtype dt);

#endif
