/* Evaluation (eval.h): perplexity windows and log-likelihood scoring over the engine's logits of
 * every prefilled position (hlm_engine_prefill_all). Log-softmax is taken in double, so the sum
 * over a long text loses nothing to fp32 accumulation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "infer/eval.h"

/* ln softmax(logits)[target] over V logits, in double. */
static double log_prob(const float *logits, int V, int target)
{
    float mx = logits[0];
    for (int i = 1; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - (double)mx);
    return (double)logits[target] - (double)mx - log(sum);
}

static hlm_status check_tokens(const hlm_engine *e, const int32_t *t, size_t n, const char *what, hlm_error *err)
{
    int V = hlm_engine_config(e)->vocab_size;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= V)
            return hlm_errorf(err, HLM_ERR_RANGE, "eval: %s token %d at index %zu is outside the model's vocabulary [0, %d)",
                              what, t[i], i, V);
    return HLM_OK;
}

hlm_status hlm_eval_perplexity(hlm_engine *e, const int32_t *tokens, size_t n, int stride, hlm_ppl_result *out,
                               hlm_error *err)
{
    memset(out, 0, sizeof *out);
    int W = hlm_engine_ctx(e), V = hlm_engine_config(e)->vocab_size;
    if (stride == 0) stride = W;
    if (stride < 1 || stride > W)
        return hlm_errorf(err, HLM_ERR_INVALID, "eval: stride %d must be in [1, %d] (the context)", stride, W);
    if (n < 2)
        return hlm_errorf(err, HLM_ERR_RANGE, "eval: %zu tokens to score; perplexity needs at least 2", n);
    hlm_status st = check_tokens(e, tokens, n, "text", err);
    if (st != HLM_OK) return st;
    /* targets 1..scored are done; a window at b scores b+1..b+len, of which those past scored */
    size_t scored = 0;
    for (size_t b = 0; scored < n - 1; b += (size_t)stride) {
        size_t len = n - 1 - b < (size_t)W ? n - 1 - b : (size_t)W;
        const float *logits = NULL;
        hlm_engine_reset(e);
        if ((st = hlm_engine_prefill_all(e, tokens + b, (int)len, &logits, err)) != HLM_OK) return st;
        out->windows++;
        for (size_t i = 0; i < len; i++) {
            size_t j = b + i + 1;
            if (j <= scored) continue;
            out->nll -= log_prob(logits + i * (size_t)V, V, tokens[j]);
            out->tokens++;
        }
        scored = b + len;
    }
    hlm_engine_reset(e);
    return HLM_OK;
}

hlm_status hlm_eval_token_bytes(const hlm_tokenizer *tok, const int32_t *tokens, size_t n, uint64_t *bytes,
                                hlm_error *err)
{
    *bytes = 0;
    /* special tokens are not text: their ids are remembered to skip them */
    size_t ns = hlm_tokenizer_special_count(tok);
    for (size_t i = 0; i < n; i++) {
        int special = 0;
        for (size_t s = 0; s < ns && !special; s++) {
            const char *text;
            uint32_t id;
            hlm_tokenizer_special(tok, s, &text, &id);
            special = id == (uint32_t)tokens[i];
        }
        if (special) continue;
        const uint8_t *b;
        size_t len;
        hlm_status st = hlm_tokenizer_token_bytes(tok, (uint32_t)tokens[i], &b, &len, err);
        if (st != HLM_OK) return st;
        *bytes += len;
    }
    return HLM_OK;
}

double hlm_ppl_mean_nll(const hlm_ppl_result *r) { return r->tokens ? r->nll / (double)r->tokens : NAN; }
double hlm_ppl_perplexity(const hlm_ppl_result *r) { return exp(hlm_ppl_mean_nll(r)); }
double hlm_ppl_bits_per_byte(const hlm_ppl_result *r) { return r->bytes ? r->nll / log(2.0) / (double)r->bytes : NAN; }

