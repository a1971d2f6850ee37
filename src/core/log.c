#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hyperlm/log.h"

static int g_level = -1;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int hlm_log_level_from_name(const char *name, hlm_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (hlm_log_level)i;
            return 1;
        }
    return 0;
}

hlm_log_level hlm_log_get_level(void)
{
    if (g_level < 0) {
        hlm_log_level l = HLM_LOG_INFO;
        const char *env = getenv("HYPERLM_LOG");
        if (env) hlm_log_level_from_name(env, &l);
        g_level = (int)l;
    }
    return (hlm_log_level)g_level;
}

void hlm_log_set_level(hlm_log_level level) { g_level = (int)level; }

void hlm_log(hlm_log_level level, const char *fmt, ...)
{
    if ((int)level > (int)hlm_log_get_level()) return;
    char line[2048];
    int n = snprintf(line, sizeof line, "hyperlm: %s%s", level <= HLM_LOG_WARN ? level_names[level] : "",
                     level <= HLM_LOG_WARN ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
