#!/usr/bin/env bash
# hyperlm data tokenize | inspect: JSONL -> train/val shards whose inspected counts match the
# summary, the same shards for any --threads, shard rolling at --shard-tokens, a corrupted byte
# failing inspect on the checksum, and clear errors for a missing tokenizer, a tokenizer without
# <|endoftext|>, existing output and bad flags. Uses the committed fixture hf_hyperlm.json.
# Run by ctest with HLM_BIN and HLM_FIXTURES set.
source "$(dirname "$0")/lib.bash"
run_flags=(-q)
fixtures=${HLM_FIXTURES:?HLM_FIXTURES must point to tests/fixtures}
tok=$fixtures/tokenizer/hf_hyperlm.json

# 300 documents of different lengths, Hangul and escapes included
for i in $(seq 0 299); do
  rep=$((i % 4 + 1))
  text=""
  for _ in $(seq $rep); do text="$text문서 $i: hello world, \\\"quoted\\\" line\\n"; done
  printf '{"id": %d, "text": "%s"}\n' "$i" "$text"
done >"$tmp/docs.jsonl"

# ---- usage errors: exit 2, naming the flag
run 2 data && contains "$tmp/err" "tokenize" "data without a command lists the commands"
run 2 data bogus && contains "$tmp/err" "bogus" "unknown data command"
run 0 data --help && contains "$tmp/out" "inspect" "data --help"
run 0 data tokenize --help
for flag in --tokenizer --input --output --val-fraction --shard-tokens --threads --tsv-column --text-field; do
  contains "$tmp/out" "$flag" "tokenize --help lists $flag"
done
run 2 data tokenize -o "$tmp/x" "$tmp/docs.jsonl" && contains "$tmp/err" "--tokenizer" "tokenize without -t"
run 2 data tokenize -t "$tok" "$tmp/docs.jsonl" && contains "$tmp/err" "--output" "tokenize without -o"
run 2 data tokenize -t "$tok" -o "$tmp/x" && contains "$tmp/err" "input" "tokenize without inputs"
run 2 data tokenize -t "$tok" -o "$tmp/x" --val-fraction 1.5 "$tmp/docs.jsonl" && contains "$tmp/err" "--val-fraction" "bad --val-fraction"
run 2 data tokenize -t "$tok" -o "$tmp/x" --shard-tokens 0 "$tmp/docs.jsonl" && contains "$tmp/err" "--shard-tokens" "bad --shard-tokens"
run 2 data tokenize -t "$tok" -o "$tmp/x" --bogus "$tmp/docs.jsonl" && contains "$tmp/err" "--bogus" "unknown flag"
run 2 data inspect && contains "$tmp/err" "shard" "inspect without files"
absent "$tmp/x" "usage errors"

# ---- missing tokenizer, tokenizer without <|endoftext|>, missing input: exit 1, no output
run 1 data tokenize -t "$tmp/no-such-tokenizer.json" -o "$tmp/x" "$tmp/docs.jsonl" &&
  contains "$tmp/err" "no-such-tokenizer.json" "missing tokenizer"
absent "$tmp/x" "missing tokenizer"
printf 'aaaa bbbb aaaa bbbb cccc\n' >"$tmp/small.txt"
"$bin" -q tokenizer train --vocab-size 260 -o "$tmp/plain.json" "$tmp/small.txt" >/dev/null 2>&1 &&
  run 1 data tokenize -t "$tmp/plain.json" -o "$tmp/x" "$tmp/docs.jsonl" &&
  contains "$tmp/err" "<|endoftext|>" "tokenizer without <|endoftext|>"
absent "$tmp/x/train-00000.tok" "tokenizer without <|endoftext|>"
run 1 data tokenize -t "$tok" -o "$tmp/x" "$tmp/no-such-input.jsonl" && contains "$tmp/err" "no-such-input.jsonl" "missing input"

# ---- tokenize, then inspect: the counts agree
run 0 data tokenize -t "$tok" -o "$tmp/sh" --val-fraction 0.1 --shard-tokens 4000 --threads 2 --input "$tmp/docs.jsonl" &&
  cp "$tmp/out" "$tmp/summary"
contains "$tmp/summary" "total 300 documents" "tokenize summary"
contains "$tmp/summary" "tokens/s" "tokenize summary"
train_docs=$(sed -n 's/^train *\([0-9]*\) documents.*/\1/p' "$tmp/summary")
val_docs=$(sed -n 's/^val *\([0-9]*\) documents.*/\1/p' "$tmp/summary")
train_tokens=$(sed -n 's/^train .* documents, \([0-9]*\) tokens.*/\1/p' "$tmp/summary")
val_tokens=$(sed -n 's/^val .* documents, \([0-9]*\) tokens.*/\1/p' "$tmp/summary")
checks=$((checks + 1))
[ $((train_docs + val_docs)) -eq 300 ] && [ "$val_docs" -gt 0 ] && [ "$val_docs" -lt 100 ] ||
  fail "split: train $train_docs + val $val_docs documents, expected 300 with some in val"
