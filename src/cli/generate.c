/* hyperlm generate: a continuation of a prompt from a checkpoint through the inference engine
 * (KV cache; f32, Q8_0 or Q4_0 weights), streamed as tokens come. The prompt handling and the
 * output match `hyperlm sample` (prompt echoed, <|endoftext|> as the start of an empty prompt,
 * a newline at the end), so greedy output of the two is the same text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/generation.h"
#include "hyperlm/log.h"
#include "hyperlm/tokenizer.h"
#include <cjson/cJSON.h>

#include "hyperlm/file.h"
#include "infer/batch.h"
#include "text/record.h"
#include "infer/engine.h"
#include "infer/gguf_model.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The tokens a prompt runs as: the vocabulary's BOS when it asks for one (Llama's SentencePiece
 * files), the text's tokens, and for an empty prompt <|endoftext|> (id 0 without one), so that
 * there is always a position to predict from. */
static hlm_status prompt_tokens(const hlm_tokenizer *tok, const char *text, hlm_ids *out, hlm_error *err)
{
    uint32_t id;
    out->len = 0;
    if (hlm_tokenizer_bos(tok, &id) && hlm_ids_append(out, &id, 1)) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    hlm_ids text_ids = {0};
    hlm_status st = hlm_tokenizer_encode(tok, text, strlen(text), 1, &text_ids, err);
    if (st == HLM_OK && hlm_ids_append(out, text_ids.data, text_ids.len))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    hlm_ids_free(&text_ids);
    if (st == HLM_OK && out->len == 0) {
        if (!hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &id)) id = 0;
        if (hlm_ids_append(out, &id, 1)) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    return st;
}

/* ---- --prompts: many requests through the batch scheduler ----------------------------------- */

typedef struct prompt_req {
    char *id_json;   /* the request's "id" as JSON text, or NULL */
    hlm_ids ids;
    hlm_decoder dec;
    hlm_stop stop;
    hlm_buf text;
    int tokens, done;
    hlm_finish reason;
} prompt_req;

typedef struct prompts_run {
    prompt_req *r;
    int n, printed;
    hlm_status st; /* the first error inside the callback */
    hlm_error *err;
    hlm_buf piece, shown;
} prompts_run;

static void print_done(prompts_run *p)
{
    while (p->printed < p->n && p->r[p->printed].done) {
        prompt_req *q = &p->r[p->printed];
        hlm_buf line = {0};
        int ok = hlm_buf_appendf(&line, "{\"index\": %d, \"id\": %s, \"text\": ", p->printed, q->id_json ? q->id_json : "null") == HLM_OK &&
                 hlm_json_escape_append(&line, q->text.data, q->text.len) == HLM_OK &&
                 hlm_buf_appendf(&line, ", \"tokens\": %d, \"finish_reason\": \"%s\"}\n", q->tokens,
                                 q->reason == HLM_FINISH_LENGTH ? "length" : "stop") == HLM_OK;
        if (ok) fwrite(line.data, 1, line.len, stdout);
        else if (p->st == HLM_OK) p->st = hlm_errorf(p->err, HLM_ERR_NOMEM, "out of memory");
        fflush(stdout);
        hlm_buf_free(&line);
        p->printed++;
    }
}

