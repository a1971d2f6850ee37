/* Progress for long work. On a terminal: a bar with percentage, rate and ETA, redrawn at most
 * 10 times a second. Otherwise (logs, CI): one line every interval (default 10 s) and at the end.
 * Silent when the log level is below info. Not thread-safe: update it from one thread. */
#ifndef HYPERLM_PROGRESS_H
#define HYPERLM_PROGRESS_H

#include <stdint.h>

typedef struct hlm_progress {
    const char *label;
    const char *unit;      /* "B" formats as bytes (KB/MB/GB), anything else as a count */
    uint64_t total;        /* 0 if unknown: no bar or ETA, only the rate */
    uint64_t done;
    double start_s, last_draw_s;
    double interval_s;     /* for the non-terminal mode */
    int tty;
    int active;
} hlm_progress;

void hlm_progress_start(hlm_progress *p, const char *label, uint64_t total, const char *unit);
void hlm_progress_update(hlm_progress *p, uint64_t done);
void hlm_progress_add(hlm_progress *p, uint64_t delta);
void hlm_progress_finish(hlm_progress *p);
/* Seconds from a monotonic clock. */
double hlm_now_s(void);
/* CPU seconds of the calling thread: per-core costs that other load on the machine does not
 * inflate. */
double hlm_thread_cpu_s(void);
/* Peak resident memory of this process in bytes (from getrusage). */
uint64_t hlm_peak_rss_bytes(void);

#endif
