#!/usr/bin/env bash
# hyperlm train / model init / sample end to end on a tiny model: determinism, bit-exact resume
# (N steps straight == N/2 + resume + N/2), kill -9 at random moments (also during saves) followed
# by a resume that still ends on the same losses, checkpoints as Hugging Face folders, clear errors.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)

# A small corpus: numbered sentences in English and Korean, and a tokenizer trained on it.
for i in $(seq 1 400); do
  echo "{\"text\": \"Line $i: the quick brown fox jumps over $((i % 7)) lazy dogs. 다람쥐 $((i % 5))마리가 헌 쳇바퀴에 타고파.\"}"
done >"$tmp/corpus.jsonl"
run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 400 --special '<|endoftext|>' --output "$tmp/tok.json"

cat >"$tmp/tiny.json" <<'JSON'
{"model_type": "llama", "vocab_size": 400, "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
JSON
common=(--model "$tmp/tiny.json" --data "$tmp/corpus.jsonl" --tokenizer "$tmp/tok.json" --batch 2 --seq 32
        --lr 3e-3 --warmup 2 --threads 2 --eval-every 4 --eval-batches 2 --peak-gflops 100)
losses() { grep -o '"loss": [0-9.e+-]*' "$1/metrics.jsonl"; }

# 1. straight run of 12 steps, twice: identical bits
run 0 train "${common[@]}" --steps 12 --save-every 4 --out "$tmp/a" && run 0 train "${common[@]}" --steps 12 --save-every 4 --out "$tmp/b"
losses "$tmp/a" >"$tmp/la"; losses "$tmp/b" >"$tmp/lb"
same "$tmp/la" "$tmp/lb" "two identical runs"
same "$tmp/a/step-00000012/model.safetensors" "$tmp/b/step-00000012/model.safetensors" "two identical runs' weights"
checks=$((checks + 1)); [ "$(wc -l <"$tmp/la")" -eq 12 ] || fail "metrics.jsonl should have 12 step entries"
contains "$tmp/a/metrics.jsonl" '"val_loss"' "validation entries"
contains "$tmp/a/latest" "step-00000012" "latest names the last checkpoint"
checks=$((checks + 1)); [ -f "$tmp/a/loss.svg" ] || fail "loss.svg written"
checks=$((checks + 1)); [ "$(ls -d "$tmp"/a/step-* | wc -l)" -eq 3 ] || fail "--keep 3 keeps three checkpoints"
# the loss fell
first=$(head -1 "$tmp/la" | grep -o '[0-9.]*$'); last=$(tail -1 "$tmp/la" | grep -o '[0-9.]*$')
checks=$((checks + 1)); awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a - 0.5)}' || fail "loss should fall: $first -> $last"

# 2. 6 steps, then resume to 12: the same losses and weights as the straight run
run 0 train "${common[@]}" --steps 12 --save-every 4 --stop-at 6 --out "$tmp/c"
checks=$((checks + 1)); [ "$(losses "$tmp/c" | wc -l)" -eq 6 ] || fail "--stop-at 6 stops after 6 steps"
run 0 train --resume "$tmp/c"
losses "$tmp/c" >"$tmp/lc"
same "$tmp/la" "$tmp/lc" "6 steps + resume + 6 steps vs 12 straight"
same "$tmp/a/step-00000012/model.safetensors" "$tmp/c/step-00000012/model.safetensors" "resumed weights"
same "$tmp/a/step-00000012/optimizer.safetensors" "$tmp/c/step-00000012/optimizer.safetensors" "resumed optimizer state"

# 3. kill -9 at random moments (saving every step), resume until done: still the same losses
rm -rf "$tmp/d"
for delay in 0.3 0.7 0.5 1.1; do
  if [ -f "$tmp/d/latest" ]; then
    "$bin" -q train --resume "$tmp/d" --steps 12 --save-every 1 >/dev/null 2>&1 &
  else
    "$bin" -q train "${common[@]}" --steps 12 --save-every 1 --out "$tmp/d" >/dev/null 2>&1 &
  fi
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
if [ -f "$tmp/d/latest" ]; then
  run 0 train --resume "$tmp/d" --steps 12 --save-every 1
