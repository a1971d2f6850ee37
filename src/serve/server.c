/* The HTTP server (server.h). A request's life: the access handler is called once with the
 * headers (the body's size is checked, a context made), then with each piece of the body, then
 * once more to answer. Answers are built here; generations are submitted to the scheduler and
 * waited for on this connection's thread (thread per connection, so waiting blocks no one else),
 * watching the socket so that a client that goes away cancels its generation. Streams are
 * libmicrohttpd callback responses whose reader blocks until the scheduler has more. */
#include "serve/server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cjson/cJSON.h>

#include "hyperlm/log.h"
#include "serve/api.h"
#include "serve/metrics.h"

/* A connection, watched for the header deadline: libmicrohttpd's idle timeout restarts at every
 * byte, so a client that trickles its headers (slowloris) would hold a thread for ever. */
typedef struct conn_watch {
    struct conn_watch *prev, *next;
    int fd;
    int in_request;  /* headers received, the request is being answered */
    double t_wait;   /* since when the connection waits for a request's headers */
} conn_watch;

struct hlm_server {
    struct MHD_Daemon *d;
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cond;
    pthread_t watchdog;
    int watchdog_started, watchdog_stop;
    conn_watch *watched;
    hlm_engine *e;
    const hlm_tokenizer *tok;
    hlm_sched *s;
    hlm_server_opts o;
    char *api_key, *model_name, *page_dir;
    int port, vocab, ctx;
    long long created;
    atomic_int draining, active, connections;
    atomic_ullong next_id;
    hlm_metrics metrics;
};

void hlm_server_opts_default(hlm_server_opts *o)
{
    *o = (hlm_server_opts){.host = "127.0.0.1",
                           .port = 8080,
                           .model_name = "hyperlm",
                           .tmpl = HLM_CHAT_COUNT,
                           .max_connections = 256,
                           .idle_timeout_s = 30,
                           .read_timeout_s = 30,
                           .header_timeout_s = 20,
                           .max_body = 1 << 20,
                           .request_timeout_s = 600};
}

/* ---- small pieces ------------------------------------------------------------------------------ */

/* A copy of s[0..n) with every invalid UTF-8 sequence replaced by U+FFFD, NUL-terminated: JSON
 * strings must be valid UTF-8, and a model can emit any bytes. */
static char *utf8_lossy(const uint8_t *s, size_t n)
{
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) {
            uint32_t cp = len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
            for (size_t k = 1; k < len; k++) cp = cp << 6 | (s[i + k] & 0x3Fu);
            ok = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
                 (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
        }
        if (ok && c == 0) ok = 0; /* a NUL would end the C string */
        if (ok) {
            memcpy(o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    return out;
}

static cJSON *json_string_lossy(const uint8_t *s, size_t n)
{
    char *t = utf8_lossy(s, n);
    if (!t) return NULL;
    cJSON *j = cJSON_CreateString(t);
    free(t);
    return j;
}

/* Compares the whole of both strings whatever they hold: the time depends on their lengths only. */
static int equal_constant_time(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
    unsigned diff = (unsigned)(la != lb);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < la ? (unsigned char)a[i] : 0, y = i < lb ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

/* 1 when the peer has closed its side (or the socket failed): its generation can stop. */
static int peer_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* ---- request contexts -------------------------------------------------------------------------- */

typedef struct req_ctx {
    hlm_server *srv;
    double t0;
    int ep;
    hlm_buf body;
    int too_big;
    char method[8];
    char path[96];
    const char *allow; /* the endpoint's methods, for the Allow header of a 405 (RFC 9110) */
} req_ctx;

static void log_request(hlm_server *srv, const req_ctx *r, int status, const char *extra)
{
    double dt = hlm_sched_now() - r->t0;
    hlm_metrics_request(&srv->metrics, r->ep, status, dt);
    if (!srv->o.quiet) HLM_INFO("%s %s %d %.3fs%s%s", r->method, r->path, status, dt, extra ? " " : "", extra ? extra : "");
}

/* header: one more response header (name, value), or NULL. */
static enum MHD_Result send_bytes(struct MHD_Connection *c, int status, const char *type, const void *data, size_t n,
                                  const char *header, const char *value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (header && value) MHD_add_response_header(resp, header, value);
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, int status, cJSON *j,
                                 const char *extra)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        log_request(srv, r, 500, "out of memory");
        return send_bytes(c, 500, "application/json", oom, sizeof oom - 1, NULL, NULL);
    }
    log_request(srv, r, status, extra);
    enum MHD_Result ret = send_bytes(c, status, "application/json", text, strlen(text), NULL, NULL);
    free(text);
    return ret;
}

/* OpenAI's error body. */
static cJSON *error_json(const char *message, const char *type, const char *param, const char *code)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    if (!e) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param && *param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return root;
}

static enum MHD_Result send_error(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, int status, const char *type,
                                  const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static enum MHD_Result send_error(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, int status, const char *type,
                                  const char *param, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *header = NULL, *value = NULL;
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        header = MHD_HTTP_HEADER_RETRY_AFTER;
        value = "1";
    } else if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        header = MHD_HTTP_HEADER_ALLOW;
        value = r->allow;
    }
    cJSON *j = error_json(msg, type, param, code);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    log_request(srv, r, status, msg);
    enum MHD_Result ret = text ? send_bytes(c, status, "application/json", text, strlen(text), header, value) : MHD_NO;
    free(text);
    return ret;
}

/* ---- tokens ------------------------------------------------------------------------------------ */

/* The tokens of a prompt text: the vocabulary's BOS when it wants one (unless the text is a
 * rendered chat, which writes its own), then the text's tokens with special tokens allowed; an
 * empty result becomes <|endoftext|> (id 0 without one) so there is a position to predict from. */
static hlm_status text_tokens(const hlm_tokenizer *tok, const char *text, int add_bos, hlm_ids *out, hlm_error *err)
{
    uint32_t id;
    out->len = 0;
    if (add_bos && hlm_tokenizer_bos(tok, &id) && hlm_ids_push(out, id) != HLM_OK)
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    hlm_status st = hlm_tokenizer_encode(tok, text, strlen(text), 1, out, err);
    if (st == HLM_OK && out->len == 0) {
        if (!hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &id)) id = 0;
        st = hlm_ids_push(out, id);
    }
    return st;
}

