#!/usr/bin/env bash
# hyperlm serve's chat page (src/serve/page) in a real browser: tests/cli/serve_page.py drives
# Debian's chromium headless with Playwright against a server on a random 8-layer Llama (the
# checks are listed there: streaming, stats, Stop, history, settings, API key, safe rendering,
# errors, no console errors). The tokenizer has no special tokens, so nothing ends a reply early:
# a reply is exactly max_tokens long, and one without max_tokens runs to the end of the context
# of 4096 tokens, which takes long enough (tens of seconds here) to be stopped. Also checks the static route's headers (CSP, content types) and
# its refusals. Needs what scripts/install-test-deps.sh installs (make test runs it); without
# them the browser checks are SKIPPED. HLM_PAGE_SCREENSHOTS=DIR keeps screenshots there.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/lib.bash"
run_flags=(-q)

# ---- a model whose replies never end early ----
tiny_corpus
run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 400 --output "$tmp/tok.json"
cat >"$tmp/page-model.json" <<'JSON'
{"model_type": "llama", "vocab_size": 400, "hidden_size": 512, "intermediate_size": 1536,
 "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 2,
 "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "initializer_range": 0.2}
JSON
run 0 model init --model "$tmp/page-model.json" --seed 3 --out "$tmp/tiny-chat"
cp "$tmp/tok.json" "$tmp/tiny-chat/tokenizer.json"

# ---- the server ----
key=page-test-key
srv_pid=
stop_server() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null; srv_pid=; }
trap 'stop_server; rm -rf "$tmp"' EXIT
# one compute thread: the browser needs the other core. OMP_NUM_THREADS too: the scheduler's
# thread does not get --threads (OpenMP's thread count is per thread), so it would use every core.
OMP_NUM_THREADS=1 "$bin" serve -m "$tmp/tiny-chat" --port 0 --port-file "$tmp/port" --api-key "$key" --threads 1 --parallel 1 \
  --quiet-requests \
  --page-dir "$repo/src/serve/page" >"$tmp/serve.log" 2>&1 &
srv_pid=$!
for _ in $(seq 1 200); do [ -s "$tmp/port" ] || ! kill -0 "$srv_pid" 2>/dev/null && break; sleep 0.1; done
checks=$((checks + 1))
if [ ! -s "$tmp/port" ]; then
  fail "the server did not start: $(cat "$tmp/serve.log")"
  finish serve_page
  exit 1
fi

# ---- the static route, without a browser (and without the key: the page's files need none) ----
port=$(cat "$tmp/port")
url=http://127.0.0.1:$port
# get NAME PATH: GET PATH over bash's /dev/tcp (no curl needed); headers into $tmp/NAME.h, the
# body into $tmp/NAME.body, the status into $status
get() {
  checks=$((checks + 1))
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { status=none; return; }
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  tr -d '\r' <&3 >"$tmp/$1.raw"
  exec 3<&-
  sed '/^$/q' "$tmp/$1.raw" >"$tmp/$1.h"
  sed '1,/^$/d' "$tmp/$1.raw" >"$tmp/$1.body"
  status=$(head -1 "$tmp/$1.h" | cut -d' ' -f2)
}
get index /
[ "$status" = 200 ] || fail "GET /: status $status"
contains "$tmp/index.h" "Content-Type: text/html; charset=utf-8" "GET / is HTML"
contains "$tmp/index.h" "Content-Security-Policy: default-src 'self'" "the page's CSP"
contains "$tmp/index.body" '<script src="app.js"' "the page loads its script from a file"
checks=$((checks + 1))
grep -qiE '<script>|<script [^>]*>[^<]|on(click|load|error|submit)=' "$tmp/index.body" && fail "index.html has inline script, which the CSP blocks"
for f in app.js:text/javascript style.css:text/css favicon.svg:image/svg+xml openapi.json:application/json; do
  get asset "/${f%%:*}"
  [ "$status" = 200 ] || fail "GET /${f%%:*}: status $status"
  contains "$tmp/asset.h" "Content-Type: ${f#*:}" "/${f%%:*}'s content type"
done
for bad in /.hidden /..%2Fserver.c /no-such-file.js /a/b.js; do
  get refused "$bad"
  [ "$status" = 404 ] || fail "GET $bad: status $status, expected 404"
done

# ---- the browser ----
py=$(bash "$repo/scripts/install-test-deps.sh" --python)
if [ ! -x /usr/bin/chromium ]; then
  echo "SKIPPED: /usr/bin/chromium is absent (scripts/install-test-deps.sh installs it); browser checks not run"
elif ! "$py" -c "import playwright.sync_api" 2>/dev/null; then
  echo "SKIPPED: $py has no playwright (scripts/install-test-deps.sh installs it); browser checks not run"
else
  "$py" "$here/serve_page.py" "$url" "$key" tiny-chat ${HLM_PAGE_SCREENSHOTS:+"$HLM_PAGE_SCREENSHOTS"} >"$tmp/page.out" 2>&1
  rc=$?
  grep -E '^(ok|FAIL):' "$tmp/page.out" | sed 's/^/  /'
  checks=$((checks + $(grep -cE '^(ok|FAIL):' "$tmp/page.out")))
  failures=$((failures + $(grep -c '^FAIL:' "$tmp/page.out")))
  if [ "$rc" -ne 0 ]; then
    grep -q '^FAIL:' "$tmp/page.out" || fail "serve_page.py exited $rc"
    grep -vE '^(ok|FAIL):' "$tmp/page.out" | tail -30 | sed 's/^/    /'
  fi
fi

# ---- the server came through it all and stops cleanly ----
sigterm_exits_zero "$srv_pid" "$tmp/serve.log"
srv_pid=
finish serve_page