hlm_status hlm_eval_loglik(hlm_engine *e, const int32_t *ctx, size_t n_ctx, const int32_t *cont, size_t n_cont,
                           double *loglik, hlm_error *err)
{
    *loglik = 0.0;
    int W = hlm_engine_ctx(e), V = hlm_engine_config(e)->vocab_size;
    if (n_ctx < 1 || n_cont < 1)
        return hlm_errorf(err, HLM_ERR_INVALID, "eval: scoring needs a context and a continuation (got %zu and %zu tokens)",
                          n_ctx, n_cont);
    if (n_cont > (size_t)W)
        return hlm_errorf(err, HLM_ERR_RANGE, "eval: a continuation of %zu tokens leaves no room for context in %d",
                          n_cont, W);
    hlm_status st = check_tokens(e, ctx, n_ctx, "context", err);
    if (st == HLM_OK) st = check_tokens(e, cont, n_cont, "continuation", err);
    if (st != HLM_OK) return st;
    /* inputs: the last `keep` context tokens, then the continuation but its last token */
    size_t keep = n_ctx < (size_t)W - n_cont + 1 ? n_ctx : (size_t)W - n_cont + 1;
    size_t n = keep + n_cont - 1;
    int32_t *seq = malloc(sizeof(int32_t) * n);
    if (!seq) return hlm_errorf(err, HLM_ERR_NOMEM, "eval: out of memory");
    memcpy(seq, ctx + (n_ctx - keep), sizeof(int32_t) * keep);
    memcpy(seq + keep, cont, sizeof(int32_t) * (n_cont - 1));
    const float *logits = NULL;
    hlm_engine_reset(e);
    st = hlm_engine_prefill_all(e, seq, (int)n, &logits, err);
    if (st == HLM_OK)
        for (size_t i = 0; i < n_cont; i++) *loglik += log_prob(logits + (keep - 1 + i) * (size_t)V, V, cont[i]);
    hlm_engine_reset(e);
    free(seq);
    return st;
}

/* ---- task files ---------------------------------------------------------------------------- */

void hlm_task_free(hlm_task *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        hlm_task_example *x = &t->ex[i];
        free(x->context);
        for (int c = 0; c < x->n_choices; c++) free(x->choices[c]);
        free(x->choices);
    }
    free(t->ex);
    memset(t, 0, sizeof *t);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static hlm_status parse_example(const cJSON *o, const char *name, size_t line, hlm_task_example *x, hlm_error *err)
{
    memset(x, 0, sizeof *x);
    if (!cJSON_IsObject(o)) return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: expected a JSON object", name, line);
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(o, "context");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "label");
    if (!cJSON_IsString(ctx))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: \"context\" is missing or not a string", name, line);
    int n = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
    if (n < 2)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: \"choices\" is missing or not an array of at least 2 strings",
                          name, line);
    if (!cJSON_IsNumber(lab) || lab->valuedouble != floor(lab->valuedouble))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: \"label\" is missing or not an integer", name, line);
    if (lab->valuedouble < 0 || lab->valuedouble >= n)
        return hlm_errorf(err, HLM_ERR_RANGE, "%s:%zu: \"label\" %g is not an index into %d choices", name, line,
                          lab->valuedouble, n);
    x->label = (int)lab->valuedouble;
    x->context = dup_str(ctx->valuestring);
    x->choices = calloc((size_t)n, sizeof *x->choices);
    if (!x->context || !x->choices) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    x->n_choices = n;
    for (int i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsString(c))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: choice %d is not a string", name, line, i);
        if (!c->valuestring[0])
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: choice %d is empty", name, line, i);
        if (!(x->choices[i] = dup_str(c->valuestring))) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    }
    return HLM_OK;
}