static hlm_status input_tokens(const hlm_tokenizer *tok, const hlm_api_input *in, int add_bos, hlm_ids *out,
                               hlm_error *err)
{
    if (in->text) return text_tokens(tok, in->text, add_bos, out, err);
    out->len = 0;
    for (int i = 0; i < in->n_ids; i++)
        if (hlm_ids_push(out, (uint32_t)in->ids[i]) != HLM_OK) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    return HLM_OK;
}

/* The text of one token (lossless bytes; for a SentencePiece vocabulary without the leading
 * space a word's first piece would lose). */
static void token_text(const hlm_tokenizer *tok, int32_t id, hlm_buf *out)
{
    out->len = 0;
    const uint8_t *b;
    size_t n;
    if (hlm_tokenizer_token_bytes(tok, (uint32_t)id, &b, &n, NULL) == HLM_OK) {
        /* SentencePiece spells a space as U+2581; show it as a space */
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81) {
                hlm_buf_append(out, " ", 1);
                i += 2;
            } else {
                hlm_buf_append(out, b + i, 1);
            }
        }
    }
}

/* ---- generation requests ----------------------------------------------------------------------- */

typedef struct gen {
    hlm_server *srv;
    struct MHD_Connection *c;
    req_ctx r;              /* a copy: a stream outlives the access handler's context */
    hlm_api_request q;
    int chat;
    char id[48];
    long long created;
    pthread_cond_t cond;
    hlm_job **jobs;
    int n_jobs;
    int prompt_tokens;      /* summed over the inputs, once each */
    int submitted;          /* the jobs are the scheduler's (else they never ran: nothing to cancel) */
    /* streaming */
    size_t *sent_text;
    int *sent_tok, *ended, *started;
    int usage_sent, done_sent, failed;
    hlm_buf out;
    size_t out_at;
    double last_write;
} gen;

static void gen_free(gen *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_jobs; i++)
        if (g->jobs[i]) {
            hlm_sched_lock(g->srv->s);
            hlm_job_finish f = g->jobs[i]->finish;
            hlm_sched_unlock(g->srv->s);
            /* cut short: the client left (still running now), a deadline, or the shutdown */
            if (g->submitted && (f == HLM_JOB_RUNNING || f == HLM_JOB_TIMEOUT || f == HLM_JOB_CANCELLED))
                hlm_metrics_count(&g->srv->metrics, &g->srv->metrics.cancelled);
            if (g->submitted && f == HLM_JOB_RUNNING) hlm_job_cancel(g->srv->s, g->jobs[i]);
            hlm_job_release(g->srv->s, g->jobs[i]);
        }
    free(g->jobs);
    free(g->sent_text);
    free(g->sent_tok);
    free(g->ended);
    free(g->started);
    hlm_buf_free(&g->out);
    hlm_buf_free(&g->r.body);
    hlm_api_request_free(&g->q);
    pthread_cond_destroy(&g->cond);
    free(g);
}

/* Distinct per request and per server start: ids of responses, seeds of unseeded requests. */
static uint64_t next_id(hlm_server *srv)
{
    uint64_t x = atomic_fetch_add(&srv->next_id, 1) + 0x9E3779B97F4A7C15ull; /* SplitMix64 */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static const char *finish_name(hlm_job_finish f) { return f == HLM_JOB_LENGTH ? "length" : "stop"; }

/* logprobs of tokens[from..to) of a job, in the endpoint's shape (completions: parallel arrays;
 * chat: a list of objects); text_base: the text offset of the first. */
static cJSON *logprobs_json(const gen *g, const hlm_job *j, int from, int to, size_t *text_off)
{
    cJSON *root = cJSON_CreateObject();
    hlm_buf t = {0};
    if (g->chat) {
        cJSON *content = cJSON_AddArrayToObject(root, "content");
        for (int i = from; i < to && content; i++) {
            const hlm_job_token *k = &j->tokens[i];
            cJSON *o = cJSON_CreateObject();
            token_text(g->srv->tok, k->id, &t);
            cJSON_AddItemToObject(o, "token", json_string_lossy(t.data, t.len));
            cJSON_AddNumberToObject(o, "logprob", k->logprob);
            cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
            for (size_t b = 0; b < t.len; b++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber(t.data[b]));
            cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
            for (int a = 0; a < k->n_top; a++) {
                cJSON *e = cJSON_CreateObject();
                token_text(g->srv->tok, k->top_ids[a], &t);
                cJSON_AddItemToObject(e, "token", json_string_lossy(t.data, t.len));
                cJSON_AddNumberToObject(e, "logprob", k->top_logprobs[a]);
                cJSON *eb = cJSON_AddArrayToObject(e, "bytes");
                for (size_t b = 0; b < t.len; b++) cJSON_AddItemToArray(eb, cJSON_CreateNumber(t.data[b]));
                cJSON_AddItemToArray(top, e);
            }
            cJSON_AddItemToArray(content, o);
        }
    } else {
        cJSON *toks = cJSON_AddArrayToObject(root, "tokens"), *lps = cJSON_AddArrayToObject(root, "token_logprobs"),
              *tops = cJSON_AddArrayToObject(root, "top_logprobs"), *offs = cJSON_AddArrayToObject(root, "text_offset");
        for (int i = from; i < to && offs; i++) {
            const hlm_job_token *k = &j->tokens[i];
            token_text(g->srv->tok, k->id, &t);
            cJSON_AddItemToArray(toks, json_string_lossy(t.data, t.len));
            cJSON_AddItemToArray(lps, cJSON_CreateNumber(k->logprob));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*text_off));
            *text_off += t.len;
            cJSON *top = cJSON_CreateObject();
            for (int a = 0; a < k->n_top; a++) {
                hlm_buf u = {0};
                token_text(g->srv->tok, k->top_ids[a], &u);
                char *key = utf8_lossy(u.data, u.len);
                if (key && !cJSON_GetObjectItemCaseSensitive(top, key)) cJSON_AddNumberToObject(top, key, k->top_logprobs[a]);
                free(key);
                hlm_buf_free(&u);
            }
            cJSON_AddItemToArray(tops, top);
        }
    }
    hlm_buf_free(&t);
    return root;
}

