/* Errors: every fallible library function returns an hlm_status and, on failure, fills an
 * hlm_error whose message names the file, the field and what was expected. The library never
 * exits or aborts on bad input; only src/cli prints and chooses the exit code. */
#ifndef HYPERLM_ERROR_H
#define HYPERLM_ERROR_H

#include <stddef.h>

typedef enum hlm_status {
    HLM_OK = 0,
    HLM_ERR_INVALID = 1,  /* bad argument or option value */
    HLM_ERR_IO = 2,       /* open/read/write/rename failed */
    HLM_ERR_FORMAT = 3,   /* input file does not follow its format */
    HLM_ERR_NOMEM = 4,    /* allocation failed */
    HLM_ERR_RANGE = 5,    /* value out of the allowed range (e.g. token id >= vocab size) */
} hlm_status;

typedef struct hlm_error {
    hlm_status code;
    char msg[1024];
} hlm_error;

/* Sets err (which may be NULL) to code and a printf-style message; returns code so that callers
 * can write `return hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));`. */
hlm_status hlm_errorf(hlm_error *err, hlm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("tokenizer.json: ") to an error already set. */
void hlm_error_prefix(hlm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void hlm_error_clear(hlm_error *err);
const char *hlm_status_name(hlm_status code);

#endif
