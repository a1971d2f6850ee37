/* The server's scheduler (src/serve/sched.c): continuous batching must not change what a request
 * generates.
 *
 * Reference: greedy generation of each prompt alone on a one-sequence engine (hlm_engine_prefill,
 * then hlm_engine_decode with the argmax), on a tiny random Llama (GQA) and GPT-2. The scheduler
 * runs the same prompts together over fewer sequences than requests, with chunked prefill and the
 * prefix cache; every job's tokens must equal its reference exactly (the batched engine's logits
 * agree with the single ones to 1e-5 of their scale, tests/infer/test_engine.c, far from the gaps
 * between the top two logits of these models; the gap is checked). Logprobs are held to a
 * log-softmax computed here from the reference logits (1e-4). Also: the prefix cache reuses what
 * it should, a full queue refuses, cancelling and deadlines end jobs, and an embedding job equals
 * hlm_engine_embed on a fresh engine. Tokens are drawn from the tokenizer's 257 ids of the model's
 * 300 logits, as the server does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/model.h"
#include "infer/engine.h"
#include "serve/sched.h"
#include "tokenizer/tokenizer_internal.h"

enum { V = 300, TV = 257, GEN = 12 }; /* the model's vocabulary; the tokenizer's (bytes and one special) */

static hlm_tokenizer *byte_tokenizer(void)
{
    const char *specials[] = {"<|endoftext|>"};
    hlm_tokenizer *tok = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_GPT2, 0, NULL, 0, specials, 1, &tok, &err), HLM_OK);
    return tok;
}

static hlm_model *tiny_model(hlm_arch arch)
{
    hlm_model_config c = {0};
    c.arch = arch;
    c.vocab_size = V;
    c.max_seq = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = arch == HLM_ARCH_LLAMA ? 2 : 4;
    c.d_model = 32;
    c.head_dim = 8;
    c.d_ff = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tie_embeddings = arch == HLM_ARCH_GPT2;
    c.init_std = 0.3f;
    c.bos_token_id = c.eos_token_id = -1;
    hlm_model *m = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_model_create(&c, &m, &err), HLM_OK);
    hlm_model_init_weights(m, 11);
    return m;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Greedy tokens of prompt alone, and the log-softmax of each chosen token. Fails the test when
 * the top two logits are so close that another summation order could swap them. */
static void reference(hlm_model *m, const int32_t *prompt, int n, int32_t *out, float *logprob)
{
    hlm_engine *e = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &e, &err), HLM_OK);
    const float *lg = NULL;
    assert_int_equal(hlm_engine_prefill(e, prompt, n, &lg, &err), HLM_OK);
    for (int i = 0; i < GEN; i++) {
        int t = argmax(lg, TV);
        float second = -INFINITY, mx = lg[t];
        double sum = 0;
        for (int k = 0; k < TV; k++) {
            if (k != t && lg[k] > second) second = lg[k];
            sum += exp((double)(lg[k] - mx));
        }
        if (!(mx - second > 1e-4f * fabsf(mx))) fprintf(stderr, "near tie at step %d: %g %g\n", i, mx, second);
        assert_true(mx - second > 1e-4f * fabsf(mx));
        out[i] = t;
        logprob[i] = (float)(-log(sum));
        if (i + 1 < GEN) assert_int_equal(hlm_engine_decode(e, t, &lg, &err), HLM_OK);
    }
    hlm_engine_free(e);
}

typedef struct world {
    hlm_model *m;
    hlm_engine *e;
    hlm_tokenizer *tok;
    hlm_sched *s;
    pthread_cond_t cond;
} world;

static void world_start(world *w, hlm_arch arch, int parallel, int max_queue, int chunk)
{
    hlm_error err = {0};
    w->m = tiny_model(arch);
    w->tok = byte_tokenizer();
    assert_int_equal(hlm_engine_create(w->m, HLM_QT_F32, 0, &w->e, &err), HLM_OK);
    hlm_sched_opts o = {.parallel = parallel, .max_queue = max_queue, .prefill_chunk = chunk, .vocab = TV};
    assert_int_equal(hlm_sched_start(w->e, w->tok, &o, &w->s, &err), HLM_OK);
    pthread_cond_init(&w->cond, NULL);
}

static void world_stop(world *w)
{
    hlm_sched_stop(w->s);
    hlm_engine_free(w->e);
    hlm_tokenizer_free(w->tok);
    hlm_model_free(w->m);
    pthread_cond_destroy(&w->cond);
}

