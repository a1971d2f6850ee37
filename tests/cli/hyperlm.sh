#!/usr/bin/env bash
# The command's surface: help texts, exit codes (0 ok, 1 failure, 2 usage error) and messages
# that name what was wrong. Run by ctest with HLM_BIN set to the built hyperlm.
source "$(dirname "$0")/lib.bash"
run_flags=()

# ---- top level
run 0 --help && {
  contains "$tmp/out" "usage: hyperlm" "hyperlm --help"
  contains "$tmp/out" "tokenizer" "hyperlm --help"
  contains "$tmp/out" "--log-level" "hyperlm --help"
}
run 0 -h
run 0 --version && contains "$tmp/out" "hyperlm" "hyperlm --version"
run 2 && contains "$tmp/err" "usage: hyperlm" "hyperlm without a command"
run 2 frobnicate && contains "$tmp/err" "frobnicate" "hyperlm frobnicate"
run 2 --bogus-flag tokenizer && contains "$tmp/err" "--bogus-flag" "hyperlm --bogus-flag"
run 2 --log-level loud tokenizer --help && contains "$tmp/err" "loud" "hyperlm --log-level loud"

# ---- hyperlm tokenizer
run 0 tokenizer --help && contains "$tmp/out" "usage: hyperlm tokenizer" "hyperlm tokenizer --help"
run 2 tokenizer && contains "$tmp/err" "usage: hyperlm tokenizer" "hyperlm tokenizer without a command"
run 2 tokenizer frobnicate && contains "$tmp/err" "frobnicate" "hyperlm tokenizer frobnicate"

# Every subcommand listed under "commands:" in `hyperlm tokenizer --help`, and at least these.
"$bin" tokenizer --help >"$tmp/tok-help" 2>&1
mapfile -t subs < <(awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}' "$tmp/tok-help")
for want in train encode decode stats; do
  printf '%s\n' "${subs[@]}" | grep -qx "$want" || fail "hyperlm tokenizer --help does not list '$want'"
done
for sub in "${subs[@]}"; do
  if run 0 tokenizer "$sub" --help; then
    contains "$tmp/out" "usage: hyperlm tokenizer $sub" "hyperlm tokenizer $sub --help"
    contains "$tmp/out" "default" "hyperlm tokenizer $sub --help"
    [ -s "$tmp/err" ] && fail "hyperlm tokenizer $sub --help wrote to stderr: $(head -1 "$tmp/err")"
  fi
  run 0 tokenizer "$sub" -h
  run 2 tokenizer "$sub" --no-such-flag && contains "$tmp/err" "--no-such-flag" "hyperlm tokenizer $sub --no-such-flag"
done

# ---- values that are not what a flag expects: usage errors that name the flag
run 2 tokenizer train --input "$tmp/none.txt" --vocab-size many --output "$tmp/t.json" &&
  contains "$tmp/err" "--vocab-size" "hyperlm tokenizer train --vocab-size many"
run 2 tokenizer train --input "$tmp/none.txt" --vocab-size 1000 &&
  contains "$tmp/err" "--output" "hyperlm tokenizer train without --output"
# A file that does not exist is a failure (1), not a usage error, and its name is in the message.
run 1 tokenizer train --input "$tmp/none.txt" --vocab-size 1000 --output "$tmp/t.json" &&
  contains "$tmp/err" "none.txt" "hyperlm tokenizer train --input MISSING"
[ -e "$tmp/t.json" ] && fail "a failed training left $tmp/t.json behind"

finish cli
