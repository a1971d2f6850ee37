/* The server's Prometheus metrics (text exposition format 0.0.4): requests by endpoint and status,
 * prompt, cached and generated tokens, and histograms of request latency and time to first token.
 * Labels come from fixed sets (the server's endpoints), so the number of series is bounded
 * whatever clients send. Thread-safe. */
#ifndef HYPERLM_SERVE_METRICS_H
#define HYPERLM_SERVE_METRICS_H

#include <pthread.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

enum { HLM_EP_COMPLETIONS, HLM_EP_CHAT, HLM_EP_EMBEDDINGS, HLM_EP_TOKENIZE, HLM_EP_DETOKENIZE, HLM_EP_MODELS,
       HLM_EP_HEALTH, HLM_EP_METRICS, HLM_EP_STATIC, HLM_EP_OTHER, HLM_EP_COUNT };
enum { HLM_METRIC_CODES = 12, HLM_METRIC_BUCKETS = 14 };

typedef struct hlm_histogram {
    long long counts[HLM_METRIC_BUCKETS + 1]; /* the last: above every bound (+Inf only) */
    double sum;
    long long n;
} hlm_histogram;

typedef struct hlm_metrics {
    pthread_mutex_t mu;
    long long requests[HLM_EP_COUNT][HLM_METRIC_CODES];
    long long prompt_tokens, cached_tokens, generated_tokens, rejected_queue_full, cancelled;
    hlm_histogram latency, ttft;
} hlm_metrics;

const char *hlm_endpoint_name(int ep);
void hlm_metrics_init(hlm_metrics *m);
void hlm_metrics_destroy(hlm_metrics *m);
/* One answered request: its endpoint, HTTP status and seconds from arrival to the end. */
void hlm_metrics_request(hlm_metrics *m, int ep, int status, double seconds);
/* One generation's tokens, and its time to first token (< 0: none came). */
void hlm_metrics_tokens(hlm_metrics *m, long long prompt, long long cached, long long generated, double ttft);
void hlm_metrics_count(hlm_metrics *m, long long *counter);

typedef struct hlm_metrics_gauges {
    int queued, running, parallel, connections;
} hlm_metrics_gauges;
/* Appends the exposition of everything to out. */
hlm_status hlm_metrics_render(hlm_metrics *m, const hlm_metrics_gauges *g, hlm_buf *out);

#endif
