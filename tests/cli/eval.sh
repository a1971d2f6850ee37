#!/usr/bin/env bash
# hyperlm eval on a tiny Llama trained for 30 steps on generated text: perplexity rows for f32,
# q8_0 and q4_0 on held-out text, with Q8_0 within 0.5% and Q4_0 within 5% of f32's perplexity
# (issue 6's quality bar; every matrix has K = 64 or 128, a multiple of 32, so all are quantized),
# bits per byte, a shard, a multiple-choice task file, and exit codes on bad input.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)

line() { echo "Line $1: the quick brown fox jumps over $(($1 % 7)) lazy dogs. 다람쥐 $(($1 % 5))마리가 헌 쳇바퀴에 타고파."; }
for i in $(seq 1 400); do echo "{\"text\": \"$(line "$i")\"}"; done >"$tmp/corpus.jsonl"
for i in $(seq 401 440); do line "$i"; done >"$tmp/held.txt"
run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 400 --special '<|endoftext|>' --output "$tmp/tok.json"
cat >"$tmp/tiny.json" <<'JSON'
{"model_type": "llama", "vocab_size": 400, "hidden_size": 64, "intermediate_size": 128,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
JSON
run 0 train --model "$tmp/tiny.json" --data "$tmp/corpus.jsonl" --tokenizer "$tmp/tok.json" --batch 4 --seq 64 \
  --lr 3e-3 --warmup 2 --threads 2 --steps 30 --save-every 30 --eval-every 30 --eval-batches 1 --out "$tmp/run"
m=$tmp/run/step-00000030
cp "$tmp/tok.json" "$m/tokenizer.json"

# 1. perplexity, f32 against quantized
run 0 eval -m "$m" --quant all --text "$tmp/held.txt" --threads 2 && cp "$tmp/out" "$tmp/table"
cat "$tmp/table"
for w in f32 q8_0 q4_0; do contains "$tmp/table" "$w " "a row for $w"; done
contains "$tmp/table" "bits/byte" "table header"
run 0 eval -m "$m" --quant all --text "$tmp/held.txt" --json && cp "$tmp/out" "$tmp/rows"
field() { grep "\"weights\": \"$1\"" "$tmp/rows" | grep -o "\"$2\": [0-9.e+-]*" | grep -o '[0-9.e+-]*$'; }
ppl=$(field f32 perplexity); bpb=$(field f32 bits_per_byte); bytes=$(field f32 bytes)
r8=$(field q8_0 ppl_vs_f32); r4=$(field q4_0 ppl_vs_f32)
echo "f32 perplexity $ppl, bits/byte $bpb; q8_0/f32 $r8, q4_0/f32 $r4"
checks=$((checks + 1)); awk -v p="$ppl" 'BEGIN{exit !(p > 1 && p < 30)}' || fail "trained model's perplexity $ppl (expected < 30 of a vocabulary of 400)"
checks=$((checks + 1)); [ "$bytes" -eq "$(wc -c <"$tmp/held.txt")" ] || fail "bytes $bytes != the text's $(wc -c <"$tmp/held.txt")"
checks=$((checks + 1)); awk -v r="$r8" 'BEGIN{exit !(r > 0.995 && r < 1.005)}' || fail "q8_0 perplexity ratio $r8 not within 0.5%"
checks=$((checks + 1)); awk -v r="$r4" 'BEGIN{exit !(r > 0.95 && r < 1.05)}' || fail "q4_0 perplexity ratio $r4 not within 5%"
# a smaller stride scores the same tokens (each once, with more context)
run 0 eval -m "$m" --text "$tmp/held.txt" --stride 16 --json && {
  tok=$(grep -o '"tokens": [0-9]*' "$tmp/out"); checks=$((checks + 1))
  grep -q "$tok," "$tmp/rows" || fail "stride 16 scored another number of tokens ($tok)"; }
run 0 eval -m "$m" --text "$tmp/held.txt" --ctx 32 --max-tokens 100 --json
contains "$tmp/out" '"tokens": 100,' "--max-tokens 100"

# 2. a shard of the same kind of text
for i in $(seq 401 440); do echo "{\"text\": \"$(line "$i")\"}"; done >"$tmp/held.jsonl"
run 0 data tokenize -t "$tmp/tok.json" -o "$tmp/sh" --val-fraction 0 --input "$tmp/held.jsonl"
run 0 eval -m "$m" --shard "$(ls "$tmp"/sh/train-*.tok | head -1)" --quant q8_0 && contains "$tmp/out" "q8_0 " "shard row"

# 3. a multiple-choice task: which count of lazy dogs follows, from the training pattern
for i in $(seq 401 420); do
  k=$((i % 7)); o=$(((i + 3) % 7)); lab=$((i % 2))
  if [ "$lab" -eq 0 ]; then c="[\" $k lazy dogs.\", \" $o lazy dogs.\"]"; else c="[\" $o lazy dogs.\", \" $k lazy dogs.\"]"; fi
  echo "{\"context\": \"Line $i: the quick brown fox jumps over\", \"choices\": $c, \"label\": $lab}"
done >"$tmp/task.jsonl"
run 0 eval -m "$m" --task "$tmp/task.jsonl" --shots 2 --quant f32 --quant q4_0 && cp "$tmp/out" "$tmp/tasks"
cat "$tmp/tasks"
contains "$tmp/tasks" "18 examples, 2 shots" "task row"
contains "$tmp/tasks" "q4_0" "task row per weight type"
run 0 eval -m "$m" --task "$tmp/task.jsonl" --fewshot "$tmp/task.jsonl" --shots 1 --json
contains "$tmp/out" '"examples": 20' "--fewshot: every example scored"

# 4. errors
run 2 eval --text "$tmp/held.txt"; contains "$tmp/err" "-m DIR" "missing -m"
run 2 eval -m "$m"; contains "$tmp/err" "nothing to evaluate" "no input"
run 2 eval -m "$m" --text "$tmp/held.txt" --shard x.tok
run 2 eval -m "$m" --text "$tmp/held.txt" --quant q5_k; contains "$tmp/err" "q5_k" "bad --quant named"
run 2 eval -m "$m" --text "$tmp/held.txt" --stride 65; contains "$tmp/err" "--stride 65" "stride over the context"
run 2 eval -m "$m" --text "$tmp/held.txt" --ctx 65
run 2 eval -m "$m" --text "$tmp/held.txt" --shots 2
run 2 eval -m "$m" --text "$tmp/held.txt" --bogus 1
: >"$tmp/empty.txt"
run 1 eval -m "$m" --text "$tmp/empty.txt"; contains "$tmp/err" "empty" "empty text"
run 1 eval -m "$m" --text "$tmp/nowhere.txt"; contains "$tmp/err" "nowhere.txt" "missing text named"
echo '{"context": "a", "choices": [" b", " c"], "label": 2}' >"$tmp/bad.jsonl"
run 1 eval -m "$m" --task "$tmp/bad.jsonl"; contains "$tmp/err" "bad.jsonl:1" "label out of range: file and line"
echo '{"choices": [" b", " c"], "label": 0}' >"$tmp/bad.jsonl"
run 1 eval -m "$m" --task "$tmp/bad.jsonl"; contains "$tmp/err" '"context"' "missing context named"
run 1 eval -m "$m" --task "$tmp/task.jsonl" --shots 20; contains "$tmp/err" "20 shots" "all examples as shots"
run 1 eval -m "$m" --shard "$tmp/held.txt"
finish eval
