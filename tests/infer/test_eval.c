/* Evaluation (src/infer/eval.c) against the training engine (src/model/model.c).
 *
 * Reference: hlm_model_forward with targets, whose mean cross-entropy over the targets != -1 is
 * computed independently of the inference engine (tiled attention, its own log-softmax in fp32).
 * Perplexity from the engine must equal exp(the same windows' summed loss / tokens) on tiny GPT-2
 * and Llama models with the training engine's random init, for stride = context (every window
 * scores all its targets) and a smaller stride (targets already scored are -1 in the reference).
 * Tolerance 1e-5 relative: the engine's logits agree with the training engine's to about 1e-6 of
 * their magnitude (tests/infer/test_engine.c), and the loss is a mean of fp32 values.
 *
 * Multiple-choice scoring is checked against log-softmax of hlm_model_forward's logits over the
 * same prompt + choice tokens, summed in double (1e-4 absolute per choice, a sum of up to ~20
 * log-probabilities), and the predictions against the ones those sums give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/eval.h"

static hlm_model *make_model(const char *preset, uint64_t seed)
{
    hlm_error err = {0};
    hlm_model_config c;
    assert_int_equal(hlm_config_preset(preset, &c, &err), HLM_OK);
    hlm_model *m = NULL;
    assert_int_equal(hlm_model_create(&c, &m, &err), HLM_OK);
    hlm_model_init_weights(m, seed);
    return m;
}

static void random_tokens(int32_t *t, size_t n, int V, uint64_t s)
{
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
}

/* The windows of eval.h through the training engine: summed loss and scored targets. */
static double ref_nll(hlm_model *m, const int32_t *t, size_t n, int W, int stride, uint64_t *tokens)
{
    hlm_error err = {0};
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)W);
    double nll = 0;
    size_t scored = 0;
    *tokens = 0;
    for (size_t b = 0; scored < n - 1; b += (size_t)stride) {
        size_t len = n - 1 - b < (size_t)W ? n - 1 - b : (size_t)W;
        int count = 0;
        for (size_t i = 0; i < len; i++) {
            size_t j = b + i + 1;
            tg[i] = j <= scored ? -1 : t[j];
            count += j > scored;
        }
        float loss = 0;
        assert_int_equal(hlm_model_forward(m, t + b, tg, 1, (int)len, &loss, &err), HLM_OK);
        nll += (double)loss * count;
        *tokens += (uint64_t)count;
        scored = b + len;
    }
    free(tg);
    return nll;
}

static void check_perplexity(const char *preset)
{
    hlm_model *m = make_model(preset, 7);
    int V = hlm_model_config_of(m)->vocab_size, W = 16;
    enum { N = 50 };
    int32_t t[N];
    random_tokens(t, N, V, 99);
    hlm_error err = {0};
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, W, &e, &err), HLM_OK);
    int strides[] = {0, 5, 1, 16};
    for (size_t k = 0; k < sizeof strides / sizeof strides[0]; k++) {
        hlm_ppl_result r;
        assert_int_equal(hlm_eval_perplexity(e, t, N, strides[k], &r, &err), HLM_OK);
        uint64_t ref_tokens;
        double ref = ref_nll(m, t, N, W, strides[k] ? strides[k] : W, &ref_tokens);
        assert_int_equal(r.tokens, N - 1);
        assert_int_equal(ref_tokens, N - 1);
        double ppl = hlm_ppl_perplexity(&r), ref_ppl = exp(ref / (double)ref_tokens);
        printf("%s stride %d: %d windows, ppl %.6f, reference %.6f, rel diff %.2e\n", preset, strides[k], r.windows,
               ppl, ref_ppl, fabs(ppl - ref_ppl) / ref_ppl);
        assert_true(fabs(ppl - ref_ppl) <= 1e-5 * ref_ppl);
        /* 49 targets in windows of 16: 0..15, 16..31, 32..47, 48 (four); stride 5 covers them
         * with windows at 0, 5, ..., until b + 16 reaches the last target */
        if (strides[k] == 0 || strides[k] == W) assert_int_equal(r.windows, 4);
        if (strides[k] == 5) assert_int_equal(r.windows, 8); /* b = 0..35: 35 + 14 = 49 */
        if (strides[k] == 1) assert_int_equal(r.windows, 34);
    }
    /* the engine is left empty, and the last row of prefill_all is prefill's logits */
    assert_int_equal(hlm_engine_pos(e), 0);
    const float *all = NULL, *last = NULL;
    assert_int_equal(hlm_engine_prefill_all(e, t, 10, &all, &err), HLM_OK);
    float *row = malloc(sizeof(float) * (size_t)V);
    memcpy(row, all + 9 * (size_t)V, sizeof(float) * (size_t)V);
    hlm_engine_reset(e);
    assert_int_equal(hlm_engine_prefill(e, t, 10, &last, &err), HLM_OK);
    /* the same up to the head's gemm over 10 rows against 1 (another blocking of the sums) */
    double d = 0, mx = 0;
    for (int i = 0; i < V; i++) {
        d = fmax(d, fabs((double)row[i] - last[i]));
        mx = fmax(mx, fabs((double)last[i]));
    }
    assert_true(d <= 1e-5 * mx);
    free(row);
    hlm_engine_free(e);
    hlm_model_free(m);
}