static hlm_job *greedy_job(world *w, const int32_t *prompt, int n, int max_tokens, double timeout)
{
    hlm_sampler_params sp;
    hlm_sampler_params_default(&sp);
    sp.temperature = 0;
    hlm_job_params p = {.vocab = TV, .prompt = prompt, .prompt_len = n, .max_tokens = max_tokens, .sampling = &sp,
                        .logprobs = 1, .top_logprobs = 3, .timeout_s = timeout};
    hlm_job *j = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_job_new(&p, &w->cond, &j, &err), HLM_OK);
    return j;
}

static void wait_all(world *w, hlm_job **jobs, int n)
{
    hlm_sched_lock(w->s);
    for (;;) {
        int done = 1;
        for (int i = 0; i < n; i++) done &= jobs[i]->finish != HLM_JOB_RUNNING;
        if (done) break;
        hlm_sched_wait(w->s, &w->cond, 100);
    }
    hlm_sched_unlock(w->s);
}

enum { NP = 5 };

/* Five prompts (two share a prefix) over two sequences, prefilled 3 tokens a step. */
static void batch_equals_alone(hlm_arch arch)
{
    static const int32_t p0[] = {5, 17, 33, 2, 90, 41, 7}, p1[] = {5, 17, 33, 2, 90, 100, 101, 102, 103},
                         p2[] = {250}, p3[] = {60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70}, p4[] = {5, 17, 33};
    const int32_t *prompts[NP] = {p0, p1, p2, p3, p4};
    const int lens[NP] = {7, 9, 1, 11, 3};
    world w = {0};
    world_start(&w, arch, 2, 8, 3);
    int32_t ref[NP][GEN];
    float ref_lp[NP][GEN];
    for (int i = 0; i < NP; i++) reference(w.m, prompts[i], lens[i], ref[i], ref_lp[i]);

    hlm_job *jobs[NP];
    for (int i = 0; i < NP; i++) jobs[i] = greedy_job(&w, prompts[i], lens[i], GEN, 0);
    hlm_error err = {0};
    assert_int_equal(hlm_sched_submit(w.s, jobs, NP, &err), HLM_OK);
    wait_all(&w, jobs, NP);
    for (int i = 0; i < NP; i++) {
        if (jobs[i]->finish != HLM_JOB_LENGTH) fprintf(stderr, "job %d: %d %s\n", i, jobs[i]->finish, jobs[i]->error.msg);
        assert_int_equal(jobs[i]->finish, HLM_JOB_LENGTH);
        assert_int_equal(jobs[i]->n_generated, GEN);
        for (int k = 0; k < GEN; k++) {
            assert_int_equal(jobs[i]->tokens[k].id, ref[i][k]);
            assert_true(fabsf(jobs[i]->tokens[k].logprob - ref_lp[i][k]) < 1e-4f);
            /* greedy: the chosen token is the most likely, and the top list is sorted */
            assert_int_equal(jobs[i]->tokens[k].top_ids[0], ref[i][k]);
            assert_true(jobs[i]->tokens[k].top_logprobs[0] >= jobs[i]->tokens[k].top_logprobs[1]);
            assert_true(jobs[i]->tokens[k].top_logprobs[1] >= jobs[i]->tokens[k].top_logprobs[2]);
        }
        /* the text is the bytes of the tokens (a byte-level vocabulary, no stop strings) */
        hlm_buf text = {0};
        assert_int_equal(hlm_tokenizer_decode(w.tok, (const uint32_t *)ref[i], GEN, &text, &err), HLM_OK);
        assert_int_equal(jobs[i]->text.len, text.len);
        assert_memory_equal(jobs[i]->text.data, text.data, text.len);
        hlm_buf_free(&text);
        assert_true(jobs[i]->t_first >= jobs[i]->t_submit && jobs[i]->t_end >= jobs[i]->t_first);
    }
    for (int i = 0; i < NP; i++) hlm_job_release(w.s, jobs[i]);

    /* the prefix cache: p0 runs again, then once more, when a sequence holds all of it and only
     * its last token is run again (its logits start the generation) */
    for (int round = 0; round < 2; round++) {
        hlm_job *again = greedy_job(&w, p0, lens[0], GEN, 0);
        assert_int_equal(hlm_sched_submit(w.s, &again, 1, &err), HLM_OK);
        wait_all(&w, &again, 1);
        if (round == 1) assert_int_equal(again->cached, lens[0] - 1);
        for (int k = 0; k < GEN; k++) assert_int_equal(again->tokens[k].id, ref[0][k]);
        hlm_job_release(w.s, again);
    }
    hlm_sched_stats st;
    hlm_sched_stats_get(w.s, &st);
    assert_true(st.cached >= lens[0] - 1);
    world_stop(&w);
}

