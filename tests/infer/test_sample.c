/* Token sampling (src/infer/sample.c). Each rule is checked on a few hand-made logits against the
 * rule's formula written out again here (the reference): the adjusted logits exactly (the same
 * float operations), greedy choices exactly, and the frequencies of seeded draws against the
 * probabilities within 6 standard deviations of a binomial count (a failure by chance is
 * about 1e-9 per check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/sample.h"

static hlm_sampler *make(hlm_sampler_params p, int V)
{
    hlm_sampler *s = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_sampler_new(&p, V, &s, &err), HLM_OK);
    return s;
}

static hlm_sampler_params greedy(void)
{
    hlm_sampler_params p;
    hlm_sampler_params_default(&p);
    p.temperature = 0;
    return p;
}

/* n draws; counts[i] must be within 6 sigma of n * want[i] */
static void check_freqs(hlm_sampler *s, const float *logits, int V, const double *want, int n)
{
    int counts[16] = {0};
    for (int i = 0; i < n; i++) counts[hlm_sample(s, logits, V)]++;
    for (int i = 0; i < V; i++) {
        double sd = sqrt(n * want[i] * (1 - want[i]));
        if (want[i] == 0) {
            assert_int_equal(counts[i], 0);
        } else if (fabs(counts[i] - n * want[i]) > 6 * sd + 1) {
            fprintf(stderr, "token %d: %d draws of %d, expected %.1f\n", i, counts[i], n, n * want[i]);
            fail();
        }
    }
}

static void test_greedy(void **state)
{
    (void)state;
    float logits[4] = {0.0f, logf(2.0f), -INFINITY, -1.0f};
    hlm_sampler *s = make(greedy(), 4);
    assert_int_equal(hlm_sample(s, logits, 4), 1);
    float ties[4] = {1, 3, 3, 2}; /* the first largest */
    assert_int_equal(hlm_sample(s, ties, 4), 1);
    hlm_sampler_free(s);
}

/* Greedy over a large vocabulary (the vectorized search) picks what the plain loop
 * "if (w[i] > w[best]) best = i" picks: the first of tied maxima, across +0 and -0, with NaNs
 * anywhere (a NaN first stays first), -inf, and lengths that are not a multiple of 16. */
static int plain_argmax(const float *w, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (w[i] > w[best]) best = i;
    return best;
}

static void test_greedy_large(void **state)
{
    (void)state;
    enum { V = 1000 };
    static float w[V];
    hlm_sampler *s = make(greedy(), V);
    uint64_t r = 7;
    for (int round = 0; round < 400; round++) {
        int n = round % 3 == 0 ? V : 33 + round % 967;
        for (int i = 0; i < n; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int kind = (int)(r >> 60);
            /* few distinct values, so that ties are common */
            w[i] = kind == 0 ? NAN : kind == 1 ? -INFINITY : kind == 2 ? -0.0f : (float)((r >> 40) % 7) - 3.0f;
        }
        if (round % 5 == 0) w[0] = NAN;
        if (round % 7 == 0)
            for (int i = 0; i < n; i++) w[i] = i % 2 ? 0.0f : -0.0f;
        if (round % 11 == 0) w[n - 1] = 100.0f; /* the maximum in the tail */
        int want = plain_argmax(w, n), got = hlm_sample(s, w, n);
        if (got != want) fail_msg("round %d (V %d): %d, the plain loop %d", round, n, got, want);
    }
    hlm_sampler_free(s);
}