static void test_perplexity_gpt2(void **state)
{
    (void)state;
    check_perplexity("tiny-gpt2");
}

static void test_perplexity_llama(void **state)
{
    (void)state;
    check_perplexity("tiny-llama");
}

static const char *CORPUS =
    "The quick brown fox jumps over the lazy dog. The dog sleeps. A fox runs. "
    "Hello world, hello there. 다람쥐 헌 쳇바퀴에 타고파. The cat is good. The cat is bad. ";

static hlm_tokenizer *make_tokenizer(void)
{
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    static const char *const specials[] = {"<|endoftext|>"};
    o.vocab_size = 300;
    o.specials = specials;
    o.n_specials = 1;
    o.n_threads = 1;
    hlm_error err = {0};
    hlm_bpe_trainer *t = NULL;
    assert_int_equal(hlm_bpe_trainer_new(&o, &t, &err), HLM_OK);
    size_t len = strlen(CORPUS);
    for (int i = 0; i < 4; i++) assert_int_equal(hlm_bpe_trainer_feed(t, &CORPUS, &len, 1, &err), HLM_OK);
    hlm_tokenizer *tok = NULL;
    assert_int_equal(hlm_bpe_trainer_finish(t, &tok, &err), HLM_OK);
    hlm_bpe_trainer_free(t);
    return tok;
}

static void test_bits_per_byte(void **state)
{
    (void)state;
    /* 12 tokens, NLL 24 ln 2 over 8 bytes: 3 bits per byte, perplexity e^(2 ln 2) = 4 */
    hlm_ppl_result r = {12, 24 * log(2.0), 8, 1};
    assert_true(fabs(hlm_ppl_bits_per_byte(&r) - 3.0) < 1e-12);
    assert_true(fabs(hlm_ppl_perplexity(&r) - 4.0) < 1e-12);
    assert_true(fabs(hlm_ppl_mean_nll(&r) - 2 * log(2.0)) < 1e-12);
    r.bytes = 0;
    assert_true(isnan(hlm_ppl_bits_per_byte(&r)));
    /* the bytes of a text's tokens are the text's UTF-8 bytes; a special token counts none */
    hlm_tokenizer *tok = make_tokenizer();
    const char *text = "The quick 다람쥐 jumps. Zebra!";
    hlm_ids ids = {0};
    hlm_error err = {0};
    uint32_t eot;
    assert_true(hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &eot));
    assert_int_equal(hlm_ids_push(&ids, eot), HLM_OK);
    assert_int_equal(hlm_tokenizer_encode(tok, text, strlen(text), 0, &ids, &err), HLM_OK);
    int32_t *t = malloc(sizeof(int32_t) * ids.len);
    for (size_t i = 0; i < ids.len; i++) t[i] = (int32_t)ids.data[i];
    uint64_t bytes = 0;
    assert_int_equal(hlm_eval_token_bytes(tok, t, ids.len, &bytes, &err), HLM_OK);
    assert_int_equal(bytes, strlen(text)); /* 24 ASCII + 3 Hangul of 3 bytes */
    assert_int_equal(strlen(text), 33);
    free(t);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(tok);
}

/* Sum of log p(cont | ctx) by the training engine's logits. */
static double ref_loglik(hlm_model *m, const hlm_ids *ctx, const hlm_ids *cont)
{
    size_t n = ctx->len + cont->len - 1;
    int V = hlm_model_config_of(m)->vocab_size;
    int32_t *seq = malloc(sizeof(int32_t) * n);
    for (size_t i = 0; i < ctx->len; i++) seq[i] = (int32_t)ctx->data[i];
    for (size_t i = 0; i + 1 < cont->len; i++) seq[ctx->len + i] = (int32_t)cont->data[i];
    hlm_error err = {0};
    assert_int_equal(hlm_model_forward(m, seq, NULL, 1, (int)n, NULL, &err), HLM_OK);
    const float *lg = hlm_model_logits(m);
    double ll = 0;
    for (size_t i = 0; i < cont->len; i++) {
        const float *row = lg + (ctx->len - 1 + i) * (size_t)V;
        double mx = row[0], s = 0;
        for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++) s += exp(row[v] - mx);
        ll += row[cont->data[i]] - mx - log(s);
    }
    free(seq);
    return ll;
}

