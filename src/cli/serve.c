/* hyperlm serve: an OpenAI-compatible HTTP server over the inference engine (src/serve). The
 * main thread loads the model, starts the scheduler and the server, then waits for SIGTERM or
 * SIGINT: new connections stop, in-flight requests get --grace seconds to finish, the rest are
 * cancelled, and the command exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/generation.h"
#include "hyperlm/file.h"
#include "hyperlm/log.h"
#include "infer/engine.h"
#include "infer/qpack.h"
#include "model/gemm.h"
#include "serve/sched.h"
#include "serve/server.h"

static const char usage[] =
    "usage: hyperlm serve -m DIR|FILE.gguf [--host ADDR] [--port N] [--api-key KEY] [--parallel N]\n"
    "                     [--ctx N] [--max-queue N] [--timeout S] [--grace S] [more flags below]\n\n"
    "Serves the model over HTTP with OpenAI's API, so that OpenAI's clients work unchanged:\n"
    "  GET  /v1/models                 the model\n"
    "  POST /v1/completions            text completions (\"stream\": true for server-sent events)\n"
    "  POST /v1/chat/completions       chat, with the model's chat template\n"
    "  POST /v1/embeddings             mean-pooled, unit-length final hidden states\n"
    "  POST /tokenize, /detokenize     the model's tokenizer\n"
    "  GET  /health, /metrics          liveness; Prometheus metrics\n"
    "  GET  /openapi.json, /           the OpenAPI description; a chat page\n\n"
    "Requests join and leave one decode batch between steps (continuous batching) over --parallel\n"
    "sequences; others wait in a queue of --max-queue, and past that get 429 with Retry-After.\n"
    "A sequence keeps its KV cache after a request, and a later prompt with the same beginning\n"
    "reuses it (prefix cache).\n\n"
    "flags:\n"
    "  -m, --model PATH        GGUF file, or checkpoint folder with tokenizer.json (required)\n"
    "  --host ADDR             address to listen on; default 127.0.0.1 (loopback only)\n"
    "  --port N                default 8080; 0 picks a free port (see --port-file)\n"
    "  --port-file FILE        write the port listened on to FILE once serving\n"
    "  --api-key KEY           require 'Authorization: Bearer KEY' (also $HYPERLM_API_KEY)\n"
    "  --model-name NAME       the model's id in the API; default: the file or folder name\n"
    "  --parallel N            sequences decoded together; default 4\n"
    "  --ctx N                 tokens per sequence (prompt and reply); default: the model's, <= 4096\n"
    "  --max-queue N           requests waiting at most; default 64\n"
    "  --prefill-chunk N       prompt tokens prefilled per step at most; default 512\n"
    "  --timeout S             a request's deadline in seconds, queueing included; default 600\n"
    "  --grace S               on SIGTERM, seconds for in-flight requests to finish; default 10\n"
    "  --max-body BYTES        largest request body (413 past it); default 1048576\n"
    "  --max-connections N     open connections at most; default 256\n"
    "  --idle-timeout S        close a connection silent this long; default 30\n"
    "  --read-timeout S        a request body must arrive within S seconds (408); default 30\n"
    "  --header-timeout S      a request's headers must arrive within S seconds, and a kept-alive\n"
    "                          connection may wait this long for its next request; default 20\n"
    "  --page-dir DIR          the chat page's folder; default: the one built in\n"
    "  --chat-template NAME    the chat template (%s);\n"
    "                          default: the GGUF's tokenizer.chat_template, chatml for a checkpoint\n"
    "  --quant f32|q8_0|q4_0   weights for a checkpoint (a GGUF file runs as stored unless given)\n"
    "  -t, --tokenizer FILE    a tokenizer other than the model's\n"
    "  --threads N             compute threads (default: all cores)\n"
    "  --no-packed-weights     do not keep copies of the quantized weights for batched steps (by\n"
    "                          default, with --parallel > 1: AMX int8 tiles for q4_0, q4_1, q8_0,\n"
    "                          as much memory again; else bf16 where the CPU has it, 2 bytes a\n"
    "                          weight)\n"
    "  --quiet-requests        no log line per request\n";

static const char *base_name(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, cap, "%.*s", (int)(n - b), path + b);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread, so only this wait sees them). */
static void wait_for_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT)) {
    }
    hlm_log(HLM_LOG_INFO, "serve: %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Stops accepting, waits up to grace seconds for in-flight requests (a second signal cuts it
 * short), cancels what is left and waits for those answers to go out. */