hlm_status hlm_task_parse(const char *text, size_t len, const char *name, hlm_task *out, hlm_error *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, line = 0;
    hlm_status st = HLM_OK;
    for (size_t p = 0; p < len && st == HLM_OK;) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        size_t a = p;
        while (a < end && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        if (a < end) {
            if (out->n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                hlm_task_example *ne = realloc(out->ex, nc * sizeof *ne);
                if (!ne) {
                    st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                out->ex = ne;
                cap = nc;
            }
            cJSON *o = cJSON_ParseWithLength(text + a, end - a);
            if (!o) st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: not valid JSON", name, line);
            else {
                st = parse_example(o, name, line, &out->ex[out->n], err);
                out->n++; /* freed with the rest, complete or not */
            }
            cJSON_Delete(o);
        }
        p = end + 1;
    }
    if (st == HLM_OK && out->n == 0) st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: no examples", name);
    if (st != HLM_OK) hlm_task_free(out);
    return st;
}

hlm_status hlm_task_load(const char *path, hlm_task *out, hlm_error *err)
{
    memset(out, 0, sizeof *out);
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(path, &b, err);
    if (st == HLM_OK) st = hlm_task_parse((const char *)b.data, b.len, path, out, err);
    hlm_buf_free(&b);
    return st;
}

/* ---- task scoring -------------------------------------------------------------------------- */

static hlm_status encode(const hlm_tokenizer *tok, const char *s, size_t len, hlm_ids *ids, hlm_error *err)
{
    ids->len = 0;
    return hlm_tokenizer_encode(tok, s, len, 0, ids, err);
}

static hlm_status to_i32(const hlm_ids *ids, int32_t **dst, size_t *cap, hlm_error *err)
{
    if (ids->len > *cap) {
        int32_t *n = realloc(*dst, sizeof(int32_t) * ids->len);
        if (!n) return hlm_errorf(err, HLM_ERR_NOMEM, "eval: out of memory");
        *dst = n;
        *cap = ids->len;
    }
    for (size_t i = 0; i < ids->len; i++) (*dst)[i] = (int32_t)ids->data[i];
    return HLM_OK;
}

hlm_status hlm_eval_task(hlm_engine *e, const hlm_tokenizer *tok, const hlm_task *task, const hlm_task *fewshot,
                         int shots, int32_t bos, hlm_task_result *out, hlm_error *err)
{
    memset(out, 0, sizeof *out);
    const hlm_task *src = fewshot ? fewshot : task;
    size_t first = fewshot ? 0 : (size_t)shots;
    if (shots < 0 || (size_t)shots > src->n || (!fewshot && (size_t)shots >= task->n))
        return hlm_errorf(err, HLM_ERR_RANGE, "eval: %d shots, but the %s has %zu examples%s", shots,
                          fewshot ? "few-shot file" : "task file", src->n, fewshot ? "" : " (and needs one to score)");
    hlm_buf prompt = {0};
    hlm_ids ids = {0};
    int32_t *ctx = NULL, *cont = NULL;
    size_t ctx_cap = 0, cont_cap = 0, prefix_len = 0;
    hlm_status st = HLM_OK;
    /* the solved examples, each followed by a blank line */
    for (int s = 0; s < shots && st == HLM_OK; s++) {
        const hlm_task_example *x = &src->ex[s];
        st = hlm_buf_appendf(&prompt, "%s%s\n\n", x->context, x->choices[x->label]);
    }
    prefix_len = prompt.len;
    /* label counts for the majority baseline */
    int max_label = 0;
    for (size_t i = first; i < task->n; i++)
        if (task->ex[i].label > max_label) max_label = task->ex[i].label;
    size_t *counts = calloc((size_t)max_label + 1, sizeof *counts);
    if (!counts && st == HLM_OK) st = hlm_errorf(err, HLM_ERR_NOMEM, "eval: out of memory");
    for (size_t i = first; i < task->n && st == HLM_OK; i++) {
        const hlm_task_example *x = &task->ex[i];
        prompt.len = prefix_len;
        st = hlm_buf_append(&prompt, x->context, strlen(x->context));
        if (st == HLM_OK) st = encode(tok, (const char *)prompt.data, prompt.len, &ids, err);
        if (st == HLM_OK && ids.len == 0) {
            if (bos < 0) st = hlm_errorf(err, HLM_ERR_FORMAT, "eval: example %zu has an empty prompt and no start token", i + 1);
            else st = hlm_ids_push(&ids, (uint32_t)bos);
        }
        if (st == HLM_OK) st = to_i32(&ids, &ctx, &ctx_cap, err);
        size_t n_ctx = ids.len;
        int best = 0, best_norm = 0;
        double best_s = -INFINITY, best_n = -INFINITY;
        for (int c = 0; c < x->n_choices && st == HLM_OK; c++) {
            const char *ch = x->choices[c];
            size_t bytes = strlen(ch);
            st = encode(tok, ch, bytes, &ids, err);
            if (st == HLM_OK) st = to_i32(&ids, &cont, &cont_cap, err);
            double ll = 0.0;
            if (st == HLM_OK) st = hlm_eval_loglik(e, ctx, n_ctx, cont, ids.len, &ll, err);
            if (st != HLM_OK) break;
            if (ll > best_s) best_s = ll, best = c;
            if (ll / (double)bytes > best_n) best_n = ll / (double)bytes, best_norm = c;
        }
        if (st != HLM_OK) break;
        out->n++;
        out->correct += best == x->label;
        out->correct_norm += best_norm == x->label;
        counts[x->label]++;
    }
    if (st == HLM_OK)
        for (int l = 0; l <= max_label; l++)
            if (counts[l] > out->majority) out->majority = counts[l];
    free(counts);
    free(ctx);
    free(cont);
    hlm_ids_free(&ids);
    hlm_buf_free(&prompt);
    return st;
}