static cJSON *usage_json(const gen *g)
{
    long long completion = 0, cached = 0;
    for (int i = 0; i < g->n_jobs; i++) {
        completion += g->jobs[i]->n_generated;
        cached += g->jobs[i]->cached;
    }
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", g->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(g->prompt_tokens + completion));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    /* cached counts each choice's reuse; the prompt is counted once per input */
    cJSON_AddNumberToObject(d, "cached_tokens", (double)(cached < g->prompt_tokens ? cached : g->prompt_tokens));
    return u;
}

static cJSON *chunk_head(const gen *g)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", g->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)g->created);
    cJSON_AddStringToObject(o, "model", g->srv->model_name);
    return o;
}

static void record_tokens(gen *g)
{
    long long completion = 0, cached = 0;
    double ttft = -1;
    for (int i = 0; i < g->n_jobs; i++) {
        completion += g->jobs[i]->n_generated;
        cached += g->jobs[i]->cached;
        if (g->jobs[i]->t_first && (ttft < 0 || g->jobs[i]->t_first - g->jobs[i]->t_submit < ttft))
            ttft = g->jobs[i]->t_first - g->jobs[i]->t_submit;
    }
    hlm_metrics_tokens(&g->srv->metrics, g->prompt_tokens, cached, completion, ttft);
}

/* The whole answer of a request that was not streamed (all jobs ended). */
static cJSON *full_response(gen *g)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", g->chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)g->created);
    cJSON_AddStringToObject(o, "model", g->srv->model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    int n = g->q.n;
    for (int i = 0; i < g->n_jobs; i++) {
        hlm_job *j = g->jobs[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        hlm_buf text = {0};
        if (!g->chat && g->q.echo) {
            const hlm_api_input *in = &g->q.inputs[i / n];
            if (in->text) hlm_buf_append(&text, in->text, strlen(in->text));
            else {
                hlm_tokenizer_decode(g->srv->tok, (const uint32_t *)in->ids, (size_t)in->n_ids, &text, NULL);
            }
        }
        hlm_buf_append(&text, j->text.data, j->text.len);
        if (g->chat) {
            cJSON *m = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddItemToObject(m, "content", json_string_lossy(text.data, text.len));
        } else {
            cJSON_AddItemToObject(c, "text", json_string_lossy(text.data, text.len));
        }
        hlm_buf_free(&text);
        size_t off = 0;
        if (g->q.logprobs) cJSON_AddItemToObject(c, "logprobs", logprobs_json(g, j, 0, j->n_generated, &off));
        else cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", finish_name(j->finish));
        cJSON_AddItemToArray(choices, c);
    }
    cJSON_AddItemToObject(o, "usage", usage_json(g));
    return o;
}

/* ---- streaming ---------------------------------------------------------------------------------- */

static int sse_event(gen *g, cJSON *o)
{
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!t) return -1;
    int bad = hlm_buf_appendf(&g->out, "data: %s\n\n", t) != HLM_OK;
    free(t);
    return bad ? -1 : 0;
}

/* With the scheduler's lock held: appends to g->out the events for what the jobs made since the
 * last call. Returns 1 when the stream is complete ([DONE] written). */
static int stream_collect(gen *g)
{
    int all_ended = 1;
    for (int i = 0; i < g->n_jobs; i++) {
        hlm_job *j = g->jobs[i];
        int ended = j->finish != HLM_JOB_RUNNING;
        if (!ended) all_ended = 0;
        if (j->finish == HLM_JOB_TIMEOUT || j->finish == HLM_JOB_ERROR || j->finish == HLM_JOB_CANCELLED) {
            if (!g->failed) {
                g->failed = 1;
                const char *msg = j->finish == HLM_JOB_TIMEOUT ? "the request timed out"
                                  : j->finish == HLM_JOB_CANCELLED ? "the server is shutting down"
                                                                   : j->error.msg;
                sse_event(g, error_json(msg, j->finish == HLM_JOB_TIMEOUT ? "timeout_error" : "server_error", NULL, NULL));
            }
            continue;
        }
        int new_toks = g->q.logprobs ? j->n_generated - g->sent_tok[i] : 0;
        int new_text = j->text.len > g->sent_text[i];
        int need_role = g->chat && !g->started[i];
        if (new_text || new_toks > 0 || need_role) {
            cJSON *o = chunk_head(g), *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "index", i);
            cJSON *text = json_string_lossy(j->text.data + g->sent_text[i], j->text.len - g->sent_text[i]);
            if (g->chat) {
                cJSON *d = cJSON_AddObjectToObject(c, "delta");
                if (need_role) cJSON_AddStringToObject(d, "role", "assistant");
                cJSON_AddItemToObject(d, "content", text);
            } else {
                cJSON_AddItemToObject(c, "text", text);
            }
            size_t off = g->sent_text[i];
            if (new_toks > 0) cJSON_AddItemToObject(c, "logprobs", logprobs_json(g, j, g->sent_tok[i], j->n_generated, &off));
            else cJSON_AddNullToObject(c, "logprobs");
            cJSON_AddNullToObject(c, "finish_reason");
            cJSON_AddItemToArray(choices, c);
            if (g->q.include_usage) cJSON_AddNullToObject(o, "usage");
            sse_event(g, o);
            g->started[i] = 1;
            g->sent_text[i] = j->text.len;
            if (g->q.logprobs) g->sent_tok[i] = j->n_generated;
        }
        if (ended && !g->ended[i]) {
            cJSON *o = chunk_head(g), *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "index", i);
            if (g->chat) cJSON_AddObjectToObject(c, "delta");
            else cJSON_AddStringToObject(c, "text", "");
            cJSON_AddNullToObject(c, "logprobs");
            cJSON_AddStringToObject(c, "finish_reason", finish_name(j->finish));
            cJSON_AddItemToArray(choices, c);
            if (g->q.include_usage) cJSON_AddNullToObject(o, "usage");
            sse_event(g, o);
            g->ended[i] = 1;
        }
    }
    if (!(all_ended || g->failed) || g->done_sent) return g->done_sent;
    if (g->q.include_usage && !g->failed && !g->usage_sent) {
        cJSON *o = chunk_head(g);
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(g));
        sse_event(g, o);
        g->usage_sent = 1;
    }
    hlm_buf_append(&g->out, "data: [DONE]\n\n", 14);
    g->done_sent = 1;
    return 1;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    gen *g = cls;
    for (;;) {
        if (g->out_at < g->out.len) {
            size_t n = g->out.len - g->out_at;
            if (n > max) n = max;
            memcpy(buf, g->out.data + g->out_at, n);
            g->out_at += n;
            if (g->out_at == g->out.len) g->out.len = g->out_at = 0;
            g->last_write = hlm_sched_now();
            return (ssize_t)n;
        }
        if (g->done_sent) return MHD_CONTENT_READER_END_OF_STREAM;
        if (peer_gone(g->c)) return MHD_CONTENT_READER_END_WITH_ERROR;
        hlm_sched_lock(g->srv->s);
        stream_collect(g);
        if (g->out.len == 0 && !g->done_sent) hlm_sched_wait(g->srv->s, &g->cond, 100);
        hlm_sched_unlock(g->srv->s);
        /* a comment line now and then: proxies keep the stream open, and a gone client shows */
        if (g->out.len == 0 && !g->done_sent && hlm_sched_now() - g->last_write > 10)
            hlm_buf_append(&g->out, ": keep-alive\n\n", 14);
    }
}