static const char *TASK =
    "{\"context\": \"The cat is\", \"choices\": [\" good.\", \" bad.\"], \"label\": 0}\n"
    "\n"
    "{\"context\": \"The quick brown\", \"choices\": [\" fox\", \" dog\", \" 다람쥐\"], \"label\": 0}\n"
    "{\"context\": \"Hello\", \"choices\": [\" world\", \" there\"], \"label\": 1}\n"
    "{\"context\": \"A fox\", \"choices\": [\" runs.\", \" sleeps.\"], \"label\": 0}\n"
    "{\"context\": \"The dog\", \"choices\": [\" sleeps.\", \" jumps over the lazy dog.\"], \"label\": 1}\n";

static void check_task(const char *preset)
{
    hlm_model *m = make_model(preset, 5);
    hlm_tokenizer *tok = make_tokenizer();
    hlm_error err = {0};
    hlm_task task;
    assert_int_equal(hlm_task_parse(TASK, strlen(TASK), "task.jsonl", &task, &err), HLM_OK);
    assert_int_equal(task.n, 5);
    assert_int_equal(task.ex[1].n_choices, 3);
    assert_string_equal(task.ex[1].choices[2], " 다람쥐");
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &e, &err), HLM_OK);
    for (int shots = 0; shots <= 2; shots++) {
        size_t correct = 0, correct_norm = 0, counts[3] = {0};
        for (size_t i = (size_t)shots; i < task.n; i++) {
            const hlm_task_example *x = &task.ex[i];
            char prompt[1024] = "";
            for (int s = 0; s < shots; s++) {
                strcat(prompt, task.ex[s].context);
                strcat(prompt, task.ex[s].choices[task.ex[s].label]);
                strcat(prompt, "\n\n");
            }
            strcat(prompt, x->context);
            hlm_ids ctx = {0};
            assert_int_equal(hlm_tokenizer_encode(tok, prompt, strlen(prompt), 0, &ctx, &err), HLM_OK);
            int32_t *c32 = malloc(sizeof(int32_t) * ctx.len);
            for (size_t k = 0; k < ctx.len; k++) c32[k] = (int32_t)ctx.data[k];
            int best = 0, best_norm = 0;
            double bs = -INFINITY, bn = -INFINITY;
            for (int c = 0; c < x->n_choices; c++) {
                hlm_ids cont = {0};
                assert_int_equal(hlm_tokenizer_encode(tok, x->choices[c], strlen(x->choices[c]), 0, &cont, &err), HLM_OK);
                int32_t *k32 = malloc(sizeof(int32_t) * cont.len);
                for (size_t k = 0; k < cont.len; k++) k32[k] = (int32_t)cont.data[k];
                double ll = 0, ref = ref_loglik(m, &ctx, &cont);
                assert_int_equal(hlm_eval_loglik(e, c32, ctx.len, k32, cont.len, &ll, &err), HLM_OK);
                assert_true(fabs(ll - ref) < 1e-4);
                if (ref > bs) bs = ref, best = c;
                if (ref / (double)strlen(x->choices[c]) > bn) bn = ref / (double)strlen(x->choices[c]), best_norm = c;
                free(k32);
                hlm_ids_free(&cont);
            }
            correct += best == x->label;
            correct_norm += best_norm == x->label;
            counts[x->label]++;
            free(c32);
            hlm_ids_free(&ctx);
        }
        hlm_task_result r;
        assert_int_equal(hlm_eval_task(e, tok, &task, NULL, shots, -1, &r, &err), HLM_OK);
        printf("%s, %d shots: %zu/%zu correct, %zu by bytes\n", preset, shots, r.correct, r.n, r.correct_norm);
        assert_int_equal(r.n, task.n - (size_t)shots);
        assert_int_equal(r.correct, correct);
        assert_int_equal(r.correct_norm, correct_norm);
        assert_int_equal(r.majority, counts[0] > counts[1] ? counts[0] : counts[1]);
    }
    /* shots from another file: every example of task is scored */
    hlm_task_result r;
    assert_int_equal(hlm_eval_task(e, tok, &task, &task, 1, -1, &r, &err), HLM_OK);
    assert_int_equal(r.n, task.n);
    hlm_engine_free(e);
    hlm_task_free(&task);
    hlm_tokenizer_free(tok);
    hlm_model_free(m);
}

static void test_task_gpt2(void **state)
{
    (void)state;
    check_task("tiny-gpt2");
}

static void test_task_llama(void **state)
{
    (void)state;
    check_task("tiny-llama");
}

