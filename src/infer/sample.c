/* Token sampling (sample.h): logit bias, repeat / presence / frequency penalties over a bounded
 * history, then greedy or temperature with top-k, top-p (nucleus, Holtzman et al. 2019) and min-p
 * (Nguyen et al. 2024), drawn from a seeded SplitMix64 stream. */
#include "infer/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

typedef struct prob_index {
    float p;
    int i;
} prob_index;

struct hlm_sampler {
    hlm_sampler_params p;
    int V;
    uint64_t rng;
    float *work;      /* (V) the logits after bias and penalties */
    prob_index *pi;   /* (V) candidates */
    int32_t *ring;    /* (repeat_last_n) the repeat window, oldest at ring_pos once full */
    int ring_len, ring_pos;
    uint32_t *count;  /* (V) times each token was accepted as generated */
    int32_t *seen;    /* the ids whose count > 0, n_seen of them */
    int n_seen;
    uint32_t *mark;   /* (V) stamp of the last call that penalized each id: once per distinct id */
    uint32_t stamp;
    int32_t *bias_id; /* the logit biases, n_bias of them */
    float *bias;
    int n_bias;
};

void hlm_sampler_params_default(hlm_sampler_params *p)
{
    *p = (hlm_sampler_params){.temperature = 0.8f,
                              .top_k = 40,
                              .top_p = 0.95f,
                              .min_p = 0.0f,
                              .repeat_penalty = 1.0f,
                              .repeat_last_n = 64,
                              .presence_penalty = 0.0f,
                              .frequency_penalty = 0.0f,
                              .seed = 1337};
}

hlm_status hlm_sampler_params_check(const hlm_sampler_params *p, hlm_error *err)
{
    if (!(p->temperature >= 0) || !isfinite(p->temperature))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: temperature must be a number >= 0, got %g", p->temperature);
    if (!(p->top_p >= 0 && p->top_p <= 1))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: top_p must be in [0, 1], got %g", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: min_p must be in [0, 1], got %g", p->min_p);
    if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: repeat_penalty must be a number > 0, got %g",
                          p->repeat_penalty);
    if (p->repeat_last_n < 0)
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: repeat_last_n must be >= 0, got %d", p->repeat_last_n);
    if (!(p->presence_penalty >= -2 && p->presence_penalty <= 2))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: presence_penalty must be in [-2, 2], got %g",
                          p->presence_penalty);
    if (!(p->frequency_penalty >= -2 && p->frequency_penalty <= 2))
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: frequency_penalty must be in [-2, 2], got %g",
                          p->frequency_penalty);
    return HLM_OK;
}