static void test_top_k_top_p(void **state)
{
    (void)state;
    float logits[4] = {0.0f, logf(2.0f), -INFINITY, -1.0f};
    hlm_sampler_params p;
    hlm_sampler_params_default(&p);
    p.temperature = 1, p.top_k = 1, p.top_p = 1, p.seed = 7;
    hlm_sampler *s = make(p, 4);
    for (int i = 0; i < 50; i++) assert_int_equal(hlm_sample(s, logits, 4), 1);
    hlm_sampler_free(s);
    p.top_k = 0, p.top_p = 0.3f; /* token 1 alone holds 2/3.37 of the mass */
    s = make(p, 4);
    for (int i = 0; i < 50; i++) assert_int_equal(hlm_sample(s, logits, 4), 1);
    hlm_sampler_free(s);
    /* top-k 2 over {0, ln 2}: p = 1/3, 2/3 */
    p.top_k = 2, p.top_p = 1, p.seed = 99;
    s = make(p, 4);
    check_freqs(s, logits, 4, (double[]){1.0 / 3, 2.0 / 3, 0, 0}, 30000);
    hlm_sampler_free(s);
    /* top-p applies to what top-k kept (renormalized, as Hugging Face and llama.cpp do):
     * p = .4 .3 .2 .1, top-k 2 keeps .4 + .3; top-p .5 of that is .35, reached by token 0 alone
     * (of the full mass, .5, it would need tokens 0 and 1) */
    float q[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
    p.top_k = 2, p.top_p = 0.5f;
    s = make(p, 4);
    for (int i = 0; i < 200; i++) assert_int_equal(hlm_sample(s, q, 4), 0);
    hlm_sampler_free(s);
    /* temperature 0.5 over {0, ln 2, -inf, -1}: p proportional to 1, 4, 0, e^-2 */
    p.temperature = 0.5f, p.top_k = 0, p.top_p = 1;
    s = make(p, 4);
    double z = 5 + exp(-2.0);
    check_freqs(s, logits, 4, (double[]){1 / z, 4 / z, 0, exp(-2.0) / z}, 30000);
    hlm_sampler_free(s);
}

static void test_seed_repeats(void **state)
{
    (void)state;
    float logits[4] = {0.0f, logf(2.0f), -INFINITY, -1.0f};
    hlm_sampler_params p;
    hlm_sampler_params_default(&p);
    p.temperature = 0.7f, p.top_k = 0, p.top_p = 0.95f, p.seed = 5;
    hlm_sampler *a = make(p, 4), *b = make(p, 4);
    int differ = 0;
    p.seed = 6;
    hlm_sampler *c = make(p, 4);
    for (int i = 0; i < 100; i++) {
        int x = hlm_sample(a, logits, 4);
        assert_int_equal(x, hlm_sample(b, logits, 4));
        assert_int_not_equal(x, 2); /* the -inf logit is never drawn */
        differ += x != hlm_sample(c, logits, 4);
    }
    assert_true(differ > 0);
    hlm_sampler_free(a);
    hlm_sampler_free(b);
    hlm_sampler_free(c);
}

static void test_min_p(void **state)
{
    (void)state;
    /* p proportional to 1, .5, .2, .09: min-p .1 keeps p >= .1 * 1, i.e. tokens 0..2 */
    float logits[4] = {logf(1.0f), logf(0.5f), logf(0.2f), logf(0.09f)};
    hlm_sampler_params p;
    hlm_sampler_params_default(&p);
    p.temperature = 1, p.top_k = 0, p.top_p = 1, p.min_p = 0.1f, p.seed = 3;
    hlm_sampler *s = make(p, 4);
    check_freqs(s, logits, 4, (double[]){1 / 1.7, 0.5 / 1.7, 0.2 / 1.7, 0}, 30000);
    hlm_sampler_free(s);
    /* with top-k and top-p active too (the sorted path): top-k 3 then min-p */
    p.top_k = 3, p.top_p = 0.99f;
    s = make(p, 4);
    check_freqs(s, logits, 4, (double[]){1 / 1.7, 0.5 / 1.7, 0.2 / 1.7, 0}, 30000);
    hlm_sampler_free(s);
    /* top-k 4 > the 3 survivors of min-p: min-p still drops token 3 */
    p.top_k = 4;
    s = make(p, 4);
    check_freqs(s, logits, 4, (double[]){1 / 1.7, 0.5 / 1.7, 0.2 / 1.7, 0}, 30000);
    hlm_sampler_free(s);
    /* min-p .6 keeps the largest only; relative to the largest after temperature: at T = 2,
     * p = sqrt(.5) = .71 >= .6 keeps token 1 too */
    p.top_k = 0, p.top_p = 1, p.min_p = 0.6f;
    s = make(p, 4);
    for (int i = 0; i < 100; i++) assert_int_equal(hlm_sample(s, logits, 4), 0);
    hlm_sampler_free(s);
    p.temperature = 2;
    s = make(p, 4);
    double a = 1, b = sqrt(0.5);
    check_freqs(s, logits, 4, (double[]){a / (a + b), b / (a + b), 0, 0}, 30000);
    hlm_sampler_free(s);
}

/* The reference: llama.cpp's (CTRL's) rule, once per distinct token in the window. */
static float repeat_rule(float l, float penalty) { return l > 0 ? l / penalty : l * penalty; }

static void test_repeat_penalty(void **state)
{
    (void)state;
    float logits[5] = {2.0f, -1.0f, 0.5f, 1.9f, 0.0f};
    hlm_sampler_params p = greedy();
    p.repeat_penalty = 2.0f, p.repeat_last_n = 3;
    hlm_sampler *s = make(p, 5);
    /* token 0 twice in the window: divided once */
    hlm_sampler_accept_context(s, (const int32_t[]){0, 1, 0}, 3);
    assert_int_equal(hlm_sample(s, logits, 5), 3); /* 2 / 2 = 1 < 1.9 */
    const float *w = hlm_sampler_last_logits(s);
    float want[5] = {repeat_rule(2.0f, 2.0f), repeat_rule(-1.0f, 2.0f), 0.5f, 1.9f, 0.0f};
    for (int i = 0; i < 5; i++) assert_true(w[i] == want[i]);
    /* the window holds the last 3: after 3, 4, 4 neither 0 nor 1 is penalized */
    hlm_sampler_accept(s, 3);
    hlm_sampler_accept(s, 4);
    hlm_sampler_accept(s, 4);
    assert_int_equal(hlm_sample(s, logits, 5), 0);
    w = hlm_sampler_last_logits(s);
    float want2[5] = {2.0f, -1.0f, 0.5f, repeat_rule(1.9f, 2.0f), repeat_rule(0.0f, 2.0f)};
    for (int i = 0; i < 5; i++) assert_true(w[i] == want2[i]);
    /* reset forgets the history */
    hlm_sampler_reset(s);
    hlm_sample(s, logits, 5);
    w = hlm_sampler_last_logits(s);
    for (int i = 0; i < 5; i++) assert_true(w[i] == logits[i]);
    hlm_sampler_free(s);
    /* repeat_last_n 0: off */
    p.repeat_last_n = 0;
    s = make(p, 5);
    hlm_sampler_accept(s, 0);
    assert_int_equal(hlm_sample(s, logits, 5), 0);
    hlm_sampler_free(s);
}

static void test_presence_frequency(void **state)
{
    (void)state;
    float logits[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    hlm_sampler_params p = greedy();
    p.presence_penalty = 0.5f, p.frequency_penalty = 0.25f;
    hlm_sampler *s = make(p, 4);
    hlm_sampler_accept_context(s, (const int32_t[]){0, 0, 0}, 3); /* context: not counted */
    hlm_sampler_accept(s, 2);
    hlm_sampler_accept(s, 2);
    hlm_sampler_accept(s, 3);
    assert_int_equal(hlm_sample(s, logits, 4), 0);
    const float *w = hlm_sampler_last_logits(s);
    /* OpenAI: l -= frequency * count + presence * (count > 0) */
    float want[4] = {1.0f, 1.0f, 1.0f - (0.25f * 2.0f + 0.5f), 1.0f - (0.25f * 1.0f + 0.5f)};
    for (int i = 0; i < 4; i++) assert_true(w[i] == want[i]);
    /* negative penalties favour repetition */
    hlm_sampler_free(s);
    p.presence_penalty = -0.5f, p.frequency_penalty = 0;
    s = make(p, 4);
    hlm_sampler_accept(s, 3);
    assert_int_equal(hlm_sample(s, logits, 4), 3);
    hlm_sampler_free(s);
}

static void test_logit_bias(void **state)
{
    (void)state;
    float logits[4] = {0.0f, 3.0f, 1.0f, 2.0f};
    hlm_sampler *s = make(greedy(), 4);
    hlm_error err = {0};
    assert_int_equal(hlm_sampler_set_logit_bias(s, 1, -INFINITY, &err), HLM_OK); /* banned */
    assert_int_equal(hlm_sample(s, logits, 4), 3);
    assert_int_equal(hlm_sampler_set_logit_bias(s, 2, 1.5f, &err), HLM_OK);
    assert_int_equal(hlm_sample(s, logits, 4), 2);
    assert_int_equal(hlm_sampler_set_logit_bias(s, 4, 1.0f, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "token 4"));
    hlm_sampler_free(s);
    /* a banned token is never drawn */
    hlm_sampler_params p;
    hlm_sampler_params_default(&p);
    p.temperature = 1, p.top_k = 0, p.top_p = 1, p.seed = 4;
    s = make(p, 4);
    assert_int_equal(hlm_sampler_set_logit_bias(s, 1, -INFINITY, &err), HLM_OK);
    for (int i = 0; i < 500; i++) assert_int_not_equal(hlm_sample(s, logits, 4), 1);
    hlm_sampler_free(s);
}

static void test_params_check(void **state)
{
    (void)state;
    hlm_sampler_params p;
    hlm_error err = {0};
    hlm_sampler *s = NULL;
    hlm_sampler_params_default(&p);
    assert_int_equal(hlm_sampler_params_check(&p, &err), HLM_OK);
    p.min_p = 1.5f;
    assert_int_equal(hlm_sampler_new(&p, 4, &s, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "min_p"));
    hlm_sampler_params_default(&p);
    p.repeat_penalty = 0;
    assert_int_equal(hlm_sampler_params_check(&p, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "repeat_penalty"));
    hlm_sampler_params_default(&p);
    p.frequency_penalty = 2.5f;
    assert_int_equal(hlm_sampler_params_check(&p, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "frequency_penalty"));
    hlm_sampler_params_default(&p);
    p.temperature = -1;
    assert_int_equal(hlm_sampler_params_check(&p, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "temperature"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy), cmocka_unit_test(test_greedy_large),       cmocka_unit_test(test_top_k_top_p),
        cmocka_unit_test(test_seed_repeats), cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_repeat_penalty), cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_logit_bias),   cmocka_unit_test(test_params_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
