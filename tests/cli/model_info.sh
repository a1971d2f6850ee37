#!/usr/bin/env bash
# hyperlm model info: parameter counts as Hugging Face counts them (gpt2 124,439,808, Llama-2-7b
# 6,738,415,616), FLOPs and memory lines, the preset list, config.json files and folders, and the
# errors: an unknown preset (exit 2, listing the presets), a bad config.json (exit 1, naming the
# file and the key), bad flags (exit 2, naming the flag). Run by ctest with HLM_BIN set.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)

# ---- presets
run 0 model info gpt2-124m && {
  contains "$tmp/out" "124,439,808" "model info gpt2-124m: parameter count"
  contains "$tmp/out" "non-embedding  85,056,000" "model info gpt2-124m: non-embedding count"
  contains "$tmp/out" "GPT2LMHeadModel" "model info gpt2-124m: architecture"
  contains "$tmp/out" "at B=4, T=1024" "model info gpt2-124m: default batch and sequence"
  # 2 * 123,532,032 matrix weights + 4 * 12 * 768 * 1024 attention = 284.81 MFLOP
  contains "$tmp/out" "forward 284.81 MFLOP, training 854.44 MFLOP" "model info gpt2-124m: FLOPs per token"
  # weights 124,439,808 floats (+ alignment padding) = 474.7 MiB; gradients the same; m, v twice that
  contains "$tmp/out" "weights      474.7 MiB" "model info gpt2-124m: weights"
  contains "$tmp/out" "AdamW m, v   949.4 MiB" "model info gpt2-124m: AdamW state"
  for line in gradients activations total; do contains "$tmp/out" "  $line" "model info gpt2-124m: $line"; done
}
run 0 model info llama-7b --batch 1 --seq 4096 && {
  contains "$tmp/out" "6,738,415,616" "model info llama-7b"
  contains "$tmp/out" "at B=1, T=4096" "model info llama-7b --batch 1 --seq 4096"
  contains "$tmp/out" "LlamaForCausalLM" "model info llama-7b"
}
run 0 model info gpt2-124m --batch=2 --seq=512 && contains "$tmp/out" "at B=2, T=512" "--batch=B --seq=T"
run 2 model info gpt2-124m --batch && contains "$tmp/err" "missing value" "--batch without a value"
run 2 model info gpt2-124m --batches 3 && contains "$tmp/err" "--batches" "--batches is not --batch"
run 0 model info tiny-gpt2 && contains "$tmp/out" "T=128" "the default T is the context when shorter than 1024"
run 0 model info --list && {
  for p in gpt2-124m gpt3-175b llama-1b llama-70b tiny-gpt2 tiny-llama small-llama; do
    contains "$tmp/out" "$p" "model info --list"
  done
  contains "$tmp/out" "124,439,808" "model info --list: counts"
}
run 0 model info --help && contains "$tmp/out" "--batch" "model info --help"
run 0 model --help && contains "$tmp/out" "info" "model --help"
contains "$tmp/out" "init" "model --help lists init"

# ---- config.json files and folders
cat >"$tmp/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
 "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
 "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000, "tie_word_embeddings": true,
 "hidden_act": "silu", "rope_scaling": null}
EOF
run 0 model info "$tmp/config.json" && contains "$tmp/out" "134,515,008" "model info on SmolLM2-135M's config.json"
run 0 model info "$tmp" && contains "$tmp/out" "134,515,008" "model info on a folder"
contains "$tmp/out" "3 key/value heads" "model info on a folder: grouped-query attention"

# ---- errors
run 2 model info gpt2-125m && {
  contains "$tmp/err" "gpt2-125m" "unknown preset: named"
  contains "$tmp/err" "gpt2-124m" "unknown preset: presets listed"
  contains "$tmp/err" "small-llama" "unknown preset: presets listed"
}
printf '{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": "768", "n_layer": 12, "n_head": 12}' \
  >"$tmp/bad.json"
run 1 model info "$tmp/bad.json" && {
  contains "$tmp/err" "$tmp/bad.json" "bad config: file named"
  contains "$tmp/err" "'n_embd'" "bad config: key named"
}
printf '{"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
 "num_attention_heads": 4, "max_position_embeddings": 64, "rope_scaling": {"type": "linear", "factor": 2.0}}' >"$tmp/rs.json"
run 1 model info "$tmp/rs.json" && contains "$tmp/err" "'rope_scaling'" "rope_scaling: key named"
mkdir -p "$tmp/empty-dir"
run 1 model info "$tmp/empty-dir" && contains "$tmp/err" "config.json" "folder without config.json"
run 2 model info && contains "$tmp/err" "MODEL" "model info without a model"
run 2 model info gpt2-124m --batch 0 && contains "$tmp/err" "--batch" "--batch 0"
run 2 model info gpt2-124m --seq x && contains "$tmp/err" "--seq" "--seq x"
run 2 model info gpt2-124m --seq 2048 && contains "$tmp/err" "1024" "--seq beyond the context"
run 2 model info gpt2-124m --bogus && contains "$tmp/err" "--bogus" "unknown flag"
run 2 model info gpt2-124m llama-7b && contains "$tmp/err" "llama-7b" "two models"
run 2 model frobnicate && contains "$tmp/err" "frobnicate" "unknown model command"

finish model_info