static void test_batch_llama(void **state)
{
    (void)state;
    batch_equals_alone(HLM_ARCH_LLAMA);
}

static void test_batch_gpt2(void **state)
{
    (void)state;
    batch_equals_alone(HLM_ARCH_GPT2);
}

/* One sequence, a queue of one: a third job is refused; cancelling the running one lets the
 * queued one run to its end; a deadline in the past ends a job as TIMEOUT. */
static void test_queue_cancel_timeout(void **state)
{
    (void)state;
    world w = {0};
    world_start(&w, HLM_ARCH_LLAMA, 1, 1, 512);
    static const int32_t p[] = {1, 2, 3};
    hlm_error err = {0};
    hlm_job *a = greedy_job(&w, p, 3, 60, 0), *b = greedy_job(&w, p, 3, 4, 0), *c = greedy_job(&w, p, 3, 4, 0);
    assert_int_equal(hlm_sched_submit(w.s, &a, 1, &err), HLM_OK);
    /* wait until a runs (it left the queue) */
    hlm_sched_lock(w.s);
    while (a->n_generated == 0 && a->finish == HLM_JOB_RUNNING) hlm_sched_wait(w.s, &w.cond, 50);
    hlm_sched_unlock(w.s);
    assert_int_equal(hlm_sched_submit(w.s, &b, 1, &err), HLM_OK);
    assert_int_equal(hlm_sched_submit(w.s, &c, 1, &err), HLM_ERR_RANGE);
    hlm_job *bc[2] = {b, c};
    assert_int_equal(hlm_sched_submit(w.s, bc, 2, &err), HLM_ERR_RANGE); /* all or none */
    hlm_job_cancel(w.s, a);
    wait_all(&w, &a, 1);
    wait_all(&w, &b, 1);
    assert_true(a->finish == HLM_JOB_CANCELLED || a->finish == HLM_JOB_LENGTH);
    assert_int_equal(b->finish, HLM_JOB_LENGTH);
    assert_int_equal(b->n_generated, 4);
    hlm_job_release(w.s, a);
    hlm_job_release(w.s, b);
    hlm_job_release(w.s, c); /* never submitted: freed here */

    hlm_job *t = greedy_job(&w, p, 3, 60, 1e-9);
    assert_int_equal(hlm_sched_submit(w.s, &t, 1, &err), HLM_OK);
    wait_all(&w, &t, 1);
    assert_int_equal(t->finish, HLM_JOB_TIMEOUT);
    hlm_job_release(w.s, t);

    hlm_sched_drain(w.s);
    hlm_job *d = greedy_job(&w, p, 3, 4, 0);
    assert_int_equal(hlm_sched_submit(w.s, &d, 1, &err), HLM_ERR_INVALID);
    hlm_job_release(w.s, d);
    world_stop(&w);
}

/* An embedding job between generations equals the engine's embedding on a fresh engine. */
static void test_embed_job(void **state)
{
    (void)state;
    world w = {0};
    world_start(&w, HLM_ARCH_LLAMA, 2, 4, 512);
    static const int32_t p[] = {9, 8, 7, 6, 5};
    hlm_error err = {0};
    hlm_job *g = greedy_job(&w, p, 5, 20, 0), *em = NULL;
    assert_int_equal(hlm_job_new_embed(p, 5, 0, &w.cond, &em, &err), HLM_OK);
    hlm_job *both[2] = {g, em};
    assert_int_equal(hlm_sched_submit(w.s, both, 2, &err), HLM_OK);
    wait_all(&w, both, 2);
    assert_non_null(em->embedding);
    hlm_engine *fresh = NULL;
    assert_int_equal(hlm_engine_create(w.m, HLM_QT_F32, 0, &fresh, &err), HLM_OK);
    float want[32];
    assert_int_equal(hlm_engine_embed(fresh, 0, p, 5, want, &err), HLM_OK);
    for (int i = 0; i < 32; i++) assert_true(fabsf(em->embedding[i] - want[i]) < 1e-6f);
    hlm_engine_free(fresh);
    hlm_job_release(w.s, g);
    hlm_job_release(w.s, em);
    world_stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_llama),
        cmocka_unit_test(test_batch_gpt2),
        cmocka_unit_test(test_queue_cancel_timeout),
        cmocka_unit_test(test_embed_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
