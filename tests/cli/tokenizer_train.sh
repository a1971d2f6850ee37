#!/usr/bin/env bash
# hyperlm tokenizer train: flags and their errors (exit 2), bad or missing input (exit 1, naming
# the file, no output written), every input format giving the same tokenizer for the same
# documents, thread-count independence, and a round trip through encode/decode.
# Run by ctest with HLM_BIN set to the built hyperlm.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)

# ---- a small corpus: the same documents as text lines, JSONL, TSV, .gz and .zst
docs=$tmp/docs.txt
for i in $(seq 1 300); do
  case $((i % 5)) in
    0) echo "전체관람가는 아닌것 같아요 $i번째 리뷰. 정말 재미있는 영화였다!" ;;
    1) echo "The lowest and the newest tokens, lower and widest: token $i." ;;
    2) echo "디렉터스컷으로봐서 거의 3시간짜리인데 참 흡인력있다 ㅋㅋㅋ" ;;
    3) echo "It's a BPE test -- don't merge across <|endoftext|> please" ;;
    4) echo "태어나 처음으로 가슴아리는 영화였다.. 생각하면 또 가슴이 아리는" ;;
  esac
done >"$docs"
# JSONL and TSV of the same lines (no tab, quote or backslash in them)
awk '{printf "{\"id\": %d, \"body\": \"%s\"}\n", NR, $0}' "$docs" >"$tmp/docs.jsonl"
{ printf 'id\treview\n'; awk '{printf "%d\t%s\n", NR, $0}' "$docs"; } >"$tmp/docs.tsv"
gzip -c "$tmp/docs.jsonl" >"$tmp/docs.jsonl.gz"
zstd -q -c "$tmp/docs.tsv" >"$tmp/docs.tsv.zst"
gzip -c "$docs" >"$tmp/docs.txt.gz"
head -n 150 "$tmp/docs.jsonl" >"$tmp/part1.jsonl"
tail -n 150 "$tmp/docs.jsonl" >"$tmp/part2.jsonl"
v=400

# ---- help
run 0 tokenizer train --help && {
  for flag in --input --vocab-size --output --pattern --special --format --field --tsv-column \
    --no-normalize --min-frequency --threads; do
    contains "$tmp/out" "$flag" "train --help"
  done
  contains "$tmp/out" "default: o200k" "train --help"
  contains "$tmp/out" "default: 2" "train --help"
}

# ---- usage errors: exit 2, nothing written
out=$tmp/tok.json
run 2 tokenizer train --input "$docs" --vocab-size $v --output "$out" --bogus && contains "$tmp/err" "--bogus" "unknown flag"
run 2 tokenizer train --vocab-size $v --output "$out" && contains "$tmp/err" "--input is required" "no --input"
run 2 tokenizer train --input "$docs" --output "$out" && contains "$tmp/err" "--vocab-size is required" "no --vocab-size"
run 2 tokenizer train --input "$docs" --vocab-size $v && contains "$tmp/err" "--output is required" "no --output"
run 2 tokenizer train --input --vocab-size $v --output "$out" && contains "$tmp/err" "--input" "--input without files"
run 2 tokenizer train --input "$docs" --vocab-size lots --output "$out" && contains "$tmp/err" "--vocab-size" "bad number"
run 2 tokenizer train --input "$docs" --vocab-size 256 --output "$out" && contains "$tmp/err" "minimum is 257" "vocab 256"
run 2 tokenizer train --input "$docs" --vocab-size 258 --special '<a>' --special '<b>' --output "$out" &&
  contains "$tmp/err" "minimum is 259" "vocab 258 with two specials"
run 2 tokenizer train --input "$docs" --vocab-size $v --pattern p50k --output "$out" && contains "$tmp/err" "p50k" "bad pattern"
run 2 tokenizer train --input "$docs" --vocab-size $v --format csv --output "$out" && contains "$tmp/err" "csv" "bad format"
run 2 tokenizer train --input "$docs" --vocab-size $v --special '' --output "$out" && contains "$tmp/err" "empty" "empty special"
run 2 tokenizer train --input "$docs" --vocab-size $v --threads -1 --output "$out" && contains "$tmp/err" "--threads" "bad threads"
absent "$out" "usage errors"

# ---- bad input: exit 1 naming the file, nothing written
run 1 tokenizer train --input "$docs" "$tmp/missing.txt" --vocab-size $v --output "$out" &&
  contains "$tmp/err" "missing.txt" "missing input"
printf '\x1f\x8b\x08\x00garbage that is not deflate at all' >"$tmp/bad.txt.gz"
run 1 tokenizer train --input "$tmp/bad.txt.gz" --vocab-size $v --output "$out" && contains "$tmp/err" "bad.txt.gz" "corrupt gzip"
printf '{"body": "fine"}\n{"body": 17}\n' >"$tmp/bad.jsonl"
run 1 tokenizer train --input "$tmp/bad.jsonl" --field body --vocab-size $v --output "$out" &&
  contains "$tmp/err" "bad.jsonl:2" "JSONL field not a string"
: >"$tmp/empty.txt"
run 1 tokenizer train --input "$tmp/empty.txt" --vocab-size $v --output "$out" && contains "$tmp/err" "nothing to learn" "empty input"
run 1 tokenizer train --input "$docs" --vocab-size $v --min-frequency 100000 --output "$out" &&
  contains "$tmp/err" "nothing to learn" "nothing frequent enough"
run 1 tokenizer train --input "$docs" --vocab-size $v --output "$tmp/no/such/dir/tok.json" &&
  contains "$tmp/err" "no/such/dir" "output folder missing"
