#!/usr/bin/env bash
# Usage: bench/eval_nsmc.sh MODEL_DIR [HYPERLM_BINARY]
#
# NSMC sentiment (Naver movie reviews; ratings 1..4 negative, 9..10 positive, as the corpus's own
# labels) as a two-choice task scored by log-likelihood with `hyperlm eval --task`: each review is
# followed by " 이 영화는" and the choices " 좋다" / " 나쁘다". SHOTS (4) solved examples, balanced,
# come from other reviews (--fewshot); N (400) reviews are scored, half of each class, drawn with a
# fixed seed. Prints the accuracy (summed and per-byte log-likelihood) and the majority-class
# baseline (0.5 by construction). QUANT (f32) picks the weight types (e.g. all).
# Skips (exit 0) when the model or the NSMC file is absent.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-$repo/demo-out/run/step-00000400}
bin=${2:-${HLM_BIN:-$repo/build/hyperlm}}
shared=${HLM_SHARED:-$repo/../shared}
nsmc=$shared/data/nsmc/reviews.tsv.zst
n=${N:-400}
shots=${SHOTS:-4}
quant=${QUANT:-f32}
for f in "$nsmc" "$model/config.json"; do
  if [ ! -f "$f" ]; then
    echo "bench/eval_nsmc: $f not found; skipped"
    exit 0
  fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# rating -> label (0 positive: " 좋다", 1 negative: " 나쁘다"); JSON-escape the review
zstd -dc "$nsmc" | awk -F'\t' -v n="$n" -v shots="$shots" -v dir="$work" '
  function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/[\001-\037]/, " ", s); return s }
  BEGIN { srand(1234) }
  NR == 1 { next }
  {
    r = $3 + 0
    if (r >= 1 && r <= 4) lab = 1; else if (r >= 9) lab = 0; else next
    if (length($4) < 10 || rand() > 0.02) next
    line = "{\"context\": \"" esc($4) " 이 영화는\", \"choices\": [\" 좋다\", \" 나쁘다\"], \"label\": " lab "}"
    if (shot[lab] < shots / 2) { shot[lab]++; print line > (dir "/fewshot.jsonl"); next }
    if (cnt[lab] < n / 2) { cnt[lab]++; print line > (dir "/task.jsonl") }
  }'
echo "bench/eval_nsmc: $(wc -l <"$work/task.jsonl") reviews, $shots shots, model $model"
"$bin" -q eval -m "$model" --task "$work/task.jsonl" --fewshot "$work/fewshot.jsonl" --shots "$shots" --quant "$quant"
