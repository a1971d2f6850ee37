# Helpers shared by the CLI tests (tests/cli/*.sh source this file; it is not a test itself).
# Sets $bin (the hyperlm under test) and $tmp (removed at exit); counts checks and failures.
# A script sets run_flags (e.g. run_flags=(-q)) before calling run, and ends with `finish NAME`.
set -uo pipefail
bin=${HLM_BIN:?HLM_BIN must point to the hyperlm binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
run_flags=()

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run EXPECTED_RC ARGS...: runs hyperlm with stdin from $tmp/in if it exists (else /dev/null);
# stdout and stderr go to $tmp/out and $tmp/err.
run() {
  local want=$1
  shift
  checks=$((checks + 1))
  local in=/dev/null
  [ -f "$tmp/in" ] && in=$tmp/in
  "$bin" "${run_flags[@]}" "$@" >"$tmp/out" 2>"$tmp/err" <"$in"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "hyperlm $*: exit $rc, expected $want"
    sed 's/^/    stderr: /' "$tmp/err" | head -5
    return 1
  fi
  return 0
}

# contains FILE TEXT WHAT: FILE contains TEXT (a fixed string).
contains() {
  checks=$((checks + 1))
  grep -qF -- "$2" "$1" || { fail "$3: expected '$2' in its output"; sed 's/^/    /' "$1" | head -8; }
}

# absent PATH WHAT: a failed command left no file behind.
absent() {
  checks=$((checks + 1))
  [ ! -e "$1" ] || fail "$2: $1 was written"
}

# same A B WHAT: the two files are byte-identical.
same() {
  checks=$((checks + 1))
  cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}

# run_via EXPECTED_RC LAUNCHER... -- ARGS...: like run, with hyperlm started by a launcher
# (mpirun -np N, srun -n N ...).
run_via() {
  local want=$1 launcher=()
  shift
  while [ "$1" != "--" ]; do launcher+=("$1"); shift; done
  shift
  checks=$((checks + 1))
  "${launcher[@]}" "$bin" "${run_flags[@]}" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "${launcher[*]} hyperlm $*: exit $rc, expected $want"
    sed 's/^/    stderr: /' "$tmp/err" | head -8
    return 1
  fi
}

# losses RUN: a training run's logged losses, one a line.
losses() { grep -o '"loss": [0-9.e+-]*' "$1/metrics.jsonl" | sed 's/"loss": //'; }
# close A B WHAT [FROM]: the loss lists of two runs have the same length and agree within $tol
# (the caller's tolerance; from line FROM on, default 1).
close() {
  checks=$((checks + 1))
  local from=${4:-1}
  paste <(losses "$1" | tail -n +"$from") <(losses "$2" | tail -n +"$from") >"$tmp/pair"
  awk -v t="$tol" -v n="$(losses "$1" | wc -l)" -v m="$(losses "$2" | wc -l)" '
    { d = $1 - $2; if (d < 0) d = -d; if (d > worst) worst = d; if ($2 == "") bad = 1 }
    END { if (bad || n != m || NR == 0 || worst > t) { printf "worst %g over %d lines (%d vs %d)\n", worst, NR, n, m; exit 1 } }' \
    "$tmp/pair" >"$tmp/why" || { fail "$3: losses differ beyond $tol: $(cat "$tmp/why")"; }
}

finish() {
  echo "$1: $checks checks, $failures failures"
  [ "$failures" -eq 0 ]
}

# tiny_corpus: $tmp/corpus.jsonl, 300 short English and Korean lines (a tokenizer's training text).
tiny_corpus() {
  local i
  for i in $(seq 1 300); do
    echo "{\"text\": \"Line $i: the quick brown fox jumps over $((i % 7)) lazy dogs. 다람쥐 $((i % 5))마리가 헌 쳇바퀴에 타고파.\"}"
  done >"$tmp/corpus.jsonl"
}

# sigterm_exits_zero PID LOG: the server PID is still alive, and SIGTERM ends it with status 0
# (LOG's tail is shown otherwise).
sigterm_exits_zero() {
  local rc
  checks=$((checks + 1))
  kill -0 "$1" 2>/dev/null || fail "the server died: $(tail -5 "$2")"
  kill -TERM "$1"
  wait "$1"
  rc=$?
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "the server exited $rc on SIGTERM: $(tail -5 "$2")"
}

# tiny_models: $tmp/tok.json (a 400-token BPE trained on a small generated corpus) and random
# 2-layer checkpoints $tmp/llama and $tmp/gpt2 (seed 3, d 64) that carry it as tokenizer.json.
# Arguments are added to the tokenizer's training (more --special tokens).
tiny_models() {
  local arch
  tiny_corpus
  run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 400 --special '<|endoftext|>' "$@" --output "$tmp/tok.json"
  cat >"$tmp/llama.json" <<'JSON'
{"model_type": "llama", "vocab_size": 400, "hidden_size": 64, "intermediate_size": 128,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "initializer_range": 0.2}
JSON
  cat >"$tmp/gpt2.json" <<'JSON'
{"model_type": "gpt2", "vocab_size": 400, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64,
 "initializer_range": 0.2}
JSON
  for arch in llama gpt2; do
    run 0 model init --model "$tmp/$arch.json" --seed 3 --out "$tmp/$arch"
    cp "$tmp/tok.json" "$tmp/$arch/tokenizer.json"
  done
}
