#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/buf.h"

static hlm_status grow(void **data, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return HLM_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return HLM_ERR_NOMEM;
        c *= 2;
    }
    void *p = realloc(*data, c * elem);
    if (!p) return HLM_ERR_NOMEM;
    *data = p;
    *cap = c;
    return HLM_OK;
}

hlm_status hlm_buf_reserve(hlm_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) return HLM_ERR_NOMEM;
    return grow((void **)&b->data, &b->cap, b->len + extra + 1, 1);
}

hlm_status hlm_buf_append(hlm_buf *b, const void *data, size_t n)
{
    if (hlm_buf_reserve(b, n)) return HLM_ERR_NOMEM;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    return HLM_OK;
}

hlm_status hlm_buf_appendf(hlm_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hlm_buf_reserve(b, (size_t)n)) {
        va_end(ap2);
        return HLM_ERR_NOMEM;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return HLM_OK;
}

hlm_status hlm_buf_terminate(hlm_buf *b)
{
    if (hlm_buf_reserve(b, 0)) return HLM_ERR_NOMEM;
    b->data[b->len] = 0;
    return HLM_OK;
}

void hlm_buf_free(hlm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

hlm_status hlm_ids_reserve(hlm_ids *v, size_t extra)
{
    if (extra > SIZE_MAX / 8 - v->len) return HLM_ERR_NOMEM;
    return grow((void **)&v->data, &v->cap, v->len + extra, sizeof(uint32_t));
}

hlm_status hlm_ids_push(hlm_ids *v, uint32_t id)
{
    if (v->len == v->cap && hlm_ids_reserve(v, 1)) return HLM_ERR_NOMEM;
    v->data[v->len++] = id;
    return HLM_OK;
}

hlm_status hlm_ids_append(hlm_ids *v, const uint32_t *ids, size_t n)
{
    if (hlm_ids_reserve(v, n)) return HLM_ERR_NOMEM;
    if (n) memcpy(v->data + v->len, ids, n * sizeof *ids);
    v->len += n;
    return HLM_OK;
}

void hlm_ids_free(hlm_ids *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