hlm_status hlm_sampler_new(const hlm_sampler_params *p, int vocab_size, hlm_sampler **out, hlm_error *err)
{
    *out = NULL;
    hlm_status st = hlm_sampler_params_check(p, err);
    if (st) return st;
    if (vocab_size < 1) return hlm_errorf(err, HLM_ERR_RANGE, "sampling: vocab_size must be >= 1, got %d", vocab_size);
    hlm_sampler *s = calloc(1, sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->V = vocab_size;
    s->rng = p->seed;
    size_t V = (size_t)vocab_size;
    s->work = malloc(V * sizeof *s->work);
    s->pi = malloc(V * sizeof *s->pi);
    s->count = calloc(V, sizeof *s->count);
    s->seen = malloc(V * sizeof *s->seen);
    s->mark = calloc(V, sizeof *s->mark);
    s->ring = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->ring);
    if (!s->work || !s->pi || !s->count || !s->seen || !s->mark || !s->ring) {
        hlm_sampler_free(s);
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return HLM_OK;
}

void hlm_sampler_free(hlm_sampler *s)
{
    if (!s) return;
    free(s->work);
    free(s->pi);
    free(s->count);
    free(s->seen);
    free(s->mark);
    free(s->ring);
    free(s->bias_id);
    free(s->bias);
    free(s);
}

hlm_status hlm_sampler_set_logit_bias(hlm_sampler *s, int32_t token, float bias, hlm_error *err)
{
    if (token < 0 || token >= s->V)
        return hlm_errorf(err, HLM_ERR_RANGE, "sampling: logit bias for token %d outside the vocabulary of %d",
                          (int)token, s->V);
    int32_t *ids = realloc(s->bias_id, ((size_t)s->n_bias + 1) * sizeof *ids);
    if (!ids) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    s->bias_id = ids;
    float *b = realloc(s->bias, ((size_t)s->n_bias + 1) * sizeof *b);
    if (!b) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    s->bias = b;
    s->bias_id[s->n_bias] = token;
    s->bias[s->n_bias++] = bias;
    return HLM_OK;
}

static void ring_push(hlm_sampler *s, int32_t token)
{
    int n = s->p.repeat_last_n;
    if (n <= 0) return;
    if (s->ring_len < n) {
        s->ring[s->ring_len++] = token;
    } else {
        s->ring[s->ring_pos] = token;
        s->ring_pos = (s->ring_pos + 1) % n;
    }
}

void hlm_sampler_accept(hlm_sampler *s, int32_t token)
{
    if (token < 0 || token >= s->V) return;
    if (s->count[token]++ == 0) s->seen[s->n_seen++] = token;
    ring_push(s, token);
}

void hlm_sampler_accept_context(hlm_sampler *s, const int32_t *tokens, int n)
{
    for (int i = 0; i < n; i++)
        if (tokens[i] >= 0 && tokens[i] < s->V) ring_push(s, tokens[i]);
}

void hlm_sampler_reset(hlm_sampler *s)
{
    for (int j = 0; j < s->n_seen; j++) s->count[s->seen[j]] = 0;
    s->n_seen = 0;
    s->ring_len = s->ring_pos = 0;
}

const float *hlm_sampler_last_logits(const hlm_sampler *s) { return s->work; }

/* p descending; ties: lower index first, so that the order is deterministic */
static int by_p_desc(const void *a, const void *b)
{
    const prob_index *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Steps 1-3 of sample.h into s->work. */
static void adjust_logits(hlm_sampler *s, const float *logits, int V)
{
    float *w = s->work;
    memcpy(w, logits, (size_t)V * sizeof *w);
    for (int j = 0; j < s->n_bias; j++)
        if (s->bias_id[j] < V) w[s->bias_id[j]] += s->bias[j];
    float rp = s->p.repeat_penalty;
    if (rp != 1.0f && s->ring_len > 0) {
        if (++s->stamp == 0) { /* wrapped: clear the stamps so none looks current */
            memset(s->mark, 0, (size_t)s->V * sizeof *s->mark);
            s->stamp = 1;
        }
        for (int j = 0; j < s->ring_len; j++) {
            int32_t t = s->ring[j];
            if (t >= V || s->mark[t] == s->stamp) continue;
            s->mark[t] = s->stamp;
            w[t] = w[t] > 0 ? w[t] / rp : w[t] * rp;
        }
    }
    float fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    if (fp != 0 || pp != 0)
        for (int j = 0; j < s->n_seen; j++) {
            int32_t t = s->seen[j];
            if (t < V) w[t] -= fp * (float)s->count[t] + pp;
        }
}

/* The first index of the largest of w[0..V), as the loop "if (w[i] > w[best]) best = i" finds it
 * (NaNs never win; a NaN at 0 stays). That loop's chain through best costs a compare and a
 * dependent load per value, a few hundred microseconds a token at a 50k vocabulary on this
 * machine; here 16 independent lanes of maxima (which compilers vectorize), then the first
 * position equal to their maximum, chunk by chunk. */
static int argmax_first(const float *w, int V)
{
    enum { L = 16 };
    if (V < 2 * L || w[0] != w[0]) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (w[i] > w[best]) best = i;
        return best;
    }
    float lane[L];
    for (int j = 0; j < L; j++) lane[j] = w[0];
    int i = 0;
    for (; i + L <= V; i += L)
        for (int j = 0; j < L; j++) lane[j] = w[i + j] > lane[j] ? w[i + j] : lane[j];
    float m = lane[0];
    for (int j = 1; j < L; j++) m = lane[j] > m ? lane[j] : m;
    for (; i < V; i++) m = w[i] > m ? w[i] : m;
    for (i = 0; i + L <= V; i += L) {
        int hit = 0;
        for (int j = 0; j < L; j++) hit |= w[i + j] == m;
        if (hit) break;
    }
    for (; i < V; i++)
        if (w[i] == m) return i;
    return 0; /* not reached: m is one of the values */
}

int hlm_sample(hlm_sampler *s, const float *logits, int V)
{
    if (V > s->V) V = s->V;
    adjust_logits(s, logits, V);
    const float *w = s->work;
    int best = argmax_first(w, V);
    if (s->p.temperature <= 0 || V <= 1 || !isfinite(w[best])) return best;

    /* p relative to the largest (which is 1), so min-p is the threshold p >= min_p */
    float T = s->p.temperature, thresh = s->p.min_p > 0 ? s->p.min_p : 0.0f;
    prob_index *pi = s->pi;
    double total = 0;
    int n = 0;
    for (int i = 0; i < V; i++) {
        float p = expf((w[i] - w[best]) / T);
        total += p;
        if (p > 0) pi[n++] = (prob_index){p, i};
    }
    int k = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : V;
    int filter_p = s->p.top_p < 1;
    int m = n;
    if (k < V || filter_p) {
        /* Sorting the whole vocabulary is the cost; min-p may drop the tail first when that leaves
         * top-p's normalizer (the mass of the top k) computable: no top-k, or at least k survivors. */
        if (thresh > 0) {
            int c = 0;
            for (int j = 0; j < n; j++)
                if (pi[j].p >= thresh) c++;
            if (k == V || k <= c) {
                int c2 = 0;
                for (int j = 0; j < n; j++)
                    if (pi[j].p >= thresh) pi[c2++] = pi[j];
                n = c2;
            }
        }
        qsort(pi, (size_t)n, sizeof *pi, by_p_desc);
        int kk = k < n ? k : n;
        double norm = 0;
        if (k < V)
            for (int j = 0; j < kk; j++) norm += pi[j].p;
        else
            norm = total;
        m = kk;
        if (filter_p) {
            double kept = 0;
            for (m = 0; m < kk;) {
                kept += pi[m++].p;
                if (kept >= s->p.top_p * norm) break;
            }
        }
        while (m > 1 && pi[m - 1].p < thresh) m--;
    } else if (thresh > 0) {
        int c = 0;
        for (int j = 0; j < n; j++)
            if (pi[j].p >= thresh) pi[c++] = pi[j];
        m = c;
    }
    double sum = 0;
    for (int j = 0; j < m; j++) sum += pi[j].p;
    double u = (double)(hlm_splitmix64(&s->rng) >> 11) * 0x1.0p-53 * sum, acc = 0;
    for (int j = 0; j < m; j++) {
        acc += pi[j].p;
        if (acc > u) return pi[j].i;
    }
    return m > 0 ? pi[m - 1].i : best;
}