absent "$out" "bad input"

# ---- training: formats, compression, several inputs, threads
run 0 tokenizer train --input "$docs" --vocab-size $v --output "$tmp/text.json" && {
  contains "$tmp/text.json" '"merges"' "tokenizer.json"
  contains "$tmp/text.json" '"NFC"' "tokenizer.json normalizer"
}
run 0 tokenizer train --input "$tmp/docs.txt.gz" --vocab-size $v --output "$tmp/text-gz.json" &&
  same "$tmp/text.json" "$tmp/text-gz.json" ".txt.gz vs .txt"
run 0 tokenizer train --input "$docs" --vocab-size $v --threads 1 --output "$tmp/t1.json" &&
  run 0 tokenizer train --input "$docs" --vocab-size $v --threads 4 --output "$tmp/t4.json" &&
  same "$tmp/t1.json" "$tmp/t4.json" "--threads 1 vs --threads 4"
run 0 tokenizer train --input "$tmp/docs.jsonl" --field body --vocab-size $v --output "$tmp/jsonl.json"
run 0 tokenizer train --input "$tmp/docs.jsonl.gz" --field=body --vocab-size=$v --output "$tmp/jsonl-gz.json" &&
  same "$tmp/jsonl.json" "$tmp/jsonl-gz.json" ".jsonl.gz vs .jsonl"
run 0 tokenizer train --input "$tmp/docs.tsv.zst" --tsv-column review --vocab-size $v --output "$tmp/tsv.json" &&
  same "$tmp/jsonl.json" "$tmp/tsv.json" ".tsv.zst vs .jsonl"
run 0 tokenizer train --input "$tmp/docs.tsv" --vocab-size $v --output "$tmp/tsv-last.json" &&
  same "$tmp/jsonl.json" "$tmp/tsv-last.json" "TSV default column (the last)"
run 0 tokenizer train --input "$tmp/part1.jsonl" --input "$tmp/part2.jsonl" --field body --vocab-size $v \
  --output "$tmp/parts.json" && same "$tmp/jsonl.json" "$tmp/parts.json" "two --input flags vs one file"
run 0 tokenizer train --input "$tmp/part1.jsonl" "$tmp/part2.jsonl" --field body --vocab-size $v \
  --output "$tmp/parts2.json" && same "$tmp/jsonl.json" "$tmp/parts2.json" "--input with two files"
cp "$tmp/docs.jsonl" "$tmp/docs-as-text.dat"
run 0 tokenizer train --input "$tmp/docs-as-text.dat" --format jsonl --field body --vocab-size $v \
  --output "$tmp/forced.json" && same "$tmp/jsonl.json" "$tmp/forced.json" "--format jsonl"

# pattern and normalization are recorded in the file
run 0 tokenizer train --input "$docs" --vocab-size $v --pattern gpt2 --no-normalize --output "$tmp/gpt2.json" && {
  contains "$tmp/gpt2.json" "'s|'t|'re|'ve|'m|'ll|'d| ?" "gpt2 pattern in tokenizer.json"
  checks=$((checks + 1))
  grep -qF '"NFC"' "$tmp/gpt2.json" && fail "--no-normalize: NFC normalizer still in tokenizer.json"
}

# special tokens: added after the merges, their text not learned
run 0 tokenizer train --input "$docs" --vocab-size $v --special '<|endoftext|>' --output "$tmp/special.json" && {
  contains "$tmp/special.json" '"<|endoftext|>"' "special token in tokenizer.json"
  checks=$((checks + 1))
  grep -qF '"content": "<|endoftext|>"' "$tmp/special.json" ||
    grep -qF '"content":"<|endoftext|>"' "$tmp/special.json" || fail "special token not in added_tokens"
}

# the run logs a summary
"$bin" tokenizer train --input "$docs" --vocab-size $v --output "$tmp/log.json" 2>"$tmp/log" >/dev/null
for word in documents "distinct" merges "peak RSS"; do contains "$tmp/log" "$word" "training log"; done

# ---- round trip: the trained tokenizer encodes and decodes the corpus losslessly
for tok in text special gpt2; do
  "$bin" tokenizer encode -t "$tmp/$tok.json" --allow-special "$docs" >"$tmp/$tok.ids" 2>"$tmp/err" ||
    fail "encode with $tok.json: $(head -c 300 "$tmp/err")"
  "$bin" tokenizer decode -t "$tmp/$tok.json" "$tmp/$tok.ids" >"$tmp/$tok.dec" 2>"$tmp/err" ||
    fail "decode with $tok.json: $(head -c 300 "$tmp/err")"
  same "$docs" "$tmp/$tok.dec" "encode/decode round trip with $tok.json"
done
# the special token is one id: its own, the last one
checks=$((checks + 1))
printf 'a<|endoftext|>b' | "$bin" tokenizer encode -t "$tmp/special.json" --allow-special >"$tmp/sp.ids" 2>/dev/null
grep -qw "$((v - 1))" "$tmp/sp.ids" || fail "<|endoftext|> does not encode to id $((v - 1)): $(cat "$tmp/sp.ids")"
# and the trained merges compress: fewer ids than bytes by a wide margin on the training text
checks=$((checks + 1))
n_ids=$(wc -w <"$tmp/text.ids")
n_bytes=$(wc -c <"$docs")
[ "$((n_ids * 2))" -lt "$n_bytes" ] || fail "text.json: $n_ids ids for $n_bytes bytes"

finish tokenizer_train.sh
