#!/usr/bin/env bash
# Usage: bench/infer.sh HYPERLM_BINARY          (BENCH=infer make bench)
#
# The inference engine's speed (hyperlm generate: KV cache) in tokens/s for prefill and decode,
# with f32, q8_0 and q4_0 weights, on a randomly initialized PRESET (default small-llama; try
# llama-110m), THREADS threads (default 2), a prompt of about PROMPT tokens (default 128) and
# N generated tokens (default 128). The peer in the same run is `hyperlm sample` (the training
# engine's forward pass recomputed over the whole context for every token, no cache): its
# tokens/s over the same N tokens, and the ratio. Each figure is the best of REPEAT (3) runs.
# Writes the table to bench/out/infer.md as well.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
preset=${PRESET:-small-llama}
threads=${THREADS:-2}
prompt_tokens=${PROMPT:-128}
n=${N:-128}
repeat=${REPEAT:-3}
out=${HLM_BENCH_OUT:-$repo/bench/out}
mkdir -p "$out"
exec > >(tee "$out/infer.md")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A byte-level tokenizer with few merges: about one token per character of the prompt.
for i in $(seq 1 200); do echo "{\"text\": \"Line $i: the quick brown fox jumps over $((i % 7)) lazy dogs.\"}"; done >"$work/c.jsonl"
"$bin" -q tokenizer train --input "$work/c.jsonl" --vocab-size 260 --special '<|endoftext|>' --output "$work/tok.json" 2>/dev/null
"$bin" -q model init --model "$preset" --seed 1 --out "$work/m" >/dev/null
prompt=$(head -c "$prompt_tokens" < <(yes 'abcdefghij klmnopq rstuvw xyz ' | tr -d '\n'))

best() { sort -g | tail -1; }
printf '%s, %s threads, prompt %s tokens, %s new tokens (best of %s)\n\n' "$preset" "$threads" "$prompt_tokens" "$n" "$repeat"
printf '| engine | weights | prefill tokens/s | decode tokens/s | decode vs sample |\n| --- | --- | ---: | ---: | ---: |\n'
# peer: hyperlm sample, greedy, same prompt and N (its time includes loading; loading is measured
# separately by generate and is small next to N recomputed forward passes)
sample_tps=0
for r in $(seq "$repeat"); do
  t0=$(date +%s.%N)
  "$bin" -q sample -m "$work/m" --tokenizer "$work/tok.json" -p "$prompt" -n "$n" --temperature 0 --threads "$threads" >/dev/null
  t1=$(date +%s.%N)
  echo "$n / ($t1 - $t0)" | bc -l
done | best >"$work/sample"
sample_tps=$(cat "$work/sample")
printf '| sample (no cache) | f32 | - | %.1f | 1.00 |\n' "$sample_tps"
for q in f32 q8_0 q4_0; do
  for r in $(seq "$repeat"); do
    "$bin" generate -m "$work/m" -t "$work/tok.json" -p "$prompt" -n "$n" --temperature 0 --quant "$q" \
      --threads "$threads" 2>&1 >/dev/null | grep -o 'prefill.*' >>"$work/$q"
  done
  pf=$(grep -o 'tokens [0-9.]* tokens/s; decode' "$work/$q" | awk '{print $2}' | best)
  dc=$(grep -o '[0-9.]* tokens/s$' "$work/$q" | awk '{print $1}' | best)
  printf '| generate | %s | %.1f | %.1f | %.2f |\n' "$q" "$pf" "$dc" "$(echo "$dc / $sample_tps" | bc -l)"
done