static void stream_free(void *cls)
{
    gen *g = cls;
    record_tokens(g);
    char extra[96];
    long long toks = 0;
    for (int i = 0; i < g->n_jobs; i++) toks += g->jobs[i]->n_generated;
    snprintf(extra, sizeof extra, "stream prompt=%d generated=%lld%s", g->prompt_tokens, toks,
             g->done_sent ? "" : " (client left before the end)");
    log_request(g->srv, &g->r, 200, extra); /* the status went out with the first bytes */
    atomic_fetch_sub(&g->srv->active, 1);
    gen_free(g);
}

/* ---- the generation endpoints -------------------------------------------------------------------- */

static enum MHD_Result api_error(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, const hlm_api_error *ae)
{
    char *text = hlm_api_error_json(ae);
    log_request(srv, r, ae->status, ae->message);
    enum MHD_Result ret = text ? send_bytes(c, ae->status, "application/json", text, strlen(text), NULL, NULL) : MHD_NO;
    free(text);
    return ret;
}

static int model_ok(hlm_server *srv, const hlm_api_request *q)
{
    return !q->model || strcmp(q->model, srv->model_name) == 0;
}

static enum MHD_Result model_not_found(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, const char *model)
{
    return send_error(srv, c, r, MHD_HTTP_NOT_FOUND, "invalid_request_error", "model", "model_not_found",
                      "The model '%.128s' does not exist; this server serves '%s'", model, srv->model_name);
}

/* Waits (on this connection's thread) until every job ended; 0, or -1 when the client left. */
static int wait_jobs(gen *g)
{
    hlm_sched_lock(g->srv->s);
    for (;;) {
        int ended = 1;
        for (int i = 0; i < g->n_jobs; i++) ended &= g->jobs[i]->finish != HLM_JOB_RUNNING;
        if (ended) break;
        hlm_sched_unlock(g->srv->s);
        if (peer_gone(g->c)) return -1;
        hlm_sched_lock(g->srv->s);
        hlm_sched_wait(g->srv->s, &g->cond, 100);
    }
    hlm_sched_unlock(g->srv->s);
    return 0;
}