static int on_token(void *user, int request, int32_t token, hlm_finish reason)
{
    prompts_run *p = user;
    prompt_req *q = &p->r[request];
    int stopped = 0;
    p->piece.len = p->shown.len = 0;
    if (reason == HLM_FINISH_NONE) {
        q->tokens++;
        if (p->st == HLM_OK) p->st = hlm_decoder_push(&q->dec, (uint32_t)token, &p->piece, p->err);
        if (p->st == HLM_OK) p->st = hlm_stop_push(&q->stop, p->piece.data, p->piece.len, &p->shown, &stopped, p->err);
        if (p->st == HLM_OK && hlm_buf_append(&q->text, p->shown.data, p->shown.len))
            p->st = hlm_errorf(p->err, HLM_ERR_NOMEM, "out of memory");
        return stopped || p->st != HLM_OK;
    }
    if (reason != HLM_FINISH_STOP) { /* what the decoder and the stop filter still hold */
        if (p->st == HLM_OK) p->st = hlm_decoder_flush(&q->dec, &p->piece, p->err);
        if (p->st == HLM_OK) p->st = hlm_stop_push(&q->stop, p->piece.data, p->piece.len, &p->shown, &stopped, p->err);
        if (p->st == HLM_OK && !stopped) p->st = hlm_stop_flush(&q->stop, &p->shown, p->err);
        if (p->st == HLM_OK && hlm_buf_append(&q->text, p->shown.data, p->shown.len))
            p->st = hlm_errorf(p->err, HLM_ERR_NOMEM, "out of memory");
    }
    q->reason = reason;
    q->done = 1;
    print_done(p);
    return 0;
}

/* Reads the JSONL requests, runs them, prints the results; everything is checked before any runs. */
static hlm_status run_prompts(hlm_engine *e, const hlm_tokenizer *tok, const char *path, int parallel, int n_default,
                              const hlm_sampler_params *sp, const char *const *stops, int n_stops, const hlm_eog *eog,
                              int vocab, hlm_error *err)
{
    hlm_buf file = {0};
    hlm_status st = hlm_file_read_all(path, &file, err);
    prompts_run p = {.err = err};
    hlm_batch_request *reqs = NULL;
    hlm_sampler **samplers = NULL;
    int cap = 0;
    size_t at = 0, line_no = 0;
    while (st == HLM_OK && at < file.len) {
        const char *line = (const char *)file.data + at;
        const char *nl = memchr(line, '\n', file.len - at);
        size_t len = nl ? (size_t)(nl - line) : file.len - at;
        at += len + (nl ? 1 : 0);
        line_no++;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == len) continue; /* blank line */
        cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *pr = o ? cJSON_GetObjectItemCaseSensitive(o, "prompt") : NULL;
        const cJSON *mt = o ? cJSON_GetObjectItemCaseSensitive(o, "max_tokens") : NULL;
        const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "id") : NULL;
        if (!o || !cJSON_IsObject(o))
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: expected a JSON object", path, line_no);
        else if (!cJSON_IsString(pr))
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: \"prompt\": expected a string", path, line_no);
        else if (mt && (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > (1 << 20) ||
                        mt->valuedouble != (double)(int)mt->valuedouble))
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%zu: \"max_tokens\": expected an integer in [1, %d]", path, line_no,
                            1 << 20);
        if (st == HLM_OK && p.n == cap) {
            cap = cap ? 2 * cap : 16;
            prompt_req *r = realloc(p.r, sizeof *r * (size_t)cap);
            if (r) p.r = r;
            if (!r) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        }
        if (st == HLM_OK) {
            prompt_req *q = &p.r[p.n++];
            memset(q, 0, sizeof *q);
            q->tokens = mt ? (int)mt->valuedouble : n_default; /* max tokens until the run; then the count */
            if (id && !(q->id_json = cJSON_PrintUnformatted(id))) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
            if (st == HLM_OK) st = prompt_tokens(tok, pr->valuestring, &q->ids, err);
            if (st != HLM_OK) hlm_error_prefix(err, "%s:%zu", path, line_no);
        }
        cJSON_Delete(o);
    }
    if (st == HLM_OK && p.n == 0) st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: no requests", path);
    if (st == HLM_OK) {
        reqs = calloc((size_t)p.n, sizeof *reqs);
        samplers = calloc((size_t)p.n, sizeof *samplers);
        if (!reqs || !samplers) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == HLM_OK && i < p.n; i++) {
        prompt_req *q = &p.r[i];
        hlm_sampler_params spi = *sp;
        spi.seed = sp->seed + (uint64_t)i;
        st = hlm_sampler_new(&spi, vocab, &samplers[i], err);
        if (st == HLM_OK) st = hlm_stop_init(&q->stop, stops, n_stops, err);
        hlm_decoder_init(&q->dec, tok);
        if (st == HLM_OK && q->ids.len > (size_t)hlm_engine_ctx(e))
            st = hlm_errorf(err, HLM_ERR_RANGE, "%s: request %d: a prompt of %zu tokens exceeds the context of %d", path,
                            i, q->ids.len, hlm_engine_ctx(e));
        reqs[i] = (hlm_batch_request){(const int32_t *)q->ids.data, (int)q->ids.len, q->tokens, samplers[i]};
        q->tokens = 0;
    }
    double t0 = now_s();
    if (st == HLM_OK) st = hlm_batch_generate(e, reqs, p.n, parallel, vocab, eog, on_token, &p, err);
    if (st == HLM_OK) st = p.st;
    if (st == HLM_OK) {
        long total = 0;
        for (int i = 0; i < p.n; i++) total += p.r[i].tokens;
        double dt = now_s() - t0;
        hlm_log(HLM_LOG_INFO, "generate: %d requests, %d at a time: %ld tokens in %.2f s, %.1f tokens/s", p.n,
                parallel < p.n ? parallel : p.n, total, dt, dt > 0 ? (double)total / dt : 0.0);
    }
    for (int i = 0; i < p.n; i++) {
        free(p.r[i].id_json);
        hlm_ids_free(&p.r[i].ids);
        hlm_stop_free(&p.r[i].stop);
        hlm_buf_free(&p.r[i].text);
        if (samplers) hlm_sampler_free(samplers[i]);
    }
    free(p.r);
    free(reqs);
    free(samplers);
    hlm_buf_free(&p.piece);
    hlm_buf_free(&p.shown);
    hlm_buf_free(&file);
    return st;
}

