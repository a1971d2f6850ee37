#!/usr/bin/env bash
# Usage: bench/bf16_loss.sh HYPERLM_BINARY      (BENCH=bf16_loss make bench)
#
# Does bf16 mode (--precision bf16: matrix multiplies on bf16 inputs with fp32 accumulation;
# weights, gradients and AdamW in fp32) train the same model as fp32? Trains the same GPT-2 (L 4,
# d 256, vocab 8192) on the same NSMC reviews, same seed and batches, once in each precision, and
# compares the loss curves step by step and the validation losses; prints both speeds.
# Writes bench/out/bf16_loss.md and bench/out/bf16_loss.png. STEPS (300) changes the length.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
py=${HLM_PYTHON:-python3}
out=${HLM_BENCH_OUT:-$repo/bench/out}
shared=${HLM_SHARED:-$repo/../shared}
steps=${STEPS:-300}
nsmc=$shared/data/nsmc/reviews.tsv.zst
if [ ! -f "$nsmc" ]; then
  echo "bench/bf16_loss: $nsmc not found; skipped"
  exit 0
fi
if ! "$bin" train --help | grep -q -- --precision; then
  echo "bench/bf16_loss: this hyperlm has no --precision" >&2
  exit 1
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" -q tokenizer train --input "$nsmc" --tsv-column review --vocab-size 8192 --special '<|endoftext|>' --output "$work/tok.json"
"$bin" -q data tokenize -t "$work/tok.json" -o "$work/shards" --val-fraction 0.01 --tsv-column review "$nsmc" >/dev/null
cat >"$work/model.json" <<'JSON'
{"model_type": "gpt2", "vocab_size": 8192, "n_positions": 256, "n_embd": 256, "n_layer": 4, "n_head": 4,
 "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
JSON
for prec in fp32 bf16; do
  echo "bench/bf16_loss: training $steps steps in $prec" >&2
  "$bin" -q train --model "$work/model.json" --data "$work/shards/train-*.tok" --val-data "$work/shards/val-*.tok" \
    --batch 8 --seq 256 --steps "$steps" --lr 1e-3 --warmup 30 --eval-every 50 --eval-batches 8 --save-every 0 \
    --precision "$prec" --out "$work/$prec"
done
"$py" - "$work" "$out" "$steps" <<'PY'
import json, sys
work, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(p):
    tr, va, tps = {}, {}, []
    for line in open(f"{work}/{p}/metrics.jsonl"):
        d = json.loads(line)
        if "loss" in d:
            tr[d["step"]] = d["loss"]; tps.append(d["tokens_per_s"])
        if "val_loss" in d:
            va[d["step"]] = d["val_loss"]
    return tr, va, sorted(tps)[len(tps) // 2]
f_tr, f_va, f_tps = load("fp32")
b_tr, b_va, b_tps = load("bf16")
def smooth(d, w=20):
    ks = sorted(d); return {k: sum(d[j] for j in ks[max(0, i - w + 1):i + 1]) / len(ks[max(0, i - w + 1):i + 1]) for i, k in enumerate(ks)}
fs, bs = smooth(f_tr), smooth(b_tr)
diff = [abs(fs[k] - bs[k]) for k in fs if k in bs and k > 20]
lines = [f"bf16 mode against fp32: GPT-2 L4 d256 vocab 8192 on NSMC, {steps} steps of 8 x 256 tokens, same seed and batches (bench/bf16_loss.sh)", "",
         "| step | val loss fp32 | val loss bf16 | difference |", "| ---: | ---: | ---: | ---: |"]
for k in sorted(f_va):
    if k in b_va:
        lines.append(f"| {k} | {f_va[k]:.4f} | {b_va[k]:.4f} | {b_va[k] - f_va[k]:+.4f} |")
lines += ["", f"train loss (20-step moving average), largest |fp32 - bf16| after step 20: {max(diff):.4f}; "
          f"final: fp32 {fs[max(fs)]:.4f}, bf16 {bs[max(bs)]:.4f}",
          f"median tokens/s: fp32 {f_tps:,.0f}, bf16 {b_tps:,.0f} ({b_tps / f_tps:.2f}x)"]
text = "\n".join(lines) + "\n"
print(text)
open(f"{out}/bf16_loss.md", "w").write(text)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(list(f_tr), list(f_tr.values()), lw=0.8, alpha=0.6, label="fp32 train")
    ax.plot(list(b_tr), list(b_tr.values()), lw=0.8, alpha=0.6, label="bf16 train")
    ax.plot(list(f_va), list(f_va.values()), "o-", label="fp32 validation")
    ax.plot(list(b_va), list(b_va.values()), "s--", label="bf16 validation")
    ax.set_xlabel("step"); ax.set_ylabel("loss"); ax.legend(); ax.set_title("fp32 vs bf16 matrix multiplies")
    fig.tight_layout(); fig.savefig(f"{out}/bf16_loss.png", dpi=100)
except ImportError:
    pass
PY