static enum MHD_Result generate(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, int chat)
{
    gen *g = calloc(1, sizeof *g);
    if (!g) return send_error(srv, c, r, 500, "server_error", NULL, NULL, "out of memory");
    pthread_cond_init(&g->cond, NULL);
    g->srv = srv;
    g->c = c;
    g->chat = chat;
    g->r = *r;
    r->body = (hlm_buf){0}; /* the copy owns it */
    g->created = (long long)time(NULL);
    snprintf(g->id, sizeof g->id, "%s-%016llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)next_id(srv));
    hlm_api_error ae;
    enum MHD_Result ret;
    if (hlm_api_parse((const char *)g->r.body.data, g->r.body.len, chat ? HLM_API_CHAT : HLM_API_COMPLETION, srv->vocab,
                      &g->q, &ae) != HLM_OK) {
        ret = api_error(srv, c, &g->r, &ae);
        goto out;
    }
    if (!model_ok(srv, &g->q)) {
        ret = model_not_found(srv, c, &g->r, g->q.model);
        goto out;
    }
    if (chat && srv->o.tmpl == HLM_CHAT_COUNT) {
        ret = send_error(srv, c, &g->r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "messages", NULL,
                         "this model has no chat template the server knows; use /v1/completions or start the server with --chat-template");
        goto out;
    }
    /* the prompts */
    int n_inputs = chat ? 1 : g->q.n_inputs, n = g->q.n;
    g->jobs = calloc((size_t)(n_inputs * n), sizeof *g->jobs);
    g->sent_text = calloc((size_t)(n_inputs * n), sizeof *g->sent_text);
    g->sent_tok = calloc((size_t)(n_inputs * n), sizeof *g->sent_tok);
    g->ended = calloc((size_t)(n_inputs * n), sizeof *g->ended);
    g->started = calloc((size_t)(n_inputs * n), sizeof *g->started);
    if (!g->jobs || !g->sent_text || !g->sent_tok || !g->ended || !g->started) {
        ret = send_error(srv, c, &g->r, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    hlm_error err;
    hlm_ids ids = {0};
    const char *param = chat ? "messages" : "prompt";
    for (int p = 0; p < n_inputs; p++) {
        hlm_status st;
        if (chat) {
            hlm_buf text = {0};
            st = hlm_chat_render(srv->o.tmpl, g->q.messages, (size_t)g->q.n_messages, 1, &text, &err);
            if (st == HLM_OK) st = hlm_buf_terminate(&text);
            if (st == HLM_OK) st = text_tokens(srv->tok, (const char *)text.data, 0, &ids, &err);
            hlm_buf_free(&text);
            if (st == HLM_ERR_INVALID) {
                hlm_ids_free(&ids);
                ret = send_error(srv, c, &g->r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "messages", NULL, "%s", err.msg);
                goto out;
            }
        } else {
            st = input_tokens(srv->tok, &g->q.inputs[p], 1, &ids, &err);
        }
        if (st != HLM_OK) {
            hlm_ids_free(&ids);
            ret = send_error(srv, c, &g->r, 500, "server_error", NULL, NULL, "%s", err.msg);
            goto out;
        }
        int len = (int)ids.len, max_tokens = g->q.max_tokens;
        if (len >= srv->ctx || (max_tokens > 0 && len + max_tokens > srv->ctx)) {
            hlm_ids_free(&ids);
            if (max_tokens > 0)
                ret = send_error(srv, c, &g->r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", param, "context_length_exceeded",
                                 "This model's maximum context length is %d tokens. However, you requested %d tokens "
                                 "(%d in the %s, %d for the completion). Please reduce the length of the %s or the completion.",
                                 srv->ctx, len + max_tokens, len, param, max_tokens, param);
            else
                ret = send_error(srv, c, &g->r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", param, "context_length_exceeded",
                                 "This model's maximum context length is %d tokens. However, your %s has %d tokens, "
                                 "which leaves no room for the completion.",
                                 srv->ctx, param, len);
            goto out;
        }
        if (max_tokens <= 0) max_tokens = srv->ctx - len;
        g->prompt_tokens += len;
        for (int k = 0; k < n; k++) {
            hlm_sampler_params sp = g->q.sampling;
            if (g->q.has_seed) sp.seed += (uint64_t)k;
            else sp.seed = next_id(srv);
            hlm_job_params jp = {.vocab = hlm_sched_vocab(srv->s),
                                 .prompt = (const int32_t *)ids.data,
                                 .prompt_len = len,
                                 .max_tokens = max_tokens,
                                 .sampling = &sp,
                                 .bias_ids = g->q.bias_ids,
                                 .bias_vals = g->q.bias_vals,
                                 .n_bias = g->q.n_bias,
                                 .stop = (const char *const *)g->q.stop,
                                 .n_stop = g->q.n_stop,
                                 .logprobs = g->q.logprobs,
                                 .top_logprobs = g->q.top_logprobs,
                                 .timeout_s = srv->o.request_timeout_s};
            st = hlm_job_new(&jp, &g->cond, &g->jobs[p * n + k], &err);
            if (st != HLM_OK) {
                hlm_ids_free(&ids);
                ret = send_error(srv, c, &g->r, st == HLM_ERR_NOMEM ? 500 : 400,
                                 st == HLM_ERR_NOMEM ? "server_error" : "invalid_request_error", NULL, NULL, "%s", err.msg);
                goto out;
            }
            g->n_jobs++;
        }
    }
    hlm_ids_free(&ids);
    if (atomic_load(&srv->draining)) {
        ret = send_error(srv, c, &g->r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, NULL, "the server is shutting down");
        goto out;
    }
    hlm_status st = hlm_sched_submit(srv->s, g->jobs, g->n_jobs, &err);
    if (st == HLM_ERR_RANGE) {
        hlm_metrics_count(&srv->metrics, &srv->metrics.rejected_queue_full);
        ret = send_error(srv, c, &g->r, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limit_error", NULL, "rate_limit_exceeded",
                         "The server is busy: %s. Retry after a second.", err.msg);
        goto out;
    }
    if (st != HLM_OK) {
        ret = send_error(srv, c, &g->r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, NULL, "%s", err.msg);
        goto out;
    }
    g->submitted = 1;
    if (g->q.stream) {
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, g, stream_free);
        if (!resp) {
            ret = MHD_NO;
            goto out;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        g->last_write = hlm_sched_now();
        atomic_fetch_add(&srv->active, 1);
        ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp); /* stream_free runs when libmicrohttpd is done with it */
        return ret;
    }
    atomic_fetch_add(&srv->active, 1);
    if (wait_jobs(g) != 0) {
        atomic_fetch_sub(&srv->active, 1);
        log_request(srv, &g->r, 499, "client closed the connection");
        gen_free(g);
        return MHD_NO;
    }
    atomic_fetch_sub(&srv->active, 1);
    record_tokens(g);
    for (int i = 0; i < g->n_jobs; i++) {
        hlm_job *j = g->jobs[i];
        if (j->finish == HLM_JOB_TIMEOUT) {
            ret = send_error(srv, c, &g->r, MHD_HTTP_GATEWAY_TIMEOUT, "timeout_error", NULL, NULL,
                             "the request did not finish within %g s", srv->o.request_timeout_s);
            goto out;
        }
        if (j->finish == HLM_JOB_CANCELLED) {
            ret = send_error(srv, c, &g->r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, NULL,
                             "the server is shutting down");
            goto out;
        }
        if (j->finish == HLM_JOB_ERROR) {
            ret = send_error(srv, c, &g->r, 500, "server_error", NULL, NULL, "%s", j->error.msg);
            goto out;
        }
    }
    char extra[64];
    long long toks = 0;
    for (int i = 0; i < g->n_jobs; i++) toks += g->jobs[i]->n_generated;
    snprintf(extra, sizeof extra, "prompt=%d generated=%lld", g->prompt_tokens, toks);
    ret = send_json(srv, c, &g->r, MHD_HTTP_OK, full_response(g), extra);
out:
    gen_free(g);
    return ret;
}

/* ---- embeddings, tokenize, detokenize --------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static cJSON *base64_floats(const float *v, int n)
{
    const uint8_t *b = (const uint8_t *)v; /* little-endian float32, as OpenAI sends */
    size_t len = (size_t)n * 4, o = 0;
    char *s = malloc((len + 2) / 3 * 4 + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < len ? b[i + 2] : 0);
        s[o++] = b64[x >> 18 & 63];
        s[o++] = b64[x >> 12 & 63];
        s[o++] = i + 1 < len ? b64[x >> 6 & 63] : '=';
        s[o++] = i + 2 < len ? b64[x & 63] : '=';
    }
    s[o] = 0;
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

static enum MHD_Result embeddings(hlm_server *srv, struct MHD_Connection *c, req_ctx *r)
{
    hlm_api_request q = {0};
    hlm_api_error ae;
    if (hlm_api_parse((const char *)r->body.data, r->body.len, HLM_API_EMBEDDING, srv->vocab, &q, &ae) != HLM_OK)
        return api_error(srv, c, r, &ae);
    if (!model_ok(srv, &q)) {
        enum MHD_Result ret = model_not_found(srv, c, r, q.model);
        hlm_api_request_free(&q);
        return ret;
    }
    gen g = {.srv = srv, .c = c};
    pthread_cond_init(&g.cond, NULL);
    hlm_job **jobs = calloc((size_t)q.n_inputs, sizeof *jobs);
    hlm_ids ids = {0};
    hlm_error err;
    enum MHD_Result ret = MHD_NO;
    int total = 0, made = 0, sent = 0;
    if (!jobs) {
        ret = send_error(srv, c, r, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < q.n_inputs; i++) {
        if (input_tokens(srv->tok, &q.inputs[i], 1, &ids, &err) != HLM_OK) {
            ret = send_error(srv, c, r, 500, "server_error", NULL, NULL, "%s", err.msg);
            goto out;
        }
        if ((int)ids.len > srv->ctx) {
            ret = send_error(srv, c, r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "input", "context_length_exceeded",
                             "input %d has %zu tokens; this model's maximum context length is %d tokens", i, ids.len,
                             srv->ctx);
            goto out;
        }
        total += (int)ids.len;
        if (hlm_job_new_embed((const int32_t *)ids.data, (int)ids.len, srv->o.request_timeout_s, &g.cond, &jobs[i],
                              &err) != HLM_OK) {
            ret = send_error(srv, c, r, 500, "server_error", NULL, NULL, "%s", err.msg);
            goto out;
        }
        made++;
    }
    hlm_status st = hlm_sched_submit(srv->s, jobs, made, &err);
    if (st != HLM_OK) {
        if (st == HLM_ERR_RANGE) hlm_metrics_count(&srv->metrics, &srv->metrics.rejected_queue_full);
        ret = st == HLM_ERR_RANGE ? send_error(srv, c, r, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limit_error", NULL, "rate_limit_exceeded",
                                               "The server is busy: %s. Retry after a second.", err.msg)
                                  : send_error(srv, c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, NULL, "%s", err.msg);
        goto out;
    }
    sent = 1;
    g.jobs = jobs;
    g.n_jobs = made;
    if (wait_jobs(&g) != 0) {
        log_request(srv, r, 499, "client closed the connection");
        goto out;
    }
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    int dim = hlm_engine_config(srv->e)->d_model;
    for (int i = 0; i < made; i++) {
        if (!jobs[i]->embedding) {
            cJSON_Delete(o);
            ret = send_error(srv, c, r, jobs[i]->finish == HLM_JOB_TIMEOUT ? 504 : 500, "server_error", NULL, NULL, "%s",
                             jobs[i]->finish == HLM_JOB_TIMEOUT ? "the request timed out" : jobs[i]->error.msg);
            goto out;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", i);
        if (q.encoding_base64) cJSON_AddItemToObject(e, "embedding", base64_floats(jobs[i]->embedding, dim));
        else cJSON_AddItemToObject(e, "embedding", cJSON_CreateFloatArray(jobs[i]->embedding, dim));
        cJSON_AddItemToArray(data, e);
    }
    cJSON_AddStringToObject(o, "model", srv->model_name);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", total);
    cJSON_AddNumberToObject(u, "total_tokens", total);
    ret = send_json(srv, c, r, MHD_HTTP_OK, o, NULL);
out:
    for (int i = 0; jobs && i < made; i++) {
        if (sent) hlm_job_cancel(srv->s, jobs[i]);
        hlm_job_release(srv->s, jobs[i]);
    }
    free(jobs);
    hlm_ids_free(&ids);
    hlm_api_request_free(&q);
    pthread_cond_destroy(&g.cond);
    return ret;
}

static enum MHD_Result tokenize(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, int detok)
{
    hlm_api_request q = {0};
    hlm_api_error ae;
    if (hlm_api_parse((const char *)r->body.data, r->body.len, detok ? HLM_API_DETOKENIZE : HLM_API_TOKENIZE, srv->vocab,
                      &q, &ae) != HLM_OK)
        return api_error(srv, c, r, &ae);
    if (!model_ok(srv, &q)) {
        enum MHD_Result ret = model_not_found(srv, c, r, q.model);
        hlm_api_request_free(&q);
        return ret;
    }
    hlm_error err;
    cJSON *o = cJSON_CreateObject();
    hlm_status st = HLM_OK;
    if (detok) {
        hlm_buf text = {0};
        st = hlm_tokenizer_decode(srv->tok, (const uint32_t *)q.inputs[0].ids, (size_t)q.inputs[0].n_ids, &text, &err);
        cJSON_AddItemToObject(o, "prompt", json_string_lossy(text.data, text.len)); /* vLLM's name */
        cJSON_AddItemToObject(o, "content", json_string_lossy(text.data, text.len)); /* llama.cpp's */
        hlm_buf_free(&text);
    } else {
        hlm_ids ids = {0};
        uint32_t bos;
        if (q.add_special && hlm_tokenizer_bos(srv->tok, &bos)) st = hlm_ids_push(&ids, bos);
        const char *text = q.inputs[0].text ? q.inputs[0].text : "";
        if (st == HLM_OK) st = hlm_tokenizer_encode(srv->tok, text, strlen(text), q.add_special, &ids, &err);
        cJSON *arr = cJSON_AddArrayToObject(o, "tokens");
        hlm_buf t = {0};
        for (size_t i = 0; st == HLM_OK && i < ids.len; i++) {
            if (q.with_pieces) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "id", ids.data[i]);
                token_text(srv->tok, (int32_t)ids.data[i], &t);
                cJSON_AddItemToObject(e, "piece", json_string_lossy(t.data, t.len));
                cJSON_AddItemToArray(arr, e);
            } else {
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids.data[i]));
            }
        }
        hlm_buf_free(&t);
        cJSON_AddNumberToObject(o, "count", (double)ids.len);
        cJSON_AddNumberToObject(o, "max_model_len", srv->ctx);
        hlm_ids_free(&ids);
    }
    hlm_api_request_free(&q);
    if (st != HLM_OK) {
        cJSON_Delete(o);
        return send_error(srv, c, r, 500, "server_error", NULL, NULL, "%s", err.msg);
    }
    return send_json(srv, c, r, MHD_HTTP_OK, o, NULL);
}

