#!/usr/bin/env bash
# Usage: bench/korean_efficiency.sh HYPERLM_BINARY     (run by bench/run.sh)
#
# How many tokens Korean text costs: a HyperLM tokenizer with a 32000 vocabulary trained on NSMC
# movie reviews against OpenAI's cl100k_base and o200k_base, on reviews of movies it never saw.
#   split:  movie_id % 10 != 0 -> training, the other movies -> held out (no movie in both, so
#           no near-duplicate review of the same film helps our side)
#   count:  `hyperlm tokenizer stats` on the held-out reviews (one per line), for each tokenizer;
#           the peers' counts are checked against tiktoken itself on the same text
#   report: tokens per Hangul syllable (each run of syllables encoded on its own: what Korean
#           words cost) and tokens per character of the whole text (spaces, digits, punctuation
#           and newlines included), each with the ratio to ours; bench/out/korean_efficiency.md
#           and .png
# The split and the trained tokenizer are kept in bench/out/korean/ and reused while newer than
# their inputs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
out=${HLM_BENCH_OUT:-$repo/bench/out}
top=$(git -C "$repo" rev-parse --show-toplevel 2>/dev/null || echo "$repo")
shared=${HLM_SHARED:-$(cd "$top/.." && pwd)/shared}
py=${HLM_PYTHON:-python3}
src=$shared/data/nsmc/reviews.tsv.zst
ranks=$shared/tokenizers
vocab=${KOREAN_VOCAB:-32000}
work=$out/korean
mkdir -p "$work"

if [ ! -f "$src" ]; then
  echo "korean_efficiency: skipped: the NSMC reviews are not at $src"
  exit 0
fi

# ---- 1. split by movie
train=$work/train.tsv
heldout=$work/heldout.tsv
if [ ! -f "$heldout" ] || [ "$src" -nt "$heldout" ]; then
  echo "korean_efficiency: splitting $src by movie_id % 10"
  zstd -dcq "$src" | awk -F'\t' -v train="$train.tmp" -v held="$heldout.tmp" '
    NR == 1 {
      if ($2 != "movie_id" || $NF != "review") { print "unexpected header: " $0 > "/dev/stderr"; exit 1 }
      print > train; print > held; next
    }
    ($2 % 10) != 0 { print > train; next }
    { print > held }'
  mv "$train.tmp" "$train"
  mv "$heldout.tmp" "$heldout"
fi
read -r n_train m_train < <(awk -F'\t' 'NR > 1 {n++; m[$2]} END {print n, length(m)}' "$train")
read -r n_held m_held < <(awk -F'\t' 'NR > 1 {n++; m[$2]} END {print n, length(m)}' "$heldout")
echo "korean_efficiency: training $n_train reviews of $m_train movies, held out $n_held reviews of $m_held movies"

# ---- 2. train ours
tok=$work/nsmc-$vocab.json
if [ ! -f "$tok" ] || [ "$train" -nt "$tok" ] || [ "$bin" -nt "$tok" ]; then
  echo "korean_efficiency: training a $vocab-token tokenizer on the training reviews"
  start_ms=$(($(date +%s%N) / 1000000))
  "$bin" tokenizer train --input "$train" --tsv-column review --vocab-size "$vocab" \
    --special '<|endoftext|>' --output "$tok"
  ms=$(($(date +%s%N) / 1000000 - start_ms))
  echo "korean_efficiency: trained in $((ms / 1000)).$((ms % 1000 / 100)) s"
fi

# ---- 3. count tokens of the held-out reviews with each tokenizer
# The reviews one per line: the text that `stats` encodes, and that tiktoken encodes below.
text=$work/heldout.txt
if [ ! -f "$text" ] || [ "$heldout" -nt "$text" ]; then
  awk -F'\t' 'NR > 1 && length($NF) {print $NF}' "$heldout" >"$text.tmp"
  mv "$text.tmp" "$text"
fi
args=(-t "$tok" --name "hyperlm-$((vocab / 1000))k-nsmc")
for r in cl100k_base o200k_base; do
  if [ -f "$ranks/$r.tiktoken" ]; then
    args+=(-t "$ranks/$r.tiktoken" --name "$r")
  else
    echo "korean_efficiency: note: $ranks/$r.tiktoken not found, $r left out"
  fi
