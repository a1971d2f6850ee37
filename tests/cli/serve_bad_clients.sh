#!/usr/bin/env bash
# hyperlm serve against clients that misbehave, over raw sockets (tests/cli/serve_client.py bad):
# malformed, mistyped and invalid UTF-8 bodies (400 each, also pipelined on one connection),
# huge or nonsense Content-Length, garbage instead of HTTP, a 100 KB request line and headers,
# pipelined requests answered in order, a body that trickles in (--read-timeout 2) or stops
# (--idle-timeout 2), headers that trickle in (--header-timeout 2, where the server has that
# flag), 40 abrupt disconnects (FIN or reset) during requests and streams, and 500
# idle connections at once (those past --max-connections closed at once, the rest after the idle
# timeout, RSS bounded). The server must stay up, answer the same greedy text before and after,
# exit 0 on SIGTERM and leave no sanitizer report.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
source "$here/serve_lib.bash"
need_openai serve_bad_clients
run_flags=(-q)

tiny_models
model512 "$tmp/llama512"
# --header-timeout (a deadline for a request's headers) where this server has it
header=()
"$bin" serve --help | grep -q -- --header-timeout && header=(--header-timeout 2)
serve_start bad -m "$tmp/llama512" --model-name tiny --parallel 2 --max-body 65536 --idle-timeout 2 \
  --read-timeout 2 --max-connections 256 --quiet-requests "${header[@]}"
client bad bad --port "$bad_port" --pid "$bad_pid" --model tiny --max-connections 256 "${header[@]}"
serve_end bad
finish serve_bad_clients
