/* Token sampling for generation (engine.h): greedy, temperature, top-k and top-p (nucleus,
 * Holtzman et al. 2019), from a seeded SplitMix64 stream so that a seed repeats a generation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "infer/engine.h"

typedef struct prob_index {
    float p;
    int i;
} prob_index;

/* p descending; ties: lower index first, so that the order is deterministic */
static int by_p_desc(const void *a, const void *b)
{
    const prob_index *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int hlm_sample(hlm_sampler *s, const float *logits, int V, float *scratch)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temperature <= 0 || V <= 1) return best;
    prob_index *pi = (prob_index *)(void *)scratch; /* 2 floats' room each */
    double sum = 0;
    for (int i = 0; i < V; i++) {
        pi[i].p = expf((logits[i] - logits[best]) / s->temperature);
        pi[i].i = i;
        sum += pi[i].p;
    }
    int k = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    int filter_p = s->top_p > 0 && s->top_p < 1;
    if (k < V || filter_p) {
        qsort(pi, (size_t)V, sizeof *pi, by_p_desc);
        double kept = 0;
        int n = 0;
        while (n < k) {
            kept += pi[n++].p;
            if (filter_p && kept >= s->top_p * sum) break;
        }
        k = n;
        sum = kept;
    }
    double u = (double)(hlm_splitmix64(&s->rng) >> 11) * 0x1.0p-53 * sum, acc = 0;
    for (int j = 0; j < k; j++) {
        acc += pi[j].p;
        if (acc > u) return pi[j].i;
    }
    return pi[k - 1].i;
}