/* One prompt, streamed to stdout (the prompt echoed first, a newline at the end); speeds to the
 * log. t0: when loading began. */
static hlm_status generate_one(hlm_engine *e, const hlm_tokenizer *tok, const char *prompt, unsigned long long n,
                               const hlm_sampler_params *sp, const char *const *stops, int n_stops, const hlm_eog *eog,
                               int vs, double t0, hlm_error *err)
{
    hlm_ids ids = {0};
    hlm_buf out = {0}, shown = {0};
    hlm_sampler *sampler = NULL;
    hlm_stop stop = {0};
    hlm_status s = prompt_tokens(tok, prompt, &ids, err);
    const int32_t *ctx = (const int32_t *)ids.data;
    size_t len = ids.len;
    /* the last generated token is never fed back, so len + n - 1 positions are needed */
    if (s == HLM_OK && len + n - 1 > (size_t)hlm_engine_ctx(e))
        s = hlm_errorf(err, HLM_ERR_RANGE, "generate: the prompt (%zu tokens) and %llu new tokens exceed the model's context of %d",
                       len, n, hlm_engine_ctx(e));
    double t_load = now_s();
    if (s == HLM_OK) s = hlm_stop_init(&stop, stops, n_stops, err);
    if (s == HLM_OK) s = hlm_sampler_new(sp, vs, &sampler, err);
    if (s == HLM_OK) hlm_sampler_accept_context(sampler, ctx, (int)len);
    const float *logits = NULL;
    if (s == HLM_OK) s = hlm_engine_prefill(e, ctx, (int)len, &logits, err);
    double t_prefill = now_s(), t_end = t_prefill;
    unsigned long long decoded = 0;
    if (s == HLM_OK) {
        hlm_decoder dec;
        hlm_decoder_init(&dec, tok);
        printf("%s", prompt);
        fflush(stdout);
        int stopped = 0;
        for (unsigned long long t = 0; s == HLM_OK && !stopped && t < n; t++) {
            int next = hlm_sample(sampler, logits, vs);
            if (eog && hlm_eog_has(eog, next)) break;
            hlm_sampler_accept(sampler, next);
            out.len = shown.len = 0;
            s = hlm_decoder_push(&dec, (uint32_t)next, &out, err);
            if (s == HLM_OK) s = hlm_stop_push(&stop, out.data, out.len, &shown, &stopped, err);
            if (s == HLM_OK && shown.len) {
                fwrite(shown.data, 1, shown.len, stdout);
                fflush(stdout);
            }
            if (s == HLM_OK && !stopped && t + 1 < n) {
                s = hlm_engine_decode(e, next, &logits, err);
                decoded++;
            }
        }
        out.len = shown.len = 0;
        if (s == HLM_OK) s = hlm_decoder_flush(&dec, &out, err);
        if (s == HLM_OK) s = hlm_stop_push(&stop, out.data, out.len, &shown, &stopped, err);
        if (s == HLM_OK) s = hlm_stop_flush(&stop, &shown, err);
        if (s == HLM_OK && shown.len) fwrite(shown.data, 1, shown.len, stdout);
        printf("\n");
        fflush(stdout);
        t_end = now_s();
    }
    if (s == HLM_OK) {
        double pf = t_prefill - t_load, dc = t_end - t_prefill;
        hlm_log(HLM_LOG_INFO, "generate: %s weights, load %.2f s; prefill %zu tokens %.1f tokens/s; decode %llu tokens %.1f tokens/s",
                hlm_qtype_name(hlm_engine_wtype(e)), t_load - t0, len, pf > 0 ? (double)len / pf : 0.0, decoded,
                decoded && dc > 0 ? (double)decoded / dc : 0.0);
    }
    hlm_sampler_free(sampler);
    hlm_stop_free(&stop);
    hlm_buf_free(&shown);
    hlm_buf_free(&out);
    hlm_ids_free(&ids);
    return s;
}

