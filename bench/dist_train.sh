#!/usr/bin/env bash
# Usage: bench/dist_train.sh HYPERLM_BINARY      (BENCH=dist_train make bench)
#
# Data-parallel training over MPI (docs/distributed.md) on this machine:
# 1. throughput: the same global batch (8 x 256 tokens) of small-llama, as one process with two
#    threads and as two processes (mpirun -np 2) with one thread each, alternated ROUNDS (3) times
#    because the machine is shared; tokens/s (median step of a run, best run) and the scaling
#    efficiency np=2 / np=1;
# 2. communication: bytes received per step by rank 0, as counted by the comm layer, against the
#    ZeRO paper's volume (Rajbhandari et al. 2020, section 7: 2 psi (N-1)/N for stages 0, 1 and 2,
#    (A + 1) psi (N-1)/N for stage 2 with A micro-batches, which reduce-scatters each), in fp32.
# Writes bench/out/dist_train.md. STEPS (12) changes the length of each run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
out=${HLM_BENCH_OUT:-$repo/bench/out}
steps=${STEPS:-12}
rounds=${ROUNDS:-3}
if ! command -v mpirun >/dev/null; then
  echo "bench/dist_train: mpirun not found (apt-get install openmpi-bin); skipped"
  exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a synthetic corpus: the benchmark measures speed and bytes, not what the model learns
python3 - "$work/corpus.jsonl" <<'PY'
import json, random, sys
rng = random.Random(1)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(3000)]
with open(sys.argv[1], 'w') as f:
    for _ in range(4000):
        f.write(json.dumps({'text': ' '.join(rng.choice(words) for _ in range(rng.randint(50, 200)))}) + '\n')
PY
"$bin" -q tokenizer train --input "$work/corpus.jsonl" --vocab-size 4096 --special '<|endoftext|>' --output "$work/tok.json"
"$bin" -q data tokenize -t "$work/tok.json" -o "$work/shards" --val-fraction 0 "$work/corpus.jsonl" >/dev/null
"$bin" train --help | grep -q -- --zero || { echo "bench/dist_train: this hyperlm has no --zero" >&2; exit 1; }
common=(--model small-llama --data "$work/shards/train-00000.tok" --val-fraction 0 --seq 256 --steps "$steps"
        --lr 1e-3 --warmup 5 --save-every 0 --eval-every 0 --peak-gflops 100)

for r in $(seq 1 "$rounds"); do
  echo "bench/dist_train: round $r: np=1 with 2 threads, np=2 with 1 thread each" >&2
  "$bin" -q train "${common[@]}" --batch 8 --threads 2 --out "$work/np1-$r"
  mpirun -np 2 "$bin" -q train "${common[@]}" --batch 4 --threads 1 --out "$work/np2-$r"
done
for z in 0 1 2; do
  echo "bench/dist_train: np=2 ZeRO-$z, accum 1 and 2" >&2
  mpirun -np 2 "$bin" -q train "${common[@]}" --steps 4 --batch 4 --threads 1 --zero $z --out "$work/z$z"
  mpirun -np 2 "$bin" -q train "${common[@]}" --steps 4 --batch 2 --accum 2 --threads 1 --zero $z --out "$work/z${z}a"
done
psi=$("$bin" model info small-llama 2>&1 | grep -io 'parameters[^0-9]*[0-9,]*' | head -1 | tr -dc '0-9')

python3 - "$work" "$out" "$steps" "$psi" "$rounds" <<'PY'
import json, sys
work, out, steps, psi, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4] or 0), int(sys.argv[5])
def rows(d):
    return [json.loads(l) for l in open(f"{work}/{d}/metrics.jsonl") if '"loss"' in l]
def median(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
def best(kind):  # the run with the highest median step, skipping each run's first step
    runs = [rows(f"{kind}-{r}")[1:] for r in range(1, rounds + 1)]
    return max(runs, key=lambda rs: median([x["tokens_per_s"] for x in rs]))
b1, b2 = best("np1"), best("np2")
t1 = median([r["tokens_per_s"] for r in b1])
t2 = median([r["tokens_per_s"] for r in b2])
w2 = median([r["comm_wait_ms"] for r in b2])
ms2 = median([r["ms"] for r in b2])
all1 = ", ".join(f'{median([x["tokens_per_s"] for x in rows(f"np1-{r}")[1:]]):,.0f}' for r in range(1, rounds + 1))
all2 = ", ".join(f'{median([x["tokens_per_s"] for x in rows(f"np2-{r}")[1:]]):,.0f}' for r in range(1, rounds + 1))
lines = [f"Data-parallel training, small-llama ({psi:,} parameters), global batch 8 x 256 tokens, {steps} steps a run, "
         f"median step, best of {rounds} alternated runs on a shared 2-core machine (bench/dist_train.sh)", "",
         "| run | tokens/s | scaling efficiency | every run |", "| --- | ---: | ---: | --- |",
         f"| np=1, 2 threads | {t1:,.0f} | 1.00 | {all1} |",
         f"| np=2, 1 thread each (mpirun) | {t2:,.0f} | {t2 / t1:.2f} | {all2} |", "",
         f"np=2: {w2:.1f} ms of a {ms2:.0f} ms step spent waiting for communication that backward did not hide.", "",
         "Bytes received per step by rank 0 (comm layer count, bandwidth-optimal algorithm) against the ZeRO paper's volume, np=2, fp32:", "",
         "| ZeRO stage | accum | measured bytes/step | paper bytes/step | ratio |", "| ---: | ---: | ---: | ---: | ---: |"]
N = 2
for z in (0, 1, 2):
    for a, d in ((1, f"z{z}"), (2, f"z{z}a")):
        got = median([r["comm_bytes"] for r in rows(d)])
        factor = (a + 1) if z == 2 else 2
        theory = factor * psi * (N - 1) / N * 4
        lines.append(f"| {z} | {a} | {got:,.0f} | {theory:,.0f} | {got / theory:.3f} |")
lines += ["", "The measured count covers the whole flat array, alignment padding between tensors included (none for this model)."]
text = "\n".join(lines) + "\n"
open(f"{out}/dist_train.md", "w").write(text)
print(text)
PY
