#!/usr/bin/env bash
# hyperlm gguf info: the header line, metadata of every type (arrays cut at 8 elements, strings
# escaped), the tensor table of files written by gguf-py (tests/fixtures/gguf/), and the errors:
# a corrupt file (exit 1, naming the file and the field), a missing file, bad arguments (exit 2).
# Run by ctest with HLM_BIN and HLM_FIXTURES set.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)
fx=${HLM_FIXTURES:?HLM_FIXTURES must point to tests/fixtures}/gguf

run 0 gguf info "$fx/types.gguf" && {
  contains "$tmp/out" "types.gguf: GGUF version 3, 1696 bytes, alignment 32, data at byte 1248" "gguf info: header line"
  contains "$tmp/out" "metadata: 23 entries" "gguf info: metadata count"
  contains "$tmp/out" 'general.architecture string   "llama"' "gguf info: a string"
  contains "$tmp/out" "test.u64             uint64   18446744073709551615" "gguf info: uint64 max"
  contains "$tmp/out" "test.i8              int8     -128" "gguf info: int8"
  contains "$tmp/out" "test.f32             float32  3.14159274" "gguf info: float32"
  contains "$tmp/out" "test.bool_false      bool     false" "gguf info: bool"
  contains "$tmp/out" '[string x 4] ["hello", "", "' "gguf info: an array of strings"
  contains "$tmp/out" '"a b\tc"]' "gguf info: a tab escaped"
  contains "$tmp/out" "[float64 x 2] [1.0000000000000001e+300, -2.5]" "gguf info: float64 array"
  contains "$tmp/out" "tensors: 6, 340 elements, 378 bytes" "gguf info: tensor totals"
  contains "$tmp/out" "blk.0.attn_q.weight    Q8_0    [64, 2]" "gguf info: a Q8_0 tensor"
  contains "$tmp/out" "blk.0.ffn_norm.weight  F16     [5, 1, 3, 2]" "gguf info: a 4-d tensor"
}
run 0 gguf info "$fx/vocab.gguf" && {
  contains "$tmp/out" '[string x 600] ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>", "<0x02>", "<0x03>", "<0x04>", ...]' \
    "gguf info: a vocabulary cut at 8 tokens"
  contains "$tmp/out" "tokenizer.ggml.add_bos_token bool     false" "gguf info: tokenizer flags"
}
run 0 gguf info "$fx/align64.gguf" && contains "$tmp/out" "alignment 64" "gguf info: general.alignment"
run 0 gguf info "$fx/v2.gguf" && contains "$tmp/out" "GGUF version 2" "gguf info: a version 2 file"
run 0 gguf info "$fx/empty.gguf" && contains "$tmp/out" "tensors: 0, 0 elements, 0 bytes" "gguf info: no tensors"

# ---- errors
head -c 1240 "$fx/types.gguf" >"$tmp/cut.gguf"
run 1 gguf info "$tmp/cut.gguf" && {
  contains "$tmp/err" "cut.gguf: tensor 'token_embd.weight': data [1248, 1308) past the end of the file (1240 bytes)" \
    "gguf info: a truncated file names the tensor and the range"
}
cp "$fx/types.gguf" "$tmp/magic.gguf"
printf 'GGUX' | dd of="$tmp/magic.gguf" conv=notrunc status=none
run 1 gguf info "$tmp/magic.gguf" && contains "$tmp/err" "magic.gguf: bad magic" "gguf info: bad magic"
run 1 gguf info "$tmp/none.gguf" && contains "$tmp/err" "none.gguf" "gguf info: a missing file"
run 2 gguf info && contains "$tmp/err" "usage: hyperlm gguf info FILE" "gguf info without a file"
run 2 gguf info a.gguf b.gguf && contains "$tmp/err" "'b.gguf'" "gguf info with two files"
run 2 gguf info --bogus "$fx/types.gguf" && contains "$tmp/err" "--bogus" "gguf info: unknown option"
run 0 gguf info --help && contains "$tmp/out" "usage: hyperlm gguf info FILE" "gguf info --help"
run 0 gguf --help && contains "$tmp/out" "info" "gguf --help"
run 2 gguf frobnicate && contains "$tmp/err" "unknown gguf command 'frobnicate'" "gguf: unknown command"
run 0 --help && contains "$tmp/out" "gguf" "hyperlm --help lists gguf"

finish gguf
