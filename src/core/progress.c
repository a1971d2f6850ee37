#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hyperlm/log.h"
#include "hyperlm/progress.h"

double hlm_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double hlm_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t hlm_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

static void fmt_amount(char *out, size_t n, double v, const char *unit)
{
    if (strcmp(unit, "B") == 0) {
        const char *u[] = {"B", "KB", "MB", "GB", "TB"};
        int i = 0;
        while (v >= 1000.0 && i < 4) {
            v /= 1000.0;
            i++;
        }
        snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    } else if (v >= 1e6) {
        snprintf(out, n, "%.2fM %s", v / 1e6, unit);
    } else if (v >= 1e4) {
        snprintf(out, n, "%.1fk %s", v / 1e3, unit);
    } else {
        snprintf(out, n, "%.0f %s", v, unit);
    }
}

static void fmt_eta(char *out, size_t n, double s)
{
    if (s < 0 || s > 1e7) {
        snprintf(out, n, "?");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%dh%02dm", t / 3600, t / 60 % 60);
    else snprintf(out, n, "%dm%02ds", t / 60, t % 60);
}

static void draw(hlm_progress *p, double now, int final)
{
    double el = now - p->start_s;
    double rate = el > 0 ? (double)p->done / el : 0;
    char done_s[32], rate_s[48], eta_s[16];
    fmt_amount(done_s, sizeof done_s, (double)p->done, p->unit);
    fmt_amount(rate_s, sizeof rate_s, rate, p->unit);
    if (p->tty) {
        char bar[41] = {0};
        int pct = 0;
        if (p->total) {
            double f = (double)p->done / (double)p->total;
            if (f > 1) f = 1;
            pct = (int)(f * 100);
            int fill = (int)(f * 30);
            for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
            fmt_eta(eta_s, sizeof eta_s, rate > 0 ? (double)(p->total - p->done) / rate : -1);
            fprintf(stderr, "\r%s [%s] %3d%% %s  %s/s  ETA %s   ", p->label, bar, pct, done_s, rate_s,
                    final ? "0m00s" : eta_s);
        } else {
            fprintf(stderr, "\r%s %s  %s/s  %.1fs   ", p->label, done_s, rate_s, el);
        }
        if (final) fputc('\n', stderr);
    } else {
        if (p->total) {
            fmt_eta(eta_s, sizeof eta_s,
                    final ? el : rate > 0 ? (double)(p->total - p->done) / rate : -1);
            char total_s[32];
            fmt_amount(total_s, sizeof total_s, (double)p->total, p->unit);
            hlm_log(HLM_LOG_INFO, "%s: %s of %s (%.0f%%), %s/s, %s %s", p->label, done_s, total_s,
                    100.0 * (double)p->done / (double)p->total, rate_s, final ? "done in" : "ETA",
                    eta_s);
        } else {
            hlm_log(HLM_LOG_INFO, "%s: %s, %s/s, %.1fs%s", p->label, done_s, rate_s, el,
                    final ? " (done)" : "");
        }
    }
    fflush(stderr);
    p->last_draw_s = now;
}

void hlm_progress_start(hlm_progress *p, const char *label, uint64_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit ? unit : "";
    p->total = total;
    p->interval_s = 10.0;
    p->tty = isatty(2);
    p->active = hlm_log_get_level() >= HLM_LOG_INFO;
    p->start_s = p->last_draw_s = hlm_now_s();
}

void hlm_progress_update(hlm_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->active) return;
    double now = hlm_now_s();
    if (now - p->last_draw_s >= (p->tty ? 0.1 : p->interval_s)) draw(p, now, 0);
}

void hlm_progress_add(hlm_progress *p, uint64_t delta) { hlm_progress_update(p, p->done + delta); }

void hlm_progress_finish(hlm_progress *p)
{
    if (!p->active) return;
    double now = hlm_now_s();
    /* Short jobs finish silently off a terminal: one line per job that took more than a second. */
    if (p->tty || now - p->start_s >= 1.0) draw(p, now, 1);
    p->active = 0;
}