else
  run 0 train "${common[@]}" --steps 12 --save-every 1 --out "$tmp/d"
fi
losses "$tmp/d" >"$tmp/ld"
same "$tmp/la" "$tmp/ld" "killed and resumed run vs straight run"
checks=$((checks + 1)); ls -a "$tmp/d" | grep -q '\.tmp' && fail "temporary checkpoint folders left behind"
# the temporary files of writes a kill interrupted (latest, loss.svg, metrics.jsonl) and a
# half-written checkpoint folder go at the next save; other files stay
touch "$tmp/d/latest.tmp.Ab12Cd" "$tmp/d/loss.svg.tmp.x1y2z3" "$tmp/d/metrics.jsonl.tmp.q9w8e7" "$tmp/d/notes.tmp.keep"
mkdir -p "$tmp/d/.step-00000013.tmp"
run 0 train --resume "$tmp/d" --steps 13 --save-every 1
checks=$((checks + 1)); ls -a "$tmp/d" | grep -v '^notes\.tmp\.keep$' | grep -q '\.tmp' && fail "stale temporary files after a save: $(ls -a "$tmp/d" | tr '\n' ' ')"
checks=$((checks + 1)); [ -f "$tmp/d/notes.tmp.keep" ] || fail "a file the trainer does not own was removed"

# 4. --data-order sequential, --accum and --init
run 0 train "${common[@]}" --steps 3 --accum 2 --data-order sequential --out "$tmp/e"
contains "$tmp/e/metrics.jsonl" '"step": 3' "accum run"
run 0 train --init "$tmp/a/step-00000012" --data "$tmp/corpus.jsonl" --tokenizer "$tmp/tok.json" --batch 2 --seq 32 --steps 2 --out "$tmp/f"
contains "$tmp/f/metrics.jsonl" '"step": 2' "--init run"

# 5. model init writes a loadable folder; sample reads a checkpoint
run 0 model init --model "$tmp/tiny.json" --seed 7 --out "$tmp/init"
checks=$((checks + 1)); [ -f "$tmp/init/model.safetensors" ] && [ -f "$tmp/init/config.json" ] || fail "model init files"
run 0 model init --model "$tmp/tiny.json" --seed 7 --out "$tmp/init2"
same "$tmp/init/model.safetensors" "$tmp/init2/model.safetensors" "model init is deterministic in the seed"
run 0 sample -m "$tmp/a/step-00000012" -p "Line 3" -n 8 --temperature 0
contains "$tmp/out" "Line 3" "sample echoes the prompt"

# 6. errors: clear message, non-zero exit, nothing written
run 2 train --model "$tmp/tiny.json" --out "$tmp/g"
contains "$tmp/err" "--data" "missing --data"
run 2 train --model nonexistent-preset --data "$tmp/corpus.jsonl" --tokenizer "$tmp/tok.json" --out "$tmp/g"
contains "$tmp/err" "nonexistent-preset" "unknown preset named"
run 2 train "${common[@]}" --steps 0 --out "$tmp/g"
run 2 train "${common[@]}" --seq 100 --out "$tmp/g"
contains "$tmp/err" "context length" "--seq beyond the context"
run 1 train --resume "$tmp/nowhere"
contains "$tmp/err" "nowhere" "resume from a missing folder"
printf 'garbage' >"$tmp/bad.safetensors"
mkdir -p "$tmp/badckpt" && cp "$tmp/init/config.json" "$tmp/badckpt/" && cp "$tmp/bad.safetensors" "$tmp/badckpt/model.safetensors"
run 1 sample -m "$tmp/badckpt" --tokenizer "$tmp/tok.json"
contains "$tmp/err" "model.safetensors" "corrupt checkpoint named"

finish train
