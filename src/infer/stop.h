/* When generation stops: end-of-generation tokens, and stop strings found in the output text.
 *
 * Stop strings (OpenAI's `stop`): text is pushed as it is decoded; the filter passes on what can
 * no longer be part of a stop string and holds back the rest: the longest tail of the text so far
 * that is a prefix of some stop string, and an incomplete UTF-8 character at the end. When a
 * stop string appears (possibly across many pushes), the text before it is passed on, the stop
 * string and anything after it are dropped, and the filter reports the stop. Bytes are compared
 * as they are (no normalization).
 *
 * Invariants: held-back text is never longer than the longest stop string minus one byte, plus
 * three bytes of an incomplete character; everything passed on, concatenated, is the pushed
 * text up to the start of the first occurrence of any stop string (all of it, after
 * hlm_stop_flush, when none occurs). */
#ifndef HYPERLM_INFER_STOP_H
#define HYPERLM_INFER_STOP_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

/* ---- end-of-generation tokens ------------------------------------------------------------- */

#define HLM_EOG_MAX 8

typedef struct hlm_eog {
    int32_t ids[HLM_EOG_MAX];
    int n;
} hlm_eog;

/* Adds id unless it is negative, already there, or the set is full. */
void hlm_eog_add(hlm_eog *e, int32_t id);
int hlm_eog_has(const hlm_eog *e, int32_t id);

/* ---- stop strings --------------------------------------------------------------------------- */

typedef struct hlm_stop {
    char **strs;
    size_t *lens;
    int n;
    size_t max_len;
    hlm_buf held;
    int stopped;
} hlm_stop;

/* Copies the n stop strings (n may be 0: the filter then passes everything on). HLM_ERR_INVALID
 * for an empty string. Zero-initialize st first or call this once per st; free with hlm_stop_free. */
hlm_status hlm_stop_init(hlm_stop *st, const char *const *strs, int n, hlm_error *err);
void hlm_stop_free(hlm_stop *st);
/* Forgets held text and a past stop (a new generation with the same strings). */
void hlm_stop_reset(hlm_stop *st);
/* Pushes text[0..len); appends to out what can be shown. Sets *stopped to 1 when a stop string
 * has appeared (out then ends where it starts); pushes after a stop append nothing. */
hlm_status hlm_stop_push(hlm_stop *st, const void *text, size_t len, hlm_buf *out, int *stopped, hlm_error *err);
/* End of the generation without a stop string: appends the held-back text to out. */
hlm_status hlm_stop_flush(hlm_stop *st, hlm_buf *out, hlm_error *err);

#endif