static void shut_down(hlm_server *srv, hlm_sched *sched, double grace, const sigset_t *set)
{
    hlm_server_quiesce(srv);
    double end = now_s() + grace;
    struct timespec tick = {0, 50 * 1000000L};
    int active;
    while ((active = hlm_server_active(srv)) > 0 && now_s() < end)
        if (sigtimedwait(set, NULL, &tick) > 0) break;
    if (active > 0) {
        hlm_log(HLM_LOG_INFO, "serve: cancelling %d request(s) still running", active);
        hlm_sched_cancel_all(sched);
        end = now_s() + 5;
        while (hlm_server_active(srv) > 0 && now_s() < end) nanosleep(&tick, NULL);
    }
}

int cli_serve(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *quant = "f32", *template_name = NULL, *port_file = NULL;
    int quant_set = 0, packed_weights = 1;
    hlm_server_opts so;
    hlm_server_opts_default(&so);
    so.page_dir = HLM_PAGE_DIR;
    so.api_key = getenv("HYPERLM_API_KEY");
    if (so.api_key && !*so.api_key) so.api_key = NULL;
    unsigned long long parallel = 4, ctx_len = 0, max_queue = 64, chunk = 512, threads = 0, port = 8080, timeout = 600,
                       grace = 10, max_body = 1 << 20, max_conn = 256, idle = 30, read_to = 30, header_to = 20;
    char name_buf[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(usage, hlm_chat_template_names());
            return CLI_OK;
        }
        if (!strcmp(a, "--quiet-requests")) {
            so.quiet = 1;
            continue;
        }
        if (!strcmp(a, "--no-packed-weights")) {
            packed_weights = 0;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_usage_error("serve", "unknown flag or missing value: '%s'", a);
        i++;
        struct {
            const char *flag;
            unsigned long long *dst, lo, hi;
        } nums[] = {{"--parallel", &parallel, 1, 256},     {"--ctx", &ctx_len, 1, 1 << 20},
                    {"--max-queue", &max_queue, 1, 1 << 16}, {"--prefill-chunk", &chunk, 1, 1 << 16},
                    {"--threads", &threads, 0, 4096},       {"--port", &port, 0, 65535},
                    {"--timeout", &timeout, 1, 1 << 20},    {"--grace", &grace, 0, 3600},
                    {"--max-body", &max_body, 64, 1ull << 32}, {"--max-connections", &max_conn, 1, 65536},
                    {"--idle-timeout", &idle, 1, 86400},    {"--read-timeout", &read_to, 1, 86400},
                    {"--header-timeout", &header_to, 1, 86400}};
        int matched = 0;
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            if (strcmp(a, nums[k].flag)) continue;
            if (!cli_parse_u64(a, v, nums[k].hi, nums[k].dst)) return CLI_USAGE;
            if (*nums[k].dst < nums[k].lo) {
                fprintf(stderr, "hyperlm: error: %s: expected at least %llu, got '%s' (see hyperlm serve --help)\n", a,
                        nums[k].lo, v);
                return CLI_USAGE;
            }
            matched = 1;
        }
        if (matched) continue;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--host")) so.host = v;
        else if (!strcmp(a, "--port-file")) port_file = v;
        else if (!strcmp(a, "--api-key")) so.api_key = *v ? v : NULL;
        else if (!strcmp(a, "--model-name")) so.model_name = v;
        else if (!strcmp(a, "--page-dir")) so.page_dir = v;
        else if (!strcmp(a, "--chat-template")) template_name = v;
        else if (!strcmp(a, "--quant")) {
            quant = v;
            quant_set = 1;
        } else {
            return cli_usage_error("serve", "unknown flag '%s'", a);
        }
    }
    if (!model) return cli_usage_error("serve", "%s is required", "-m DIR|FILE.gguf");
    hlm_qtype wt;
    hlm_error err = {0};
    if (hlm_qtype_from_name(quant, &wt, &err) != HLM_OK || (wt != HLM_QT_F32 && wt != HLM_QT_Q8_0 && wt != HLM_QT_Q4_0))
        return cli_usage_error("serve", "--quant: expected f32, q8_0 or q4_0, got '%s'", quant);
    so.port = (int)port;
    so.request_timeout_s = (double)timeout;
    so.max_body = (size_t)max_body;
    so.max_connections = (int)max_conn;
    so.idle_timeout_s = (int)idle;
    so.read_timeout_s = (int)read_to;
    so.header_timeout_s = (int)header_to;
    if (!so.model_name || !strcmp(so.model_name, "hyperlm")) so.model_name = base_name(model, name_buf, sizeof name_buf);

    /* Signals go to the waiting main thread only: blocked here, before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    hlm_set_threads((int)threads);

    hlm_engine *e = NULL;
    hlm_tokenizer *tok = NULL;
    hlm_sched *sched = NULL;
    hlm_server *srv = NULL;
    hlm_status s = cli_open_model(model, tok_path, wt, quant_set, (int)ctx_len, &e, &tok, &err);
    hlm_sched_opts o = {.parallel = (int)parallel, .max_queue = (int)max_queue, .prefill_chunk = (int)chunk,
                        .threads = (int)threads};
    if (s == HLM_OK) s = cli_generation_end(model, e, tok, template_name, 0, &so.tmpl, &o.eog, &err);
    if (s == HLM_OK && packed_weights && parallel > 1) {
        size_t bytes = 0;
        s = hlm_engine_pack_weights(e, HLM_PACK_INT8 | HLM_PACK_BF16, &bytes, &err);
        if (s == HLM_OK && bytes)
            hlm_log(HLM_LOG_INFO, "serve: copies of the quantized weights for batched steps (%s): %.1f MB",
                    hlm_qpack_supported() ? "AMX int8" : "bf16", bytes / 1e6);
    }
    if (s == HLM_OK) {
        o.vocab = (int)hlm_tokenizer_vocab_size(tok);
        s = hlm_sched_start(e, tok, &o, &sched, &err);
    }
    if (s == HLM_OK) s = hlm_server_start(e, tok, sched, &so, &srv, &err);
    if (s == HLM_OK) {
        hlm_log(HLM_LOG_INFO,
                "serve: http://%s:%d/ model '%s' (%s weights, %s chat template), %d parallel x %d tokens, queue %d",
                so.host, hlm_server_port(srv), so.model_name, hlm_qtype_name(hlm_engine_wtype(e)),
                so.tmpl == HLM_CHAT_COUNT ? "no" : hlm_chat_template_name(so.tmpl), (int)parallel, hlm_engine_ctx(e),
                (int)max_queue);
        if (port_file) {
            char text[16];
            int n = snprintf(text, sizeof text, "%d\n", hlm_server_port(srv));
            s = hlm_file_write_atomic(port_file, text, (size_t)n, &err);
        }
    }
    if (s == HLM_OK) {
        wait_for_signal(&set);
        shut_down(srv, sched, (double)grace, &set);
    }
    hlm_server_stop(srv);
    hlm_sched_stop(sched);
    hlm_engine_free(e);
    hlm_tokenizer_free(tok);
    if (s != HLM_OK) return cli_report(&err);
    hlm_log(HLM_LOG_INFO, "serve: stopped");
    return CLI_OK;
}