done
"$bin" tokenizer stats "${args[@]}" "$text" | tee "$work/stats.txt"

# ---- 4. the peers' own counts, the table and the plot
"$py" - "$text" "$work/stats.txt" "$ranks" "$work/korean_efficiency.csv" <<'EOF'
import csv, os, re, sys

text_path, stats_path, ranks_dir, csv_out = sys.argv[1:5]
with open(text_path, "rb") as f:
    text = f.read().decode("utf-8", errors="surrogateescape")
runs = re.findall("[\uac00-\ud7a3]+", text)   # maximal runs of Hangul syllables, as stats counts them
syllables = sum(len(r) for r in runs)


def tiktoken_counts(name):
    """(tokens of the whole text, tokens of the Hangul runs) by tiktoken itself, or None."""
    path = os.path.join(ranks_dir, name + ".tiktoken")
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        from tiktoken_ext import openai_public
    except ImportError:
        return None
    ctor = getattr(openai_public, name, None)
    if ctor is None or not os.path.exists(path):
        return None
    # tiktoken's constructor downloads the rank file; give it the local one instead.
    ranks = load_tiktoken_bpe(path)
    openai_public.load_tiktoken_bpe = lambda *args, **kwargs: ranks
    spec = ctor()
    enc = tiktoken.Encoding(name, pat_str=spec["pat_str"], mergeable_ranks=ranks,
                            special_tokens=spec["special_tokens"])
    whole = len(enc.encode_ordinary(text))
    syl = sum(len(t) for t in enc.encode_ordinary_batch(runs, num_threads=2))
    return whole, syl


rows = []
with open(stats_path, encoding="utf-8") as f:
    f.readline()
    for line in f:
        p = line.split()  # name vocab bytes chars tokens bytes/tok tok/char tok/syl hangul-vocab
        rows.append({"name": p[0], "vocab": int(p[1]), "chars": int(p[3]), "tokens": int(p[4]),
                     "tok_char": int(p[4]) / int(p[3]), "tok_syl": float(p[7])})
ours = rows[0]
print(f"\nheld-out reviews: {text.count(chr(10)):,}, {ours['chars']:,} characters, "
      f"{syllables:,} Hangul syllables")
print(f"{'tokenizer':<20} {'vocab':>7} {'tok/syllable':>12} {'vs ours':>8} {'tok/char':>9} {'vs ours':>8}   "
      "tiktoken, same text")
table = [["tokenizer", "vocab", "tokens per Hangul syllable", "vs ours", "tokens per character",
          "vs ours (all text)", "tiktoken's count"]]
bad = 0
for r in rows:
    peer = tiktoken_counts(r["name"]) if r is not ours else None
    if peer is None:
        check = "-" if r is ours else "not checked (no tiktoken)"
    else:
        same = peer[0] == r["tokens"] and round(peer[1] / syllables, 3) == r["tok_syl"]
        bad += not same
        check = (f"same ({peer[0]:,} tokens)" if same
                 else f"DIFFERS: {peer[0]:,} tokens, {peer[1] / syllables:.3f} tok/syl")
    print(f"{r['name']:<20} {r['vocab']:>7} {r['tok_syl']:>12.3f} {r['tok_syl'] / ours['tok_syl']:>7.2f}x "
          f"{r['tok_char']:>9.3f} {r['tok_char'] / ours['tok_char']:>7.2f}x   {check}")
    table.append([r["name"], r["vocab"], f"{r['tok_syl']:.3f}", f"{r['tok_syl'] / ours['tok_syl']:.2f}",
                  f"{r['tok_char']:.3f}", f"{r['tok_char'] / ours['tok_char']:.2f}", check])
with open(csv_out, "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows(table)
if bad:
    print("korean_efficiency: our count for a rank file differs from tiktoken's", file=sys.stderr)
    sys.exit(1)
EOF
"$py" "$repo/bench/_report.py" "Tokens per Hangul syllable, held-out NSMC reviews (lower is better)" \
  "$out/korean_efficiency" "$work/korean_efficiency.csv" --plot "tokens per Hangul syllable"
