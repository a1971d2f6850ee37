#!/usr/bin/env bash
# hyperlm serve through OpenAI's official Python client (tests/cli/serve_client.py): every endpoint
# (models, completions, chat with and without streaming, embeddings, /tokenize, /detokenize,
# /metrics, /health), the errors a client gets (the parameter named, 404 for another model, 401
# for a wrong key, 413, 429 with Retry-After, 504), the prefix cache, clients that leave
# mid-request, and SIGTERM with streams in flight (one completes, one is cut after --grace, new
# connections refused, exit 0). The models are random, so the checks are on structure and on
# equalities that hold whatever the text: greedy twice, streamed == not streamed, cached == not.
# Bad clients: serve_bad_clients.sh; concurrent streams: serve_load.sh.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
source "$here/serve_lib.bash"
need_openai serve
run_flags=(-q)

tiny_models
model512 "$tmp/llama512"
slow_model "$tmp/slow"

# ---- flags ----
run 2 serve
contains "$tmp/err" "-m DIR|FILE.gguf is required" "serve without a model"
run 2 serve -m "$tmp/llama512" --parallel 0
contains "$tmp/err" "--parallel: expected at least 1" "--parallel 0"
run 2 serve -m "$tmp/llama512" --port 70000
run 2 serve -m "$tmp/llama512" --max-body 10
run 2 serve -m "$tmp/llama512" --bogus 1
contains "$tmp/err" "unknown flag '--bogus'" "an unknown flag named"
run 0 serve --help
contains "$tmp/out" "--max-queue N" "serve --help"

# ---- the API (--parallel 4, --max-body 64 KiB) ----
serve_start api -m "$tmp/llama512" --model-name tiny --parallel 4 --max-body 65536 --quiet-requests
# a second server on the same port fails with a message, not a crash
run 1 serve -m "$tmp/llama512" --port "$api_port"
contains "$tmp/err" "cannot listen on 127.0.0.1 port $api_port" "a port in use"
client api api --port "$api_port" --pid "$api_pid" --model tiny --ctx 512 --parallel 4 --max-body 65536
serve_end api
contains "$tmp/api.err" "serve: stopped" "the api server's shutdown logged"

# ---- --api-key, a full queue, clients that leave, SIGTERM (the client sends it) ----
serve_start lim -m "$tmp/slow" --parallel 2 --max-queue 1 --api-key sekret --grace 3 --timeout 300
client limits limits --port "$lim_port" --pid "$lim_pid" --model slow --key sekret --grace 3
serve_end lim none
contains "$tmp/lim.err" "SIGTERM: shutting down" "SIGTERM logged"
contains "$tmp/lim.err" "cancelling 1 request(s) still running" "the stream past --grace cancelled"

# ---- --timeout ----
serve_start to -m "$tmp/slow" --timeout 1 --parallel 2
client timeout timeout --port "$to_port" --model slow
serve_end to

finish serve
