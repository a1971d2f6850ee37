/* Logging with levels to standard error. Level from hlm_log_set_level or HYPERLM_LOG
 * (error|warn|info|debug); default info. Thread-safe (one fprintf per line). */
#ifndef HYPERLM_LOG_H
#define HYPERLM_LOG_H

typedef enum hlm_log_level { HLM_LOG_ERROR, HLM_LOG_WARN, HLM_LOG_INFO, HLM_LOG_DEBUG } hlm_log_level;

void hlm_log_set_level(hlm_log_level level);
hlm_log_level hlm_log_get_level(void);
int hlm_log_level_from_name(const char *name, hlm_log_level *out);
void hlm_log(hlm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define HLM_ERROR(...) hlm_log(HLM_LOG_ERROR, __VA_ARGS__)
#define HLM_WARN(...) hlm_log(HLM_LOG_WARN, __VA_ARGS__)
#define HLM_INFO(...) hlm_log(HLM_LOG_INFO, __VA_ARGS__)
#define HLM_DEBUG(...) hlm_log(HLM_LOG_DEBUG, __VA_ARGS__)

#endif
