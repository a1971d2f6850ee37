#!/usr/bin/env bash
# Usage: bench/train.sh HYPERLM_BINARY          (make bench, or BENCH=train make bench)
#
# Training throughput, HyperLM against PyTorch on the same model, batch, sequence length and
# thread count, in the same run, one after the other:
#   gpt2-5m   (L 4, d 256, 4 heads, vocab 8192, B 8, T 256)
#   gpt2-124m (L 12, d 768, 12 heads, vocab 50257, B 4, T 256)
# Peers (bench/_train_peer.py, a minimal GPT-2 in plain torch with AdamW and clipping, as we train):
#   PyPI torch (python3 / $HLM_PYTHON), and Debian's python3-torch 1.13 (/usr/bin/python3) with
#   the settings that make it fastest here (OPENBLAS_CORETYPE=SkylakeX, OMP_WAIT_POLICY=PASSIVE).
# HyperLM's figure is the mean tokens/s of its timed steps (metrics.jsonl, after WARMUP steps);
# the peer's the same. Prints both, the ratio to the faster peer, and HyperLM's MFU against the
# measured fp32 FMA peak; writes bench/out/train.md and bench/out/train.png.
# THREADS (2), STEPS_5M (12), STEPS_124M (5), WARMUP (2) change the run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
py=${HLM_PYTHON:-python3}
out=${HLM_BENCH_OUT:-$repo/bench/out}
threads=${THREADS:-2}
warm=${WARMUP:-2}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Token data: uniformly random ids in a shard (throughput does not depend on the ids).
"$py" - "$work" <<'PY'
import struct, sys, random
import numpy as np
def xxh64(b):  # only needed for the header's checksum: use xxhash if present, else our CLI recomputes
    try:
        import xxhash
        return xxhash.xxh64(b, seed=0).intdigest()
    except ImportError:
        return None
for name, vocab in (("v8192", 8192), ("v50257", 50257)):
    rng = np.random.default_rng(1)
    toks = rng.integers(0, vocab - 1, size=300_000, dtype=np.uint16)
    body = toks.tobytes()
    h = xxh64(body)
    if h is None:
        sys.exit("bench/train.sh: needs the Python package xxhash (pip install xxhash)")
    hdr = b"HLMSHARD" + struct.pack("<IIQQIIQ", 1, 2, len(toks), 1, vocab, vocab - 1, h) + bytes(16)
    open(f"{sys.argv[1]}/{name}.tok", "wb").write(hdr + body)
PY
cat >"$work/gpt2-5m.json" <<'JSON'
{"model_type": "gpt2", "vocab_size": 8192, "n_positions": 256, "n_embd": 256, "n_layer": 4, "n_head": 4,
 "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
JSON

measure_hyperlm() { # precision model data B T steps -> tokens/s (mean over timed steps), MFU, ms
  local prec=$1 model=$2 data=$3 B=$4 T=$5 steps=$6 dir=$work/run-$RANDOM
  "$bin" -q train --model "$model" --data "$data" --val-fraction 0 --batch "$B" --seq "$T" --steps "$steps" \
    --threads "$threads" --out "$dir" --save-every 0 --keep 1 --lr 3e-4 --precision "$prec" >/dev/null
  "$py" - "$dir/metrics.jsonl" "$warm" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
rows = rows[int(sys.argv[2]):]
ms = sum(r["ms"] for r in rows) / len(rows)
tps = sum(r["tokens_per_s"] for r in rows) / len(rows)
print(f"{tps:.1f} {sum(r['mfu'] for r in rows) / len(rows):.4f} {ms:.0f}")
PY
}

measure_peer() { # which model B T steps -> tokens/s
  local which=$1 model=$2 B=$3 T=$4 steps=$5
  if [ "$which" = debian ]; then
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "n/a n/a"; return; }
    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$repo/bench/_train_peer.py" --model "$model" \
      --batch "$B" --seq "$T" --steps "$steps" --warmup "$warm" --threads "$threads"
  else
    "$py" "$repo/bench/_train_peer.py" --model "$model" --batch "$B" --seq "$T" --steps "$steps" --warmup "$warm" \
      --threads "$threads"
  fi | "$py" -c 'import json, sys
try:
    d = json.loads(sys.stdin.read().strip().splitlines()[-1])
    print("%.1f %s" % (d["tokens_per_s"], d["torch"]))
except Exception:
    print("n/a n/a")'
}

rows=()
run_case() { # label peer_model hyperlm_model data B T steps
  local label=$1 pm=$2 hm=$3 data=$4 B=$5 T=$6 steps=$7
  echo "bench/train: $label (B $B, T $T, $threads threads)" >&2
  read -r tp_pypi v_pypi < <(measure_peer pypi "$pm" "$B" "$T" "$steps")
  read -r tp_deb v_deb < <(measure_peer debian "$pm" "$B" "$T" "$steps")
  read -r tp_h mfu ms < <(measure_hyperlm fp32 "$hm" "$data" "$B" "$T" $((steps + warm)))
  read -r tp_b _ ms_b < <(measure_hyperlm bf16 "$hm" "$data" "$B" "$T" $((steps + warm)))
  rows+=("$label|$B|$T|$tp_h|$mfu|$ms|$tp_b|$tp_pypi|$v_pypi|$tp_deb|$v_deb")
}
run_case gpt2-5m gpt2-5m "$work/gpt2-5m.json" "$work/v8192.tok" 8 256 "${STEPS_5M:-12}"
run_case gpt2-124m gpt2-124m gpt2-124m "$work/v50257.tok" 4 256 "${STEPS_124M:-5}"

"$py" - "$out" "$threads" "${rows[@]}" <<'PY'
import sys
out, threads, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
def f(x):
    try: return float(x)
    except ValueError: return None
lines = [f"Training throughput, tokens/s, {threads} threads, same model/batch/sequence (bench/train.sh)", "",
         "| model | B x T | HyperLM fp32 | MFU (fp32) | HyperLM bf16 | PyTorch (PyPI) | PyTorch (Debian) | fp32 / faster peer | bf16 / faster peer |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
plot = []
for r in rows:
    label, B, T, h, mfu, ms, hb, p1, v1, p2, v2 = r.split("|")
    peers = [x for x in (f(p1), f(p2)) if x]
    best = max(peers) if peers else None
    ratio = f"{f(h) / best:.2f}x" if best else "n/a"
    ratio_b = f"{f(hb) / best:.2f}x" if best else "n/a"
    lines.append(f"| {label} | {B} x {T} | {f(h):,.0f} | {100 * f(mfu):.1f}% | {f(hb):,.0f} | "
                 f"{p1} ({v1}) | {p2} ({v2}) | {ratio} | {ratio_b} |")
    plot.append((label, f(h), f(hb), f(p1) or 0, f(p2) or 0))
text = "\n".join(lines) + "\n"
print(text)
open(f"{out}/train.md", "w").write(text)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(plot), figsize=(5 * len(plot), 3.5))
    for ax, (label, h, hb, p1, p2) in zip(axes if len(plot) > 1 else [axes], plot):
        ax.bar(["HyperLM fp32", "HyperLM bf16", "PyTorch PyPI", "PyTorch Debian"], [h, hb, p1, p2],
               color=["#1f77b4", "#17becf", "#999", "#bbb"])
        ax.set_title(f"{label}: tokens/s ({threads} threads)")
    fig.tight_layout()
    fig.savefig(f"{out}/train.png", dpi=100)
except ImportError:
    pass
PY