checks=$((checks + 1))
n_train=$(ls "$tmp/sh"/train-*.tok | wc -l)
[ "$n_train" -ge 2 ] || fail "--shard-tokens 4000: expected several train shards, got $n_train"
sum_docs=0
sum_tokens=0
for f in "$tmp/sh"/train-*.tok; do
  run 0 data inspect "$f" || continue
  contains "$tmp/out" "verified" "inspect $f"
  d=$(awk '$1 == "n_docs" {print $2}' "$tmp/out")
  t=$(awk '$1 == "n_tokens" {print $2}' "$tmp/out")
  e=$(awk '$1 == "eot" {print $3}' "$tmp/out")
  checks=$((checks + 1))
  [ "$d" = "$e" ] || fail "inspect $f: n_docs $d but $e EOT tokens"
  sum_docs=$((sum_docs + d))
  sum_tokens=$((sum_tokens + t))
done
checks=$((checks + 1))
[ "$sum_docs" = "$train_docs" ] && [ "$sum_tokens" = "$train_tokens" ] ||
  fail "train shards hold $sum_docs documents, $sum_tokens tokens; the summary said $train_docs, $train_tokens"
run 0 data inspect -t "$tok" --samples 2 "$tmp/sh/val-00000.tok" && {
  contains "$tmp/out" "n_docs       $val_docs" "inspect val n_docs"
  contains "$tmp/out" "n_tokens     $val_tokens" "inspect val n_tokens"
  contains "$tmp/out" "vocab_size   1200" "inspect vocab_size"
  contains "$tmp/out" "eot_id       1199" "inspect eot_id"
  contains "$tmp/out" "hello world" "inspect decodes documents"
  contains "$tmp/out" "doc 1 (" "inspect --samples 2"
  checks=$((checks + 1))
  grep -q "doc 2 (" "$tmp/out" && fail "inspect --samples 2 printed a third document"
}

# ---- the same shards whatever --threads; existing output needs --overwrite
run 1 data tokenize -t "$tok" -o "$tmp/sh" "$tmp/docs.jsonl" && contains "$tmp/err" "--overwrite" "existing shards"
run 0 data tokenize -t "$tok" -o "$tmp/sh1" --val-fraction 0.1 --shard-tokens 4000 --threads 1 "$tmp/docs.jsonl" && {
  for f in "$tmp/sh"/*.tok; do same "$f" "$tmp/sh1/$(basename "$f")" "--threads 1 vs 2"; done
}
# rewriting with bigger shards removes the old extra shards
run 0 data tokenize -t "$tok" -o "$tmp/sh1" --val-fraction 0.1 --overwrite "$tmp/docs.jsonl" && {
  absent "$tmp/sh1/train-00001.tok" "--overwrite with fewer shards"
  checks=$((checks + 1))
  grep -q "^train .*, 1 shard$" "$tmp/out" || fail "--overwrite: expected one train shard of the default size"
}
# --val-fraction 0: no validation shard
run 0 data tokenize -t "$tok" -o "$tmp/noval" --val-fraction 0 "$tmp/docs.jsonl" && absent "$tmp/noval/val-00000.tok" "--val-fraction 0"
# a plain text file is one document
printf 'one text file,\nwith two lines\n' >"$tmp/one.txt"
run 0 data tokenize -t "$tok" -o "$tmp/txt" --val-fraction 0 "$tmp/one.txt" && contains "$tmp/out" "total 1 documents" "text file"
# TSV with --tsv-column and JSONL with --text-field
printf 'id\tbody\n1\tfirst row\n2\tsecond row\n' >"$tmp/rows.tsv"
run 0 data tokenize -t "$tok" -o "$tmp/tsv" --val-fraction 0 --tsv-column body "$tmp/rows.tsv" && contains "$tmp/out" "total 2 documents" "tsv"
printf '{"body": "a"}\n{"body": "b"}\n{"body": "c"}\n' >"$tmp/body.jsonl"
run 0 data tokenize -t "$tok" -o "$tmp/field" --val-fraction 0 --text-field body "$tmp/body.jsonl" && contains "$tmp/out" "total 3 documents" "--text-field"
run 1 data tokenize -t "$tok" -o "$tmp/field2" "$tmp/body.jsonl" && contains "$tmp/err" "text" "JSONL without the field"
absent "$tmp/field2/train-00000.tok" "a failed tokenize leaves no shard"

# ---- a corrupted byte: inspect fails naming the checksum
cp "$tmp/sh1/train-00000.tok" "$tmp/bad.tok"
printf '\x07' | dd of="$tmp/bad.tok" bs=1 seek=100 conv=notrunc 2>/dev/null
run 1 data inspect "$tmp/bad.tok" && {
  contains "$tmp/err" "checksum" "corrupt shard"
  contains "$tmp/err" "bad.tok" "corrupt shard names the file"
}
# a truncated shard and a file that is no shard
head -c 1000 "$tmp/sh1/train-00000.tok" >"$tmp/short.tok"
run 1 data inspect "$tmp/short.tok" && contains "$tmp/err" "file size" "truncated shard"
run 1 data inspect "$tmp/docs.jsonl" && contains "$tmp/err" "magic" "not a shard"

finish data_tokenize
