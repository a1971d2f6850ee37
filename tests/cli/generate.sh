#!/usr/bin/env bash
# hyperlm generate (the inference engine with a KV cache) on tiny models: greedy output is
# deterministic and the same text as `hyperlm sample --temperature 0` (which recomputes the
# training engine's forward pass for every token), seeded sampling repeats, quantized weights
# run, and bad input gives a clear error.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)

tiny_models

for arch in llama gpt2; do
  # greedy: deterministic, and the same text as the training engine's sampler
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 && cp "$tmp/out" "$tmp/g1"
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 --threads 2 && cp "$tmp/out" "$tmp/g2"
  same "$tmp/g1" "$tmp/g2" "$arch: greedy generate twice (1 and 2 threads)"
  contains "$tmp/g1" "Line 3: the" "$arch: generate echoes the prompt"
  run 0 sample -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 && cp "$tmp/out" "$tmp/s1"
  same "$tmp/g1" "$tmp/s1" "$arch: greedy generate == greedy sample"
  # an empty prompt starts from <|endoftext|> in both
  run 0 generate -m "$tmp/$arch" -n 10 --temperature 0 && cp "$tmp/out" "$tmp/g3"
  run 0 sample -m "$tmp/$arch" -n 10 --temperature 0 && cp "$tmp/out" "$tmp/s3"
  same "$tmp/g3" "$tmp/s3" "$arch: greedy from an empty prompt"
  # seeded sampling repeats; another seed differs
  run 0 generate -m "$tmp/$arch" -p "Line" -n 30 --temperature 1 --top-k 50 --top-p 0.9 --seed 11 && cp "$tmp/out" "$tmp/r1"
  run 0 generate -m "$tmp/$arch" -p "Line" -n 30 --temperature 1 --top-k 50 --top-p 0.9 --seed 11 && cp "$tmp/out" "$tmp/r2"
  run 0 generate -m "$tmp/$arch" -p "Line" -n 30 --temperature 1 --top-k 50 --top-p 0.9 --seed 12 && cp "$tmp/out" "$tmp/r3"
  same "$tmp/r1" "$tmp/r2" "$arch: the same seed repeats"
  checks=$((checks + 1)); cmp -s "$tmp/r1" "$tmp/r3" && fail "$arch: seeds 11 and 12 gave the same 30 tokens"
  # quantized weights: deterministic output that starts with the prompt
  for q in q8_0 q4_0; do
    run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 16 --temperature 0 --quant $q && cp "$tmp/out" "$tmp/q1"
    run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 16 --temperature 0 --quant $q && cp "$tmp/out" "$tmp/q2"
    same "$tmp/q1" "$tmp/q2" "$arch $q: greedy is deterministic"
    contains "$tmp/q1" "Line 3: the" "$arch $q: prompt echoed"
  done
done
# --prompts: many requests through the batch scheduler, 2 at a time. Greedy, each request's text
# equals a single-prompt generate of the same prompt (f32: the batched rows run the same
# functions), in input order, with ids echoed and max_tokens honoured. A random model emits
# invalid UTF-8, which the JSON output carries as U+FFFD: runs of U+FFFD count as one on both sides.
for arch in llama gpt2; do
  prompts=("Line 3: the" "다람쥐" "Line 12: the quick brown fox jumps over" "x" "Line 5")
  : >"$tmp/p.jsonl"
  for i in "${!prompts[@]}"; do
    n=$((10 + 3 * i))
    printf '{"id": "r%d", "prompt": "%s", "max_tokens": %d}\n' "$i" "${prompts[$i]}" "$n" >>"$tmp/p.jsonl"
    run 0 generate -m "$tmp/$arch" -p "${prompts[$i]}" -n "$n" --temperature 0 --ignore-eos
    PYTHONIOENCODING=utf-8 python3 - "$tmp/out" "${prompts[$i]}" >"$tmp/want$i" <<'PY'
