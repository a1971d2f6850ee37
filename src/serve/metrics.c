/* Prometheus metrics (metrics.h). */
#include "serve/metrics.h"

#include <string.h>

static const int codes[HLM_METRIC_CODES] = {200, 400, 401, 404, 405, 408, 413, 429, 500, 503, 504, 0};
static const double bounds[HLM_METRIC_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                  1, 2.5, 5, 10, 30, 60, 120};
static const char *const names[HLM_EP_COUNT] = {"/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                                                "/tokenize", "/detokenize", "/v1/models", "/health", "/metrics",
                                                "static", "other"};

const char *hlm_endpoint_name(int ep) { return ep >= 0 && ep < HLM_EP_COUNT ? names[ep] : "other"; }

void hlm_metrics_init(hlm_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void hlm_metrics_destroy(hlm_metrics *m) { pthread_mutex_destroy(&m->mu); }

static void observe(hlm_histogram *h, double v)
{
    int b = 0;
    while (b < HLM_METRIC_BUCKETS && v > bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void hlm_metrics_request(hlm_metrics *m, int ep, int status, double seconds)
{
    int c = 0;
    while (c < HLM_METRIC_CODES - 1 && codes[c] != status) c++; /* the last: any other */
    if (ep < 0 || ep >= HLM_EP_COUNT) ep = HLM_EP_OTHER;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][c]++;
    observe(&m->latency, seconds);
    pthread_mutex_unlock(&m->mu);
}

void hlm_metrics_tokens(hlm_metrics *m, long long prompt, long long cached, long long generated, double ttft)
{
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += prompt;
    m->cached_tokens += cached;
    m->generated_tokens += generated;
    if (ttft >= 0) observe(&m->ttft, ttft);
    pthread_mutex_unlock(&m->mu);
}

void hlm_metrics_count(hlm_metrics *m, long long *counter)
{
    pthread_mutex_lock(&m->mu);
    (*counter)++;
    pthread_mutex_unlock(&m->mu);
}

static hlm_status histogram(hlm_buf *out, const char *name, const char *help, const hlm_histogram *h)
{
    hlm_status st = hlm_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long long cum = 0;
    for (int b = 0; st == HLM_OK && b < HLM_METRIC_BUCKETS; b++) {
        cum += h->counts[b];
        st = hlm_buf_appendf(out, "%s_bucket{le=\"%g\"} %lld\n", name, bounds[b], cum);
    }
    cum += h->counts[HLM_METRIC_BUCKETS];
    if (st == HLM_OK)
        st = hlm_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.6f\n%s_count %lld\n", name, cum, name, h->sum,
                             name, h->n);
    return st;
}

static hlm_status counter(hlm_buf *out, const char *name, const char *help, long long v)
{
    return hlm_buf_appendf(out, "# HELP %s %s\n# TYPE %s counter\n%s %lld\n", name, help, name, name, v);
}

static hlm_status gauge(hlm_buf *out, const char *name, const char *help, long long v)
{
    return hlm_buf_appendf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

hlm_status hlm_metrics_render(hlm_metrics *m, const hlm_metrics_gauges *g, hlm_buf *out)
{
    pthread_mutex_lock(&m->mu);
    hlm_metrics c = *m; /* a consistent copy; the mutex in it is not used */
    pthread_mutex_unlock(&m->mu);
    hlm_status st = hlm_buf_appendf(out, "# HELP hyperlm_requests_total HTTP requests answered, by endpoint and status.\n"
                                         "# TYPE hyperlm_requests_total counter\n");
    for (int e = 0; st == HLM_OK && e < HLM_EP_COUNT; e++)
        for (int k = 0; st == HLM_OK && k < HLM_METRIC_CODES; k++)
            if (c.requests[e][k]) {
                if (codes[k]) st = hlm_buf_appendf(out, "hyperlm_requests_total{endpoint=\"%s\",code=\"%d\"} %lld\n", names[e], codes[k], c.requests[e][k]);
                else st = hlm_buf_appendf(out, "hyperlm_requests_total{endpoint=\"%s\",code=\"other\"} %lld\n", names[e], c.requests[e][k]);
            }
    if (st == HLM_OK) st = counter(out, "hyperlm_prompt_tokens_total", "Prompt tokens of generations.", c.prompt_tokens);
    if (st == HLM_OK)
        st = counter(out, "hyperlm_prompt_tokens_cached_total", "Prompt tokens reused from the prefix cache.", c.cached_tokens);
    if (st == HLM_OK) st = counter(out, "hyperlm_generation_tokens_total", "Tokens generated.", c.generated_tokens);
    if (st == HLM_OK)
        st = counter(out, "hyperlm_rejected_queue_full_total", "Requests refused with 429 (queue full).", c.rejected_queue_full);
    if (st == HLM_OK)
        st = counter(out, "hyperlm_cancelled_total", "Generations cut short: the client left, the deadline passed, or the server shut down.", c.cancelled);
    if (st == HLM_OK) st = gauge(out, "hyperlm_queue_depth", "Generations waiting for a sequence.", g->queued);
    if (st == HLM_OK) st = gauge(out, "hyperlm_running", "Generations being decoded.", g->running);
    if (st == HLM_OK) st = gauge(out, "hyperlm_parallel", "Sequences decoded together at most.", g->parallel);
    if (st == HLM_OK) st = gauge(out, "hyperlm_connections", "Open HTTP connections.", g->connections);
    if (st == HLM_OK)
        st = histogram(out, "hyperlm_request_duration_seconds", "Seconds from a request's arrival to its end.", &c.latency);
    if (st == HLM_OK)
        st = histogram(out, "hyperlm_time_to_first_token_seconds", "Seconds from a generation's arrival to its first token.",
                       &c.ttft);
    return st;
}
