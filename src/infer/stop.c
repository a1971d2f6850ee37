/* Stopping (stop.h): end-of-generation token sets and the stop-string filter. */
#include "infer/stop.h"

#include <stdlib.h>
#include <string.h>

void hlm_eog_add(hlm_eog *e, int32_t id)
{
    if (id < 0 || hlm_eog_has(e, id) || e->n >= HLM_EOG_MAX) return;
    e->ids[e->n++] = id;
}

int hlm_eog_has(const hlm_eog *e, int32_t id)
{
    for (int i = 0; i < e->n; i++)
        if (e->ids[i] == id) return 1;
    return 0;
}

hlm_status hlm_stop_init(hlm_stop *st, const char *const *strs, int n, hlm_error *err)
{
    memset(st, 0, sizeof *st);
    if (n <= 0) return HLM_OK;
    st->strs = calloc((size_t)n, sizeof *st->strs);
    st->lens = calloc((size_t)n, sizeof *st->lens);
    if (!st->strs || !st->lens) {
        hlm_stop_free(st);
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(strs[i]);
        if (len == 0) {
            hlm_stop_free(st);
            return hlm_errorf(err, HLM_ERR_INVALID, "stop strings: string %d is empty", i + 1);
        }
        st->strs[i] = strdup(strs[i]);
        if (!st->strs[i]) {
            hlm_stop_free(st);
            return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        }
        st->lens[i] = len;
        st->n = i + 1;
        if (len > st->max_len) st->max_len = len;
    }
    return HLM_OK;
}

void hlm_stop_free(hlm_stop *st)
{
    for (int i = 0; i < st->n; i++) free(st->strs[i]);
    free(st->strs);
    free(st->lens);
    hlm_buf_free(&st->held);
    memset(st, 0, sizeof *st);
}

void hlm_stop_reset(hlm_stop *st)
{
    st->held.len = 0;
    st->stopped = 0;
}

/* Bytes at the end of b[0..n) that start a UTF-8 character not yet complete (0 when the end is a
 * whole character or bytes that cannot become one). */
static size_t incomplete_utf8_tail(const uint8_t *b, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = b[n - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        if (c >= 0xF5) need = 1;
        return need > back ? back : 0;
    }
    return 0;
}

hlm_status hlm_stop_push(hlm_stop *st, const void *text, size_t len, hlm_buf *out, int *stopped, hlm_error *err)
{
    *stopped = st->stopped;
    if (st->stopped) return HLM_OK;
    if (hlm_buf_append(&st->held, text, len)) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    const uint8_t *h = st->held.data;
    size_t n = st->held.len;
    if (n == 0) return HLM_OK;
    /* the earliest start of any stop string */
    size_t first = n;
    for (int i = 0; i < st->n; i++) {
        const uint8_t *at = memmem(h, n, st->strs[i], st->lens[i]);
        if (at && (size_t)(at - h) < first) first = (size_t)(at - h);
    }
    if (first < n) {
        if (hlm_buf_append(out, h, first)) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        st->held.len = 0;
        st->stopped = *stopped = 1;
        return HLM_OK;
    }
    /* hold back the longest tail that is a proper prefix of a stop string */
    size_t hold = 0;
    for (size_t l = st->max_len > 0 ? st->max_len - 1 : 0; l > 0 && !hold; l--) {
        if (l > n) continue;
        for (int i = 0; i < st->n; i++)
            if (st->lens[i] > l && !memcmp(h + n - l, st->strs[i], l)) {
                hold = l;
                break;
            }
    }
    size_t emit = n - hold;
    if (hold == 0) emit -= incomplete_utf8_tail(h, emit);
    if (hlm_buf_append(out, h, emit)) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    memmove(st->held.data, h + emit, n - emit);
    st->held.len = n - emit;
    return HLM_OK;
}

hlm_status hlm_stop_flush(hlm_stop *st, hlm_buf *out, hlm_error *err)
{
    if (!st->stopped && st->held.len && hlm_buf_append(out, st->held.data, st->held.len))
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    st->held.len = 0;
    return HLM_OK;
}
