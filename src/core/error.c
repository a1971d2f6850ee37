#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hyperlm/error.h"

hlm_status hlm_errorf(hlm_error *err, hlm_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void hlm_error_prefix(hlm_error *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t m = strnlen(old, sizeof old);
    if (m > sizeof err->msg - 1 - n) m = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = 0;
}

void hlm_error_clear(hlm_error *err)
{
    if (!err) return;
    err->code = HLM_OK;
    err->msg[0] = 0;
}

const char *hlm_status_name(hlm_status code)
{
    switch (code) {
    case HLM_OK: return "ok";
    case HLM_ERR_INVALID: return "invalid argument";
    case HLM_ERR_IO: return "i/o error";
    case HLM_ERR_FORMAT: return "format error";
    case HLM_ERR_NOMEM: return "out of memory";
    case HLM_ERR_RANGE: return "out of range";
    }
    return "unknown error";
}
