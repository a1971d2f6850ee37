/* Growable arrays: bytes (hlm_buf) and token ids (hlm_ids). Zero-initialize to start empty;
 * append functions return HLM_ERR_NOMEM on allocation failure and leave the contents intact. */
#ifndef HYPERLM_BUF_H
#define HYPERLM_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

typedef struct hlm_buf {
    uint8_t *data;
    size_t len, cap;
} hlm_buf;

typedef struct hlm_ids {
    uint32_t *data;
    size_t len, cap;
} hlm_ids;

hlm_status hlm_buf_reserve(hlm_buf *b, size_t extra);
hlm_status hlm_buf_append(hlm_buf *b, const void *data, size_t n);
hlm_status hlm_buf_appendf(hlm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps data[len] == 0 (not counted in len) so the bytes can be used as a C string. */
hlm_status hlm_buf_terminate(hlm_buf *b);
void hlm_buf_free(hlm_buf *b);

hlm_status hlm_ids_reserve(hlm_ids *v, size_t extra);
hlm_status hlm_ids_push(hlm_ids *v, uint32_t id);
hlm_status hlm_ids_append(hlm_ids *v, const uint32_t *ids, size_t n);
void hlm_ids_free(hlm_ids *v);

#endif
