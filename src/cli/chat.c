/* hyperlm chat: a conversation with a chat model on standard input and output. Every turn renders
 * the whole conversation through the chat template (src/infer/chat.h) and prefills only the
 * tokens after the longest common prefix with what the KV cache already holds, so that a reply
 * costs its new tokens, not the whole history; when the tokens diverge from the cache (a reply
 * that encodes differently from how it was generated, a /reset) the engine starts over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/generation.h"
#include "hyperlm/log.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/gguf_model.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The conversation: messages with owned strings. */
typedef struct conversation {
    hlm_chat_message *msgs;
    size_t n, cap;
} conversation;

static hlm_status conv_add(conversation *cv, const char *role, const char *content, size_t len, hlm_error *err)
{
    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 8;
        hlm_chat_message *m = realloc(cv->msgs, cap * sizeof *m);
        if (!m) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        cv->msgs = m;
        cv->cap = cap;
    }
    char *r = strdup(role), *c = malloc(len + 1);
    if (!r || !c) {
        free(r);
        free(c);
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    memcpy(c, content, len);
    c[len] = 0;
    cv->msgs[cv->n++] = (hlm_chat_message){r, c};
    return HLM_OK;
}

/* Drops the messages from index keep on. */
static void conv_truncate(conversation *cv, size_t keep)
{
    while (cv->n > keep) {
        cv->n--;
        free((char *)cv->msgs[cv->n].role);
        free((char *)cv->msgs[cv->n].content);
    }
}

/* The conversation's prompt tokens (rendered with the assistant's turn opened) into ids. */
static hlm_status render_tokens(hlm_chat_template t, const conversation *cv, const hlm_tokenizer *tok, hlm_buf *text,
                                hlm_ids *ids, hlm_error *err)
{
    text->len = ids->len = 0;
    hlm_status st = hlm_chat_render(t, cv->msgs, cv->n, 1, text, err);
    if (!st) st = hlm_tokenizer_encode(tok, text->data, text->len, 1, ids, err);
    return st;
}

