#!/usr/bin/env bash
# hyperlm plan: a normal run (parameters, FLOPs, ZeRO and activation tables, the chosen layout,
# days), --validate (every held check passes, exit 0), --json read back by python3, the
# restrictions, and bad input: an unknown model or GPU, a malformed cluster, bad numbers (exit 2,
# naming the flag or the field). Run by ctest with HLM_BIN set.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)

# ---- a normal run
run 0 plan --model megatron-1t --tokens 450B --cluster 3072xA100-80GB --mfu 0.5 && {
  contains "$tmp/out" "1008038758400" "plan megatron-1t: parameter count (Narayanan et al. 2021: 1008.0B)"
  contains "$tmp/out" "Narayanan et al. 2021" "plan megatron-1t: source of the shape"
  contains "$tmp/out" "3072 x A100-80GB" "plan: cluster"
  # 6 * 1008038758400 * 450e9
  contains "$tmp/out" "6ND                          2.722e+24" "plan: 6ND"
  contains "$tmp/out" "Megatron 96 B s L h^2" "plan: Megatron's formula"
  for z in ZeRO-0 ZeRO-1 ZeRO-2 ZeRO-3; do contains "$tmp/out" "$z" "plan: memory table $z"; done
  for r in none selective full; do contains "$tmp/out" "  $r " "plan: activations $r"; done
  contains "$tmp/out" "fastest layout that fits" "plan: layout"
  contains "$tmp/out" "wall-clock for 450.0B tokens" "plan: wall-clock"
  contains "$tmp/out" "at the assumed MFU 50.0%" "plan --mfu"
}
run 0 plan --model hyperclova-82b --tokens 150e9 --cluster 95.7PFLOPS@a100-40gb && {
  contains "$tmp/out" "306 x A100-40GB" "plan: aggregate cluster spec"
  contains "$tmp/out" "global batch 1024 x 2048" "plan hyperclova-82b: the paper's batch by default"
}
run 0 plan --model gpt3-175b --tokens 300B --cluster A100:1024 --tp 8 --recompute full --zero 1 \
  --no-sequence-parallel --global-batch 1536 && {
  contains "$tmp/out" "TP 8 x PP" "plan --tp 8"
  contains "$tmp/out" "ZeRO-1, no sequence parallelism, full recomputation" "plan: restrictions honoured"
  contains "$tmp/out" "174604259328" "plan gpt3-175b: parameter count"
}
run 0 plan --model llama-7b --tokens 1T --cluster 8xH200 --global-batch-tokens 4194304 && \
  contains "$tmp/out" "global batch 2048 x 2048" "plan --global-batch-tokens 4194304"
run 0 plan --list && {
  for g in A100-40GB A100-80GB H100-SXM H200 megatron-1t lm-600b hyperclova-204b lm-150b hyperclova-82b; do
    contains "$tmp/out" "$g" "plan --list"
  done
}
run 0 plan --help && contains "$tmp/out" "--cluster" "plan --help"
run 0 --help && contains "$tmp/out" "plan" "hyperlm --help lists plan"

# ---- --validate: published vs predicted; every held check passes
run 0 plan --validate && {
  contains "$tmp/out" "Megatron-LM 1T" "plan --validate: Megatron 1T"
  contains "$tmp/out" "502 PFLOP/s" "plan --validate: 502 PFLOP/s published"
  contains "$tmp/out" "3.14e+23" "plan --validate: GPT-3 FLOPs"
  contains "$tmp/out" "13.4 days" "plan --validate: HyperCLOVA"
  contains "$tmp/out" "(held out)" "plan --validate: the calibration table"
  grep -q FAIL "$tmp/out" && fail "plan --validate printed FAIL"
}

# ---- --json
if command -v python3 >/dev/null; then
  run 0 plan --model gpt3-175b --tokens 300B --cluster 1024xA100-80GB --json && python3 - "$tmp/out" <<'PY' || fail "plan --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d["training_flops"]["dense_6nd"] / 3.14e23 - 1) < 0.02, d["training_flops"]
p = d["plan"]
l = p["layout"]
assert l["tp"] * l["pp"] * l["dp"] <= 1024 and p["fits"], p
assert 0.2 < p["mfu"] < 0.8, p["mfu"]
assert abs(d["training_seconds"] - 300e9 / p["tokens_per_s"]) < 1, d["training_seconds"]
assert [len(x["zero"]) for x in d["model_states_bytes_per_gpu"]] == [4] * len(d["model_states_bytes_per_gpu"])
PY
  checks=$((checks + 1))
  run 0 plan --validate --json && python3 - "$tmp/out" <<'PY' || fail "plan --validate --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["failed"] == 0
c = {(x["run"], x["quantity"]): x for x in d["checks"]}
m = c[("Megatron-LM 1T, 3072 A100, paper's layout", "aggregate PFLOP/s (Megatron's count)")]
assert m["published"] == 502 and abs(m["relative_error"]) < 0.15, m
assert len(d["megatron_table1"]) == 10
PY
  checks=$((checks + 1))
fi

# ---- errors
run 2 plan --model gpt-5 --tokens 1B --cluster 8xA100 && {
  contains "$tmp/err" "gpt-5" "unknown model: named"
  contains "$tmp/err" "megatron-1t" "unknown model: planner presets listed"
}
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xV100 && {
  contains "$tmp/err" "--cluster" "unknown GPU: flag named"
  contains "$tmp/err" "V100" "unknown GPU: named"
  contains "$tmp/err" "A100-80GB" "unknown GPU: the table listed"
}
run 2 plan --model gpt3-175b --tokens 1B --cluster 1024A100 && contains "$tmp/err" "followed by 'x'" "malformed cluster"
run 2 plan --model gpt3-175b --tokens 1B --cluster 0xA100 && contains "$tmp/err" "count" "zero GPUs"
run 2 plan --model gpt3-175b --tokens 1B --cluster 95zettaflops && contains "$tmp/err" "unit" "bad aggregate unit"
run 2 plan --model gpt3-175b --tokens lots --cluster 8xA100 && contains "$tmp/err" "--tokens" "bad --tokens"
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xA100 --mfu 1.5 && contains "$tmp/err" "--mfu" "--mfu out of range"
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xA100 --tp 3 && contains "$tmp/err" "--tp" "--tp 3"
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xA100 --recompute some && contains "$tmp/err" "--recompute" "bad --recompute"
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xA100 --tokens && contains "$tmp/err" "missing value" "--tokens without a value"
run 2 plan --model gpt3-175b --cluster 8xA100 && contains "$tmp/err" "--tokens is required" "no --tokens"
run 2 plan --tokens 1B --cluster 8xA100 && contains "$tmp/err" "--model is required" "no --model"
run 2 plan --model gpt3-175b --tokens 1B && contains "$tmp/err" "--cluster is required" "no --cluster"
run 2 plan --model gpt3-175b --tokens 1B --cluster 8xA100 --bogus && contains "$tmp/err" "--bogus" "unknown flag"
run 2 plan --model tiny-gpt2 --tokens 1B --cluster 8xA100 --seq 4096 && contains "$tmp/err" "context" "--seq beyond the context"
# a 1T model on one node: nothing fits (exit 1, a runtime failure, saying why)
run 1 plan --model megatron-1t --tokens 1B --cluster 8xA100-80GB && contains "$tmp/err" "no layout fits" "nothing fits"

finish plan