/* ---- models, health, metrics, static files ----------------------------------------------------- */

static cJSON *model_json(hlm_server *srv)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)srv->created);
    cJSON_AddStringToObject(m, "owned_by", "hyperlm");
    cJSON_AddNumberToObject(m, "max_model_len", srv->ctx);
    return m;
}

static enum MHD_Result metrics(hlm_server *srv, struct MHD_Connection *c, req_ctx *r)
{
    hlm_sched_stats st;
    hlm_sched_stats_get(srv->s, &st);
    hlm_metrics_gauges gg = {.queued = st.queued, .running = st.running, .parallel = st.parallel,
                             .connections = atomic_load(&srv->connections)};
    hlm_buf out = {0};
    if (hlm_metrics_render(&srv->metrics, &gg, &out) != HLM_OK) {
        hlm_buf_free(&out);
        return send_error(srv, c, r, 500, "server_error", NULL, NULL, "out of memory");
    }
    log_request(srv, r, 200, NULL);
    enum MHD_Result ret = send_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len, NULL, NULL);
    hlm_buf_free(&out);
    return ret;
}

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const map[][2] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
                                         {".svg", "image/svg+xml"},            {".png", "image/png"},
                                         {".ico", "image/x-icon"},             {".txt", "text/plain; charset=utf-8"}};
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