import re, sys
t = open(sys.argv[1], "rb").read()
p = sys.argv[2].encode()
assert t.startswith(p) and t.endswith(b"\n"), t
sys.stdout.write(re.sub("\ufffd+", "\ufffd", t[len(p):-1].decode("utf-8", errors="replace")))
PY
  done
  run 0 generate -m "$tmp/$arch" --prompts "$tmp/p.jsonl" --parallel 2 --temperature 0 --ignore-eos && cp "$tmp/out" "$tmp/batch"
  checks=$((checks + 1))
  python3 - "$tmp/batch" "$tmp" "${#prompts[@]}" <<'PY' || fail "$arch: --prompts results differ from single generates"
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
n = int(sys.argv[3])
assert [l["index"] for l in lines] == list(range(n)), lines
for i, l in enumerate(lines):
    want = open(f"{sys.argv[2]}/want{i}", encoding="utf-8").read()
    assert l["id"] == f"r{i}", l
    assert re.sub("\ufffd+", "\ufffd", l["text"]) == want, (i, l["text"], want)
    assert l["tokens"] == 10 + 3 * i and l["finish_reason"] == "length", l
PY
done
# --prompts errors name the line and field
printf '{"prompt": "a"}\n{"prompt": 3}\n' >"$tmp/bad.jsonl"
run 1 generate -m "$tmp/llama" --prompts "$tmp/bad.jsonl"
contains "$tmp/err" "bad.jsonl:2" "--prompts: the bad line is named"
contains "$tmp/err" '"prompt"' "--prompts: the bad field is named"
printf '{"prompt": "a", "max_tokens": 0}\n' >"$tmp/bad.jsonl"
run 1 generate -m "$tmp/llama" --prompts "$tmp/bad.jsonl"
contains "$tmp/err" "max_tokens" "--prompts: max_tokens range"
printf 'not json\n' >"$tmp/bad.jsonl"
run 1 generate -m "$tmp/llama" --prompts "$tmp/bad.jsonl"
run 2 generate -m "$tmp/llama" --prompts "$tmp/bad.jsonl" -p "x"
run 2 generate -m "$tmp/llama" --prompts "$tmp/p.jsonl" --parallel 0
run 1 generate -m "$tmp/llama" --prompts "$tmp/nowhere.jsonl"

# info-level speed report on standard error
"$bin" generate -m "$tmp/llama" -p "Line" -n 8 --temperature 0 >/dev/null 2>"$tmp/err"
contains "$tmp/err" "tokens/s" "speed report"

# errors
run 2 generate -p "x"
contains "$tmp/err" "-m DIR" "missing -m"
run 2 generate -m "$tmp/llama" --quant q5_k
contains "$tmp/err" "q5_k" "bad --quant named"
run 2 generate -m "$tmp/llama" --quant q4_1
run 2 generate -m "$tmp/llama" --top-p 1.5
run 2 generate -m "$tmp/llama" --temperature -1
run 2 generate -m "$tmp/llama" --bogus 1
run 1 generate -m "$tmp/llama" -p "Line 3" -n 100
contains "$tmp/err" "context of 64" "context overflow"
run 2 generate -m "$tmp/nowhere" -p "x"
contains "$tmp/err" "nowhere" "missing model folder named"
run 1 generate -m "$tmp/llama" -t "$tmp/nowhere.json" -p "x"
contains "$tmp/err" "nowhere.json" "missing tokenizer named"
# a tokenizer larger than the model's vocabulary is fine (tokens are drawn from the smaller);
# a prompt token outside the model's vocabulary is an error, not a crash
cat >"$tmp/small.json" <<'JSON'
{"model_type": "llama", "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
JSON
run 0 model init --model "$tmp/small.json" --seed 1 --out "$tmp/small"
run 1 generate -m "$tmp/small" -t "$tmp/tok.json" -p "다람쥐 다람쥐 다람쥐" -n 4
contains "$tmp/err" "vocabulary" "prompt token outside the model's vocabulary"

finish generate
