# Helpers of the server tests (tests/cli/serve*.sh source this after lib.bash; not a test itself):
# start `hyperlm serve` in the background on a free port, run one client of serve_client.py and
# count its checks, stop the server with SIGTERM and judge how it ended (exit 0, no sanitizer
# report). Servers still running when the script exits are killed.
repo=$(cd "$here/../.." && pwd)
py=$(bash "$repo/scripts/install-test-deps.sh" --python)
serve_pids=()
trap 'for p in "${serve_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
unset HYPERLM_API_KEY

# need_openai NAME: skips the whole script when OpenAI's Python client is missing.
need_openai() {
  if ! "$py" -c "import openai" 2>/dev/null; then
    echo "SKIPPED: $1: the openai Python package is missing for $py (bash scripts/install-test-deps.sh)"
    exit 0
  fi
}

# serve_start NAME ARGS...: `hyperlm serve ARGS` on a free port, one compute thread (the tests
# share two cores with the clients); sets ${NAME}_pid and ${NAME}_port. Logs in $tmp/NAME.err.
serve_start() {
  local name=$1 i pid
  shift
  checks=$((checks + 1))
  rm -f "$tmp/$name.port"
  "$bin" serve "$@" --port 0 --port-file "$tmp/$name.port" --threads 1 >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  serve_pids+=("$pid")
  for i in $(seq 1 600); do
    [ -s "$tmp/$name.port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$tmp/$name.port" ]; then
    fail "hyperlm serve $*: not serving after 60 s"
    sed 's/^/    stderr: /' "$tmp/$name.err" | tail -5
    kill -KILL "$pid" 2>/dev/null
    return 1
  fi
  printf -v "${name}_pid" %s "$pid"
  printf -v "${name}_port" %s "$(cat "$tmp/$name.port")"
}

# serve_end NAME [SIGNAL]: sends SIGNAL (default TERM; "none" when the client sent it), waits up
# to 30 s; the server must exit 0, and its stderr must hold no sanitizer report.
serve_end() {
  local name=$1 sig=${2:-TERM} pidvar="${1}_pid" i rc
  local pid=${!pidvar}
  checks=$((checks + 2))
  [ "$sig" = none ] || kill -s "$sig" "$pid" 2>/dev/null
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    fail "serve $name: still running 30 s after SIG$sig"
    kill -KILL "$pid"
  fi
  wait "$pid"
  rc=$?
  [ "$rc" -eq 0 ] || { fail "serve $name: exit $rc, expected 0"; tail -5 "$tmp/$name.err" | sed 's/^/    stderr: /'; }
  if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$tmp/$name.err"; then
    fail "serve $name: a sanitizer report in its stderr"
    grep -E -A12 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$tmp/$name.err" | head -40 | sed 's/^/    /'
  fi
}

# client WHAT ARGS...: runs serve_client.py ARGS (at most 240 s); every "ok:" and "FAIL:" line it
# prints is a check. A client that dies without saying why (a traceback) is one failure more.
client() {
  local what=$1 rc n_ok n_fail
  shift
  timeout -k 5 240 "$py" "$here/serve_client.py" "$@" >"$tmp/client.out" 2>&1
  rc=$?
  n_ok=$(grep -c '^ok: ' "$tmp/client.out")
  n_fail=$(grep -c '^FAIL: ' "$tmp/client.out")
  checks=$((checks + n_ok + n_fail))
  failures=$((failures + n_fail))
  grep -v '^ok: ' "$tmp/client.out" | sed 's/^/  /'
  echo "$what: $n_ok ok, $n_fail failed"
  if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
    fail "$what: the client exited $rc"
  fi
}

# slow_model DIR: a random 4-layer Llama of d 512 with a context of 4096 (12M parameters, about
# 1.5 ms a token on one core): long generations for cancellation, timeouts and shutdown.
slow_model() {
  cat >"$tmp/slow.json" <<'JSON'
{"model_type": "llama", "vocab_size": 400, "hidden_size": 512, "intermediate_size": 1408,
 "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4,
 "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "initializer_range": 0.2}
JSON
  run 0 model init --model "$tmp/slow.json" --seed 3 --out "$1"
  cp "$tmp/tok.json" "$1/tokenizer.json"
}

# model512 DIR: tiny_models' Llama with a context of 512.
model512() {
  sed 's/"max_position_embeddings": 64/"max_position_embeddings": 512/' "$tmp/llama.json" >"$tmp/llama512.json"
  run 0 model init --model "$tmp/llama512.json" --seed 3 --out "$1"
  cp "$tmp/tok.json" "$1/tokenizer.json"
}