/* A file of the page folder: one path component of [A-Za-z0-9._-], not starting with a dot, a
 * regular file opened without following links. */
static enum MHD_Result static_file(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, const char *url)
{
    const char *name = url[1] ? url + 1 : "index.html";
    size_t n = strlen(name);
    int ok = n > 0 && n < 128 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) ok = isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-';
    if (!ok) return send_error(srv, c, r, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL, "no such page: %.100s", url);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", srv->page_dir, name) >= (int)sizeof path)
        return send_error(srv, c, r, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL, "no such page");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (16 << 20)) {
        if (fd >= 0) close(fd);
        return send_error(srv, c, r, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL, "no such page: %.100s", url);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((size_t)sb.st_size, fd); /* takes fd */
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(name));
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'");
    log_request(srv, r, 200, NULL);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- dispatch ----------------------------------------------------------------------------------- */

static int endpoint_of(const char *url)
{
    static const struct { const char *path; int ep; } routes[] = {
        {"/v1/completions", HLM_EP_COMPLETIONS}, {"/v1/chat/completions", HLM_EP_CHAT},
        {"/v1/embeddings", HLM_EP_EMBEDDINGS},   {"/tokenize", HLM_EP_TOKENIZE},
        {"/detokenize", HLM_EP_DETOKENIZE},      {"/v1/models", HLM_EP_MODELS},
        {"/health", HLM_EP_HEALTH},              {"/metrics", HLM_EP_METRICS}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(url, routes[i].path) == 0) return routes[i].ep;
    if (strncmp(url, "/v1/models/", 11) == 0) return HLM_EP_MODELS;
    if (strncmp(url, "/v1/", 4) == 0) return HLM_EP_OTHER;
    return HLM_EP_STATIC;
}

static int authorized(hlm_server *srv, struct MHD_Connection *c)
{
    if (!srv->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *key = h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : "";
    return equal_constant_time(key, srv->api_key);
}

static enum MHD_Result answer(hlm_server *srv, struct MHD_Connection *c, req_ctx *r, const char *url, const char *method)
{
    int ep = r->ep, post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int needs_post = ep == HLM_EP_COMPLETIONS || ep == HLM_EP_CHAT || ep == HLM_EP_EMBEDDINGS || ep == HLM_EP_TOKENIZE ||
                     ep == HLM_EP_DETOKENIZE;
    if (ep == HLM_EP_OTHER)
        return send_error(srv, c, r, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, NULL, "no endpoint %.100s", url);
    r->allow = needs_post ? "POST" : "GET, HEAD";
    if (needs_post ? !post : !get)
        return send_error(srv, c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL, NULL,
                          "%s is not allowed on %.100s (use %s)", method, url, needs_post ? "POST" : "GET");
    if (ep == HLM_EP_HEALTH) {
        cJSON *o = cJSON_CreateObject();
        int draining = atomic_load(&srv->draining);
        cJSON_AddStringToObject(o, "status", draining ? "shutting down" : "ok");
        return send_json(srv, c, r, draining ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, o, NULL);
    }
    if (ep == HLM_EP_STATIC) return static_file(srv, c, r, url);
    if (!authorized(srv, c))
        return send_error(srv, c, r, MHD_HTTP_UNAUTHORIZED, "invalid_request_error", NULL, "invalid_api_key",
                          "Incorrect or missing API key: send 'Authorization: Bearer KEY'");
    switch (ep) {
    case HLM_EP_MODELS: {
        if (strcmp(url, "/v1/models") != 0) {
            if (strcmp(url + 11, srv->model_name) != 0) return model_not_found(srv, c, r, url + 11);
            return send_json(srv, c, r, 200, model_json(srv), NULL);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_json(srv));
        return send_json(srv, c, r, 200, o, NULL);
    }
    case HLM_EP_METRICS: return metrics(srv, c, r);
    case HLM_EP_COMPLETIONS: return generate(srv, c, r, 0);
    case HLM_EP_CHAT: return generate(srv, c, r, 1);
    case HLM_EP_EMBEDDINGS: return embeddings(srv, c, r);
    case HLM_EP_TOKENIZE: return tokenize(srv, c, r, 0);
    default: return tokenize(srv, c, r, 1);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    hlm_server *srv = cls;
    req_ctx *r = *con_cls;
    if (!r) { /* the headers are in */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci && ci->socket_context) {
            pthread_mutex_lock(&srv->watch_mu);
            ((conn_watch *)ci->socket_context)->in_request = 1;
            pthread_mutex_unlock(&srv->watch_mu);
        }
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = srv;
        r->t0 = hlm_sched_now();
        r->ep = endpoint_of(url);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->o.max_body) r->too_big = 1;
        if (r->too_big)
            return send_error(srv, c, r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL, NULL,
                              "the request body is larger than %zu bytes", srv->o.max_body);
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->too_big) { /* answered already; the rest is dropped */
            *upload_size = 0;
            return MHD_YES;
        }
        if (hlm_sched_now() - r->t0 > srv->o.read_timeout_s) {
            *upload_size = 0;
            r->too_big = 1;
            return send_error(srv, c, r, MHD_HTTP_REQUEST_TIMEOUT, "invalid_request_error", NULL, NULL,
                              "the request body did not arrive within %d s", srv->o.read_timeout_s);
        }
        if (r->body.len + *upload_size > srv->o.max_body) {
            *upload_size = 0;
            r->too_big = 1;
            return send_error(srv, c, r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL, NULL,
                              "the request body is larger than %zu bytes", srv->o.max_body);
        }
        if (hlm_buf_append(&r->body, upload, *upload_size) != HLM_OK) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) return MHD_YES;
    return answer(srv, c, r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    hlm_server *srv = cls;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) { /* a kept-alive connection now waits for its next request */
        pthread_mutex_lock(&srv->watch_mu);
        conn_watch *w = ci->socket_context;
        w->in_request = 0;
        w->t_wait = hlm_sched_now();
        pthread_mutex_unlock(&srv->watch_mu);
    }
    req_ctx *r = *con_cls;
    if (!r) return;
    hlm_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* Connections come and go: counted, and watched for the header deadline. libmicrohttpd closes a
 * connection's socket after telling us it closed, so the watchdog never touches a reused fd. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx, enum MHD_ConnectionNotificationCode code)
{
    hlm_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv->connections, 1);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_watch *w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w) return;
        w->fd = ci->connect_fd;
        w->t_wait = hlm_sched_now();
        pthread_mutex_lock(&srv->watch_mu);
        w->next = srv->watched;
        if (w->next) w->next->prev = w;
        srv->watched = w;
        pthread_mutex_unlock(&srv->watch_mu);
        *socket_ctx = w;
        return;
    }
    atomic_fetch_sub(&srv->connections, 1);
    conn_watch *w = *socket_ctx;
    if (!w) return;
    pthread_mutex_lock(&srv->watch_mu);
    if (w->prev) w->prev->next = w->next;
    else srv->watched = w->next;
    if (w->next) w->next->prev = w->prev;
    pthread_mutex_unlock(&srv->watch_mu);
    free(w);
    *socket_ctx = NULL;
}