int cli_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *tok_path = NULL, *quant = "f32", *template_name = NULL;
    int quant_set = 0;
    const char *prompts_path = NULL;
    unsigned long long parallel = 8;
    const char *stops[4];
    int n_stops = 0, ignore_eos = 0;
    unsigned long long n = 64, threads = 0;
    hlm_sampler_params sp;
    hlm_sampler_params_default(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm generate -m DIR|FILE.gguf [-p PROMPT | --prompts FILE.jsonl [--parallel N]] [-n N]\n"
                   "                        [SAMPLING FLAGS] [--stop STR]...\n"
                   "                        [--ignore-eos] [--chat-template NAME] [--quant f32|q8_0|q4_0]\n"
                   "                        [-t TOKENIZER] [--threads N]\n\n"
                   "Streams a continuation of PROMPT (N tokens, default 64) from the checkpoint DIR with\n"
                   "the inference engine: a KV cache, weights as f32 or quantized when loaded. The tokenizer\n"
                   "is DIR's tokenizer.json unless -t. A GGUF file (llama or gpt2 architecture, e.g. from\n"
                   "`hyperlm quantize` or llama.cpp's converter) is memory-mapped and runs in the types it\n"
                   "stores (f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1) unless --quant; it brings its own\n"
                   "tokenizer. Prefill and decode speeds go to standard error (info level).\n\n"
                   "Generation stops at the model's end-of-sequence token (<|endoftext|> for checkpoints,\n"
                   "tokenizer.ggml.eos_token_id for GGUF files) and at the end-of-turn token of its chat\n"
                   "template (detected from the GGUF file, --chat-template NAME, chatml for checkpoints),\n"
                   "unless --ignore-eos; and where the text contains a --stop string (up to 4), which is\n"
                   "not printed.\n\n"
                   "--prompts FILE.jsonl: one request per line, {\"prompt\": TEXT} with optional \"max_tokens\"\n"
                   "(default -n) and \"id\" (echoed); up to --parallel (default 8) run together, their prompts\n"
                   "prefilled in one pass and one token of each decoded per pass over the weights; a finished\n"
                   "request makes room for the next. Prints one JSON line per request, in input order:\n"
                   "{\"index\", \"id\", \"text\", \"tokens\", \"finish_reason\": \"stop\"|\"length\"}. Request i\n"
                   "samples with seed + i.\n\nsampling flags:\n%s",
                   cli_sampling_help);
            return CLI_OK;
        }
        if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = 1;
            continue;
        }
        if (!v) return cli_usage_error("generate", "unknown flag or missing value: '%s'", a);
        i++;
        int r = cli_sampling_flag("generate", a, v, &sp);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--quant")) {
            quant = v;
            quant_set = 1;
        }
        else if (!strcmp(a, "--chat-template")) template_name = v;
        else if (!strcmp(a, "--stop")) {
            if (n_stops == 4) return cli_usage_error("generate", "--stop: at most 4 stop strings, got also '%s'", v);
            if (!*v) return cli_usage_error("generate", "--stop: expected a non-empty string%s", "");
            stops[n_stops++] = v;
        } else if (!strcmp(a, "-n")) {
            if (!cli_parse_u64("-n", v, 1 << 20, &n)) return CLI_USAGE;
        } else if (!strcmp(a, "--prompts")) {
            prompts_path = v;
        } else if (!strcmp(a, "--parallel")) {
            if (!cli_parse_u64("--parallel", v, 1024, &parallel) || parallel == 0)
                return cli_usage_error("generate", "--parallel: expected 1..1024, got '%s'", v);
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else {
            return cli_usage_error("generate", "unknown flag '%s'", a);
        }
    }
    if (!dir) return cli_usage_error("generate", "%s is required", "-m DIR");
    if (prompts_path && *prompt) return cli_usage_error("generate", "%s: give one of them", "-p and --prompts");
    hlm_qtype wt;
    hlm_error err = {0};
    if (hlm_qtype_from_name(quant, &wt, &err) != HLM_OK || (wt != HLM_QT_F32 && wt != HLM_QT_Q8_0 && wt != HLM_QT_Q4_0))
        return cli_usage_error("generate", "--quant: expected f32, q8_0 or q4_0, got '%s'", quant);
    hlm_set_threads((int)threads);

    /* a GGUF file (llama.cpp's format) runs memory-mapped in its stored types and brings its
     * tokenizer; -t still overrides it */
    int is_gguf = hlm_gguf_is_file(dir);
    hlm_tokenizer *tok = NULL;
    hlm_engine *e = NULL;
    double t0 = now_s();
    hlm_status s = hlm_engine_open(dir, is_gguf && !quant_set ? HLM_ENGINE_STORED : wt, 0, &e, tok_path ? NULL : &tok, &err);
    if (s == HLM_OK && !tok) s = hlm_tokenizer_load(tok_path, -1, &tok, &err);
    int vs = 0;
    if (s == HLM_OK) { /* sample only ids the tokenizer can decode */
        int tv = (int)hlm_tokenizer_vocab_size(tok);
        vs = hlm_engine_config(e)->vocab_size < tv ? hlm_engine_config(e)->vocab_size : tv;
    }
    /* what ends the generation */
    hlm_chat_template tmpl = HLM_CHAT_COUNT;
    hlm_eog eog = {0};
    if (s == HLM_OK) s = cli_generation_end(dir, e, tok, template_name, template_name != NULL, &tmpl, &eog, &err);
    const hlm_eog *ends = ignore_eos ? NULL : &eog;
    if (s == HLM_OK && prompts_path)
        s = run_prompts(e, tok, prompts_path, (int)parallel, (int)n, &sp, stops, n_stops, ends, vs, &err);
    else if (s == HLM_OK)
        s = generate_one(e, tok, prompt, n, &sp, stops, n_stops, ends, vs, t0, &err);
    hlm_tokenizer_free(tok);
    hlm_engine_free(e);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}