static void parse_fails(const char *text, hlm_status code, const char *needle)
{
    hlm_error err = {0};
    hlm_task t;
    assert_int_equal(hlm_task_parse(text, strlen(text), "t.jsonl", &t, &err), code);
    if (!strstr(err.msg, needle)) fail_msg("expected '%s' in '%s'", needle, err.msg);
    assert_int_equal(t.n, 0);
    assert_null(t.ex);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *ok = "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 1}\n";
    char buf[512];
    parse_fails("", HLM_ERR_FORMAT, "no examples");
    parse_fails("\n  \n", HLM_ERR_FORMAT, "no examples");
    snprintf(buf, sizeof buf, "%s{\"choices\": [\"b\", \"c\"], \"label\": 0}\n", ok);
    parse_fails(buf, HLM_ERR_FORMAT, "t.jsonl:2: \"context\"");
    snprintf(buf, sizeof buf, "%s%s{\"context\": \"a\", \"label\": 0}\n", ok, ok);
    parse_fails(buf, HLM_ERR_FORMAT, "t.jsonl:3: \"choices\"");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\"], \"label\": 0}", HLM_ERR_FORMAT, "at least 2");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", 3], \"label\": 0}", HLM_ERR_FORMAT, "choice 1");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", \"\"], \"label\": 0}", HLM_ERR_FORMAT, "choice 1 is empty");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", \"c\"]}", HLM_ERR_FORMAT, "\"label\"");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 0.5}", HLM_ERR_FORMAT, "\"label\"");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 2}", HLM_ERR_RANGE, "label\" 2");
    parse_fails("{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": -1}", HLM_ERR_RANGE, "label\" -1");
    parse_fails("{\"context\": \"a\", ", HLM_ERR_FORMAT, "t.jsonl:1: not valid JSON");
    parse_fails("[1, 2]", HLM_ERR_FORMAT, "object");

    hlm_model *m = make_model("tiny-gpt2", 1);
    hlm_error err = {0};
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 8, &e, &err), HLM_OK);
    int32_t t[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    hlm_ppl_result r;
    assert_int_equal(hlm_eval_perplexity(e, t, 1, 0, &r, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "at least 2"));
    assert_int_equal(hlm_eval_perplexity(e, t, 0, 0, &r, &err), HLM_ERR_RANGE);
    assert_int_equal(hlm_eval_perplexity(e, t, 12, 9, &r, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "stride 9"));
    t[11] = 512; /* the vocabulary is 512: the last target is outside */
    assert_int_equal(hlm_eval_perplexity(e, t, 12, 0, &r, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "index 11"));
    double ll;
    assert_int_equal(hlm_eval_loglik(e, t, 2, t, 9, &ll, &err), HLM_ERR_RANGE); /* 9 > context 8 */
    assert_int_equal(hlm_eval_loglik(e, t, 0, t, 2, &ll, &err), HLM_ERR_INVALID);
    /* a context longer than the engine's keeps its last tokens: the same as passing them only */
    double a, b;
    assert_int_equal(hlm_eval_loglik(e, t, 10, t, 3, &a, &err), HLM_OK);
    assert_int_equal(hlm_eval_loglik(e, t + 4, 6, t, 3, &b, &err), HLM_OK);
    assert_true(a == b);
    /* shots: as many as the task has leaves nothing to score */
    hlm_task task;
    assert_int_equal(hlm_task_parse(ok, strlen(ok), "t.jsonl", &task, &err), HLM_OK);
    hlm_tokenizer *tok = make_tokenizer();
    hlm_task_result tr;
    assert_int_equal(hlm_eval_task(e, tok, &task, NULL, 1, -1, &tr, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "1 shots"));
    /* an empty context without a start token */
    const char *empty = "{\"context\": \"\", \"choices\": [\"b\", \"c\"], \"label\": 1}";
    hlm_task te;
    assert_int_equal(hlm_task_parse(empty, strlen(empty), "e.jsonl", &te, &err), HLM_OK);
    assert_int_equal(hlm_eval_task(e, tok, &te, NULL, 0, -1, &tr, &err), HLM_ERR_FORMAT);
    assert_int_equal(hlm_eval_task(e, tok, &te, NULL, 0, 0, &tr, &err), HLM_OK);
    assert_int_equal(tr.n, 1);
    hlm_task_free(&te);
    hlm_task_free(&task);
    hlm_tokenizer_free(tok);
    hlm_engine_free(e);
    hlm_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perplexity_gpt2), cmocka_unit_test(test_perplexity_llama),
        cmocka_unit_test(test_bits_per_byte),   cmocka_unit_test(test_task_gpt2),
        cmocka_unit_test(test_task_llama),      cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