/* Every half second: a connection that has waited longer than the header deadline for a
 * request's headers is shut down (its thread then sees the socket fail and closes it). */
static void *watchdog_main(void *arg)
{
    hlm_server *srv = arg;
    pthread_mutex_lock(&srv->watch_mu);
    while (!srv->watchdog_stop) {
        struct timespec ts;
        hlm_realtime_after(500, &ts);
        pthread_cond_timedwait(&srv->watch_cond, &srv->watch_mu, &ts);
        double now = hlm_sched_now();
        for (conn_watch *w = srv->watched; w; w = w->next)
            if (!w->in_request && w->fd >= 0 && now - w->t_wait > srv->o.header_timeout_s) {
                shutdown(w->fd, SHUT_RDWR);
                w->fd = -1;
            }
    }
    pthread_mutex_unlock(&srv->watch_mu);
    return NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    HLM_DEBUG("http: %s", msg);
}

/* ---- start and stop ------------------------------------------------------------------------------ */

static void server_free(hlm_server *srv)
{
    if (srv->watchdog_started) {
        pthread_mutex_lock(&srv->watch_mu);
        srv->watchdog_stop = 1;
        pthread_cond_signal(&srv->watch_cond);
        pthread_mutex_unlock(&srv->watch_mu);
        pthread_join(srv->watchdog, NULL);
    }
    pthread_mutex_destroy(&srv->watch_mu);
    pthread_cond_destroy(&srv->watch_cond);
    hlm_metrics_destroy(&srv->metrics);
    free(srv->api_key);
    free(srv->model_name);
    free(srv->page_dir);
    free(srv);
}

hlm_status hlm_server_start(hlm_engine *e, const hlm_tokenizer *tok, hlm_sched *s, const hlm_server_opts *o,
                            hlm_server **out, hlm_error *err)
{
    *out = NULL;
    struct sockaddr_storage addr = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    const char *host = o->host ? o->host : "127.0.0.1";
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        return hlm_errorf(err, HLM_ERR_INVALID, "--host %s: expected an IPv4 or IPv6 address (such as 127.0.0.1 or ::1)", host);
    }
    if (o->port < 0 || o->port > 65535) return hlm_errorf(err, HLM_ERR_INVALID, "--port %d: expected 0..65535", o->port);
    hlm_server *srv = calloc(1, sizeof *srv);
    if (!srv) return hlm_errorf(err, HLM_ERR_NOMEM, "server: out of memory");
    srv->e = e;
    srv->tok = tok;
    srv->s = s;
    srv->o = *o;
    srv->ctx = hlm_engine_ctx(e);
    srv->vocab = (int)hlm_tokenizer_vocab_size(tok);
    if (srv->vocab > hlm_engine_config(e)->vocab_size) srv->vocab = hlm_engine_config(e)->vocab_size;
    srv->created = (long long)time(NULL);
    atomic_store(&srv->next_id, (unsigned long long)srv->created << 20 ^ (unsigned long long)getpid() << 40);
    srv->api_key = o->api_key ? strdup(o->api_key) : NULL;
    srv->model_name = strdup(o->model_name ? o->model_name : "hyperlm");
    srv->page_dir = strdup(o->page_dir ? o->page_dir : ".");
    hlm_metrics_init(&srv->metrics);
    pthread_mutex_init(&srv->watch_mu, NULL);
    pthread_cond_init(&srv->watch_cond, NULL);
    if ((o->api_key && !srv->api_key) || !srv->model_name || !srv->page_dir) {
        server_free(srv);
        return hlm_errorf(err, HLM_ERR_NOMEM, "server: out of memory");
    }
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
                              MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
                              MHD_OPTION_END);
    if (!srv->d) {
        int e2 = errno;
        server_free(srv);
        return hlm_errorf(err, HLM_ERR_IO, "cannot listen on %s port %d: %s", host, o->port,
                          e2 ? strerror(e2) : "address in use or not available");
    }
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
        MHD_stop_daemon(srv->d);
        server_free(srv);
        return hlm_errorf(err, HLM_ERR_NOMEM, "server: cannot start the connection watchdog");
    }
    srv->watchdog_started = 1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o->port;
    *out = srv;
    return HLM_OK;
}

int hlm_server_port(const hlm_server *srv) { return srv->port; }

void hlm_server_quiesce(hlm_server *srv)
{
    atomic_store(&srv->draining, 1);
    hlm_sched_drain(srv->s);
    MHD_socket fd = MHD_quiesce_daemon(srv->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

int hlm_server_active(hlm_server *srv) { return atomic_load(&srv->active); }

void hlm_server_stop(hlm_server *srv)
{
    if (!srv) return;
    MHD_stop_daemon(srv->d); /* joins the connection threads: the watch list is empty after */
    server_free(srv);
}
