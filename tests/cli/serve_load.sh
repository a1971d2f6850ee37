#!/usr/bin/env bash
# hyperlm serve under load: 8 concurrent streaming clients for 5 s over loopback
# (tests/cli/serve_client.py load), completions and chat, greedy and seeded, with logprobs so
# that each chunk says how many tokens it carries. Every stream must be complete ([DONE], one
# finish_reason, usage == the tokens in the chunks), every completion's text the one it has when
# run alone (continuous batching changes no result), and /metrics' generated tokens the sum of
# what the clients received.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
source "$here/serve_lib.bash"
need_openai serve_load
run_flags=(-q)

tiny_models
model512 "$tmp/llama512"
serve_start load -m "$tmp/llama512" --model-name tiny --parallel 8 --quiet-requests
client load load --port "$load_port" --model tiny --seconds "${HLM_LOAD_SECONDS:-5}" --n 8
serve_end load
finish serve_load
