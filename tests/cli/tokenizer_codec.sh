#!/usr/bin/env bash
# hyperlm tokenizer encode | decode | stats: usage errors (exit 2, naming the flag), missing or
# corrupt tokenizers (exit 1 with the path), bad ids (exit 1 with the position), the output shape
# of --lines, and encode/decode round trips. Uses the committed fixture hf_hyperlm.json; the
# checks with OpenAI's rank files run only when $HLM_SHARED/tokenizers has them.
# Run by ctest with HLM_BIN and HLM_FIXTURES set.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)
fixtures=${HLM_FIXTURES:?HLM_FIXTURES must point to tests/fixtures}
tok=$fixtures/tokenizer/hf_hyperlm.json

# ---- usage errors: exit 2, naming the flag
for cmd in encode decode stats; do
  run 2 tokenizer $cmd -t "$tok" --bogus-flag x && contains "$tmp/err" "--bogus-flag" "$cmd unknown flag"
  run 0 tokenizer $cmd --help && contains "$tmp/out" "default" "$cmd --help"
  contains "$tmp/out" "--tokenizer" "$cmd --help"
done
run 2 tokenizer encode && contains "$tmp/err" "--tokenizer" "encode without -t"
run 2 tokenizer encode -t && contains "$tmp/err" "missing value" "encode -t without a value"
run 2 tokenizer encode -t "$tok" --threads many && contains "$tmp/err" "--threads" "bad --threads"
run 2 tokenizer encode -t "$tok" --pattern nope && contains "$tmp/err" "--pattern" "bad --pattern"
run 2 tokenizer stats -t "$tok" && contains "$tmp/err" "input files" "stats without files"
run 0 tokenizer encode --help
for flag in --lines --allow-special --pattern --threads; do contains "$tmp/out" "$flag" "encode --help lists $flag"; done

# ---- missing or corrupt tokenizer: exit 1 with the path
run 1 tokenizer encode -t "$tmp/no-such-tokenizer.json" && contains "$tmp/err" "$tmp/no-such-tokenizer.json" "missing tokenizer"
head -c 3000 "$tok" >"$tmp/broken.json"
echo hi >"$tmp/hi.txt"
run 1 tokenizer encode -t "$tmp/broken.json" "$tmp/hi.txt" && contains "$tmp/err" "broken.json" "truncated tokenizer"
printf 'IQ== 0\nnot base64! 1\n' >"$tmp/bad.tiktoken"
run 1 tokenizer decode -t "$tmp/bad.tiktoken" "$tmp/hi.txt" && contains "$tmp/err" "line 2" "corrupt rank file"
run 1 tokenizer encode -t "$tok" "$tmp/no-such-input.txt" && contains "$tmp/err" "no-such-input.txt" "missing input"

# ---- encode / decode round trips
printf 'Hello, world! 안녕하세요 여러분.\n  tabs\tand  spaces  \n\n한국어 토크나이저 ✓ 😀\r\nlast line without newline' >"$tmp/text.txt"
run 0 tokenizer encode -t "$tok" "$tmp/text.txt" && cp "$tmp/out" "$tmp/ids.txt"
checks=$((checks + 1))
[ "$(wc -l <"$tmp/ids.txt")" -eq 1 ] || fail "encode: expected one line of ids"
checks=$((checks + 1))
grep -qE '^[0-9]+( [0-9]+)*$' "$tmp/ids.txt" || fail "encode: expected decimal ids separated by single spaces"
run 0 tokenizer decode -t "$tok" "$tmp/ids.txt" && same "$tmp/out" "$tmp/text.txt" "decode(encode(file))"
cp "$tmp/ids.txt" "$tmp/in"
run 0 tokenizer decode -t "$tok" && same "$tmp/out" "$tmp/text.txt" "decode from standard input"
rm -f "$tmp/in"
zstd -q -f "$tmp/text.txt" -o "$tmp/text.txt.zst" 2>/dev/null && {
  run 0 tokenizer encode -t "$tok" "$tmp/text.txt.zst" && same "$tmp/out" "$tmp/ids.txt" "encode of a .zst file"
}
: >"$tmp/empty.txt"
run 0 tokenizer encode -t "$tok" "$tmp/empty.txt"
checks=$((checks + 1))
[ "$(cat "$tmp/out")" = "" ] && [ "$(wc -c <"$tmp/out")" -eq 1 ] || fail "encode of an empty file: expected one empty line"

