/* The HTTP server of `hyperlm serve`: OpenAI's API (models, completions, chat completions with
 * server-sent events, embeddings), /tokenize and /detokenize, /health, Prometheus /metrics, the
 * OpenAPI description and the chat page, over libmicrohttpd with one thread per connection
 * (docs/serving.md). Generation runs on the scheduler (sched.h); the connection threads parse,
 * validate, tokenize, wait and format.
 *
 * Defences: a cap on connections, an idle timeout (silent clients), deadlines for receiving a
 * request's headers (slowloris: a watchdog shuts such connections) and its body, a body size limit (413), the API key compared in constant time,
 * static files only from the page folder (one path component, no dot files, no links). */
#ifndef HYPERLM_SERVE_SERVER_H
#define HYPERLM_SERVE_SERVER_H

#include <stddef.h>

#include "hyperlm/error.h"
#include "hyperlm/tokenizer.h"
#include "infer/chat.h"
#include "infer/engine.h"
#include "serve/sched.h"

typedef struct hlm_server_opts {
    const char *host;        /* address to bind (default 127.0.0.1) */
    int port;                /* 0: any free port (hlm_server_port says which) */
    const char *api_key;     /* NULL: no key needed */
    const char *model_name;  /* the id in /v1/models and responses */
    const char *page_dir;    /* the chat page's folder */
    hlm_chat_template tmpl;  /* HLM_CHAT_COUNT: chat completions refused (no template) */
    int max_connections;     /* open connections at most */
    int idle_timeout_s;      /* a connection silent this long is closed */
    int read_timeout_s;      /* a request's body must arrive within this */
    int header_timeout_s;    /* a request's headers must arrive within this (also: keep-alive) */
    size_t max_body;         /* bytes of a request body at most */
    double request_timeout_s; /* a generation's deadline from its arrival (0: none) */
    int quiet;               /* no per-request log lines */
} hlm_server_opts;

void hlm_server_opts_default(hlm_server_opts *o);

typedef struct hlm_server hlm_server;

/* Binds and starts serving. e, tok and s must outlive the server. */
hlm_status hlm_server_start(hlm_engine *e, const hlm_tokenizer *tok, hlm_sched *s, const hlm_server_opts *o,
                            hlm_server **out, hlm_error *err);
int hlm_server_port(const hlm_server *srv);
/* Stops accepting connections and refuses new generations (503); in-flight requests go on. */
void hlm_server_quiesce(hlm_server *srv);
/* Requests still being answered. */
int hlm_server_active(hlm_server *srv);
/* Closes every connection (after their requests ended) and frees the server. */
void hlm_server_stop(hlm_server *srv);

#endif