int cli_chat(int argc, char **argv)
{
    const char *dir = NULL, *tok_path = NULL, *quant = "f32", *system = NULL, *template_name = NULL;
    int quant_set = 0;
    const char *stops[4];
    int n_stops = 0;
    unsigned long long n_reply = 512, threads = 0, ctx_len = 0;
    hlm_sampler_params sp;
    hlm_sampler_params_default(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm chat -m DIR|FILE.gguf [--system TEXT] [--chat-template NAME] [-n N] [--ctx N]\n"
                   "                    [SAMPLING FLAGS] [--stop STR]... [--quant f32|q8_0|q4_0] [-t TOKENIZER]\n"
                   "                    [--threads N]\n\n"
                   "A conversation with a chat model: each line of standard input is a user turn, each reply\n"
                   "is streamed to standard output and ends with a newline. `/reset` starts a new\n"
                   "conversation; end of input ends the chat. A \"> \" prompt is printed when standard input is\n"
                   "a terminal. Replies stop at the model's end-of-turn or end-of-sequence token, at a --stop\n"
                   "string (up to 4), after N tokens (default 512) or when the context is full.\n\n"
                   "The chat template comes from the GGUF file's tokenizer.chat_template (detected by its\n"
                   "markers), or --chat-template NAME (%s); a checkpoint folder uses chatml.\n"
                   "--ctx N: the KV cache's length in tokens (default: the model's, at most 4096). The KV cache\n"
                   "is kept from one turn to the next; a conversation that outgrows it starts over (a message\n"
                   "to standard error says so). Tokens/s per reply go to standard error (info level).\n\n"
                   "sampling flags:\n%s",
                   hlm_chat_template_names(), cli_sampling_help);
            return CLI_OK;
        }
        if (!v) return cli_usage_error("chat", "unknown flag or missing value: '%s'", a);
        i++;
        int r = cli_sampling_flag("chat", a, v, &sp);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--quant")) {
            quant = v;
            quant_set = 1;
        }
        else if (!strcmp(a, "--system")) system = v;
        else if (!strcmp(a, "--chat-template")) template_name = v;
        else if (!strcmp(a, "--stop")) {
            if (n_stops == 4) return cli_usage_error("chat", "--stop: at most 4 stop strings, got also '%s'", v);
            if (!*v) return cli_usage_error("chat", "--stop: expected a non-empty string%s", "");
            stops[n_stops++] = v;
        } else if (!strcmp(a, "-n")) {
            if (!cli_parse_u64("-n", v, 1 << 20, &n_reply)) return CLI_USAGE;
            if (n_reply == 0) return cli_usage_error("chat", "-n: expected at least 1 token, got '%s'", v);
        } else if (!strcmp(a, "--ctx")) {
            if (!cli_parse_u64("--ctx", v, 1 << 24, &ctx_len)) return CLI_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else {
            return cli_usage_error("chat", "unknown flag '%s'", a);
        }
    }
    if (!dir) return cli_usage_error("chat", "%s is required", "-m DIR");
    hlm_qtype wt;
    hlm_error err = {0};
    if (hlm_qtype_from_name(quant, &wt, &err) != HLM_OK || (wt != HLM_QT_F32 && wt != HLM_QT_Q8_0 && wt != HLM_QT_Q4_0))
        return cli_usage_error("chat", "--quant: expected f32, q8_0 or q4_0, got '%s'", quant);
    hlm_set_threads((int)threads);

    /* loading: as `hyperlm generate` does (a GGUF file with its tokenizer, or a checkpoint folder
     * with tokenizer.json), with the cache length of --ctx */
    hlm_tokenizer *tok = NULL;
    hlm_engine *e = NULL;
    hlm_status s = cli_open_model(dir, tok_path, wt, quant_set, (int)ctx_len, &e, &tok, &err);

    const hlm_model_config *c = s == HLM_OK ? hlm_engine_config(e) : NULL;
    hlm_chat_template tmpl = HLM_CHAT_CHATML;
    hlm_eog eog = {0};
    hlm_sampler *sampler = NULL;
    hlm_stop stop = {0};
    int vs = 0;
    if (s == HLM_OK) s = cli_generation_end(dir, e, tok, template_name, 1, &tmpl, &eog, &err);
    if (s == HLM_OK) {
        int tv = (int)hlm_tokenizer_vocab_size(tok);
        vs = c->vocab_size < tv ? c->vocab_size : tv;
        s = hlm_sampler_new(&sp, vs, &sampler, &err);
    }
    if (s == HLM_OK) s = hlm_stop_init(&stop, stops, n_stops, &err);
    if (s == HLM_OK)
        hlm_log(HLM_LOG_INFO, "chat: template %s, context %d tokens, %s weights", hlm_chat_template_name(tmpl),
                hlm_engine_ctx(e), hlm_qtype_name(wt));

    conversation cv = {0};
    size_t n_fixed = 0; /* the system message, kept by /reset */
    if (s == HLM_OK && system) {
        s = conv_add(&cv, "system", system, strlen(system), &err);
        n_fixed = 1;
    }
    hlm_ids ids = {0}, cached = {0};
    hlm_buf text = {0}, piece = {0}, shown = {0}, reply = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int tty = isatty(STDIN_FILENO), ctx = s == HLM_OK ? hlm_engine_ctx(e) : 0;
    while (s == HLM_OK) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) break;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        line[len] = 0;
        if (len == 0) continue;
        if (!strcmp(line, "/reset")) {
            conv_truncate(&cv, n_fixed);
            hlm_log(HLM_LOG_INFO, "chat: conversation reset");
            continue;
        }
        size_t n_before = cv.n;
        if ((s = conv_add(&cv, "user", line, len, &err))) break;
        s = render_tokens(tmpl, &cv, tok, &text, &ids, &err);
        if (s == HLM_OK && ids.len >= (size_t)ctx && n_before > n_fixed) {
            fprintf(stderr, "hyperlm: chat: the conversation (%zu tokens) no longer fits the context of %d tokens; "
                            "starting a new conversation from this message\n", ids.len, ctx);
            /* keep the system message and this turn only */
            hlm_chat_message last = cv.msgs[cv.n - 1];
            for (size_t k = n_fixed; k < cv.n - 1; k++) {
                free((char *)cv.msgs[k].role);
                free((char *)cv.msgs[k].content);
            }
            cv.msgs[n_fixed] = last;
            cv.n = n_fixed + 1;
            s = render_tokens(tmpl, &cv, tok, &text, &ids, &err);
        }
        if (s == HLM_OK && ids.len >= (size_t)ctx) {
            fprintf(stderr, "hyperlm: chat: this message makes a prompt of %zu tokens, which does not fit the context "
                            "of %d tokens (see --ctx); it is dropped\n", ids.len, ctx);
            conv_truncate(&cv, cv.n - 1);
            continue;
        }
        if (s != HLM_OK) break;

        /* reuse the cache up to the longest common prefix (the rest is cut off); at least one token
         * is run, for the logits */
        size_t common = 0;
        while (common < cached.len && common < ids.len && cached.data[common] == ids.data[common]) common++;
        if (common == ids.len) common--;
        hlm_engine_seq_truncate(e, 0, (int)common);
        cached.len = common;
        double t0 = now_s();
        const float *logits = NULL;
        size_t n_new = ids.len - common;
        s = hlm_engine_prefill(e, (const int32_t *)(ids.data + common), (int)n_new, &logits, &err);
        if (s == HLM_OK) s = hlm_ids_append(&cached, ids.data + common, n_new) ? hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory") : HLM_OK;
        if (s != HLM_OK) break;
        double t1 = now_s();

        /* the reply */
        hlm_sampler_reset(sampler);
        size_t tail = ids.len > 256 ? ids.len - 256 : 0;
        hlm_sampler_accept_context(sampler, (const int32_t *)(ids.data + tail), (int)(ids.len - tail));
        hlm_stop_reset(&stop);
        hlm_decoder dec;
        hlm_decoder_init(&dec, tok);
        reply.len = 0;
        int stopped = 0, full = 0;
        unsigned long long n_gen = 0;
        for (unsigned long long t = 0; s == HLM_OK && t < n_reply; t++) {
            int next = hlm_sample(sampler, logits, vs);
            if (hlm_eog_has(&eog, next)) break;
            hlm_sampler_accept(sampler, next);
            n_gen++;
            piece.len = shown.len = 0;
            s = hlm_decoder_push(&dec, (uint32_t)next, &piece, &err);
            if (s == HLM_OK) s = hlm_stop_push(&stop, piece.data, piece.len, &shown, &stopped, &err);
            if (s == HLM_OK && shown.len) {
                fwrite(shown.data, 1, shown.len, stdout);
                fflush(stdout);
                if (hlm_buf_append(&reply, shown.data, shown.len)) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
            }
            if (s != HLM_OK || stopped || t + 1 == n_reply) break;
            if (hlm_engine_pos(e) >= ctx) {
                full = 1;
                break;
            }
            s = hlm_engine_decode(e, next, &logits, &err);
            if (s == HLM_OK && hlm_ids_push(&cached, (uint32_t)next)) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
        }
        piece.len = shown.len = 0;
        if (s == HLM_OK) s = hlm_decoder_flush(&dec, &piece, &err);
        if (s == HLM_OK) s = hlm_stop_push(&stop, piece.data, piece.len, &shown, &stopped, &err);
        if (s == HLM_OK) s = hlm_stop_flush(&stop, &shown, &err);
        if (s == HLM_OK && shown.len) {
            fwrite(shown.data, 1, shown.len, stdout);
            if (hlm_buf_append(&reply, shown.data, shown.len)) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
        }
        printf("\n");
        fflush(stdout);
        if (s != HLM_OK) break;
        if (full) {
            fprintf(stderr, "hyperlm: chat: the reply was cut: the context of %d tokens is full (see --ctx); the next "
                            "message starts a new conversation\n", ctx);
            conv_truncate(&cv, n_fixed);
        }
        double t2 = now_s();
        hlm_log(HLM_LOG_INFO, "chat: prefill %zu tokens (%zu reused from the cache) %.1f tokens/s; reply %llu tokens %.1f tokens/s",
                n_new, common, t1 > t0 ? (double)n_new / (t1 - t0) : 0.0, n_gen,
                t2 > t1 ? (double)n_gen / (t2 - t1) : 0.0);
        if (!full) s = conv_add(&cv, "assistant", reply.data ? (const char *)reply.data : "", reply.len, &err);
    }
    conv_truncate(&cv, 0);
    free(cv.msgs);
    free(line);
    hlm_ids_free(&ids);
    hlm_ids_free(&cached);
    hlm_buf_free(&text);
    hlm_buf_free(&piece);
    hlm_buf_free(&shown);
    hlm_buf_free(&reply);
    hlm_stop_free(&stop);
    hlm_sampler_free(sampler);
    hlm_tokenizer_free(tok);
    hlm_engine_free(e);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}