# ---- --lines: one line of ids per input line, an empty line for an empty line
printf 'first line\n\nthird line 한국어\n' >"$tmp/lines.txt"
run 0 tokenizer encode -t "$tok" --lines "$tmp/lines.txt" && cp "$tmp/out" "$tmp/lines.ids"
checks=$((checks + 1))
[ "$(wc -l <"$tmp/lines.ids")" -eq 3 ] || fail "--lines: expected 3 output lines, got $(wc -l <"$tmp/lines.ids")"
checks=$((checks + 1))
[ "$(sed -n 2p "$tmp/lines.ids")" = "" ] || fail "--lines: the empty input line must give an empty line"
run 0 tokenizer encode -t "$tok" <(printf 'first line') && {
  checks=$((checks + 1))
  [ "$(sed -n 1p "$tmp/lines.ids")" = "$(cat "$tmp/out")" ] || fail "--lines: line 1 differs from encoding it alone"
}
run 0 tokenizer decode -t "$tok" --lines "$tmp/lines.ids" && same "$tmp/out" "$tmp/lines.txt" "decode --lines"

# ---- special tokens
printf 'a<|endoftext|>b' >"$tmp/special.txt"
run 0 tokenizer encode -t "$tok" --allow-special "$tmp/special.txt" && contains "$tmp/out" " 1199 " "--allow-special"
run 0 tokenizer encode -t "$tok" "$tmp/special.txt" && {
  checks=$((checks + 1))
  grep -q ' 1199 ' "$tmp/out" && fail "without --allow-special the special text must be ordinary text"
}

# ---- decode errors: exit 1 naming the position
printf '5 6 x7 8' >"$tmp/badnum.txt"
run 1 tokenizer decode -t "$tok" "$tmp/badnum.txt" && contains "$tmp/err" "id 2" "decode of a non-number"
contains "$tmp/err" "x7" "decode of a non-number"
printf '5 6\n7 123456 8' >"$tmp/badid.txt"
run 1 tokenizer decode -t "$tok" "$tmp/badid.txt" && contains "$tmp/err" "position 3" "decode of an out-of-range id"
contains "$tmp/err" "123456" "decode of an out-of-range id"
printf '99999999999999999999' >"$tmp/huge.txt"
run 1 tokenizer decode -t "$tok" "$tmp/huge.txt"

# ---- stats: one row per tokenizer, names
run 0 tokenizer stats -t "$tok" -t "$tok" --name mine "$tmp/text.txt" && {
  contains "$tmp/out" "tok/syl" "stats header"
  contains "$tmp/out" "mine" "stats --name"
  contains "$tmp/out" "hf_hyperlm.json" "stats default name"
  checks=$((checks + 1))
  [ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "stats: expected a header and 2 rows"
}

# ---- OpenAI rank files (when available)
shared=${HLM_SHARED:-}
if [ -n "$shared" ] && [ -f "$shared/tokenizers/gpt2.tiktoken" ]; then
  printf 'Hello world' >"$tmp/hw.txt"
  run 0 tokenizer encode -t "$shared/tokenizers/gpt2.tiktoken" "$tmp/hw.txt" && {
    checks=$((checks + 1))
    [ "$(cat "$tmp/out")" = "15496 995" ] || fail "gpt2 'Hello world': got '$(cat "$tmp/out")', expected '15496 995' (tiktoken)"
  }
  run 0 tokenizer encode -t "$shared/tokenizers/cl100k_base.tiktoken" --allow-special "$tmp/special.txt" && {
    checks=$((checks + 1))
    [ "$(cat "$tmp/out")" = "64 100257 65" ] || fail "cl100k special: got '$(cat "$tmp/out")'"
  }
  cp "$shared/tokenizers/gpt2.tiktoken" "$tmp/renamed.tiktoken"
  run 0 tokenizer encode -t "$tmp/renamed.tiktoken" "$tmp/hw.txt" # recognised by its size
  head -n 1000 "$shared/tokenizers/gpt2.tiktoken" >"$tmp/small.tiktoken"
  run 1 tokenizer encode -t "$tmp/small.tiktoken" "$tmp/hw.txt" && contains "$tmp/err" "--pattern" "unknown rank file"
  run 0 tokenizer stats -t "$shared/tokenizers/gpt2.tiktoken" -t "$shared/tokenizers/o200k_base.tiktoken" "$tmp/text.txt"
else
  echo "note: skipping the rank-file checks (no \$HLM_SHARED/tokenizers/gpt2.tiktoken)"
fi

finish tokenizer_codec.sh
