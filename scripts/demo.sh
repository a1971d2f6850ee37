#!/usr/bin/env bash
# Usage: scripts/demo.sh [HYPERLM_BINARY]      (make demo)
#
# The tokenizer stage end to end on real Korean text:
#   1. fetches Debian's Korean documentation packages (LibreOffice help, GIMP help, Debian FAQ)
#      with `apt-get download` into $HYPERLM_CACHE/demo (default ~/.cache/hyperlm/demo),
#   2. unpacks them with `dpkg -x` and extracts their text into one corpus (tools/demo_corpus.py),
#      every 10th document held out, and prints its size and Hangul share,
#   3. trains a byte-level BPE tokenizer on it into demo-out/tokenizer.json,
#   4. compares compression on the held-out text with OpenAI's cl100k_base and o200k_base,
#   5. encodes and decodes one Korean sentence.
# Every step reuses what an earlier run left, so a second run only repeats steps 4 and 5.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/build/hyperlm}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ]; then
  echo "demo: no hyperlm binary at $bin (build it first: make)" >&2
  exit 1
fi
cache=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}/demo
out=$repo/demo-out
packages=(libreoffice-help-ko gimp-help-ko debian-faq-ko)
vocab=${DEMO_VOCAB:-32000}
sentence=${DEMO_SENTENCE:-"토크나이저는 한국어 문장을 바이트 단위 BPE 토큰으로 나눕니다."}
mkdir -p "$cache/debs" "$cache/unpacked" "$out"
step() { printf '\n== %s\n' "$*"; }

sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo=sudo
apt_download() { # quiet apart from errors; root's download is not sandboxed, which apt warns about
  (cd "$cache/debs" && apt-get download "$@" 2>&1 | grep -v 'unsandboxed as root' || true)
  for p in "$@"; do compgen -G "$cache/debs/${p}_*.deb" >/dev/null || return 1; done
}

step "1. Korean documentation packages (cache: $cache)"
need=()
for p in "${packages[@]}"; do
  compgen -G "$cache/debs/${p}_*.deb" >/dev/null || need+=("$p")
done
if ((${#need[@]})); then
  echo "   downloading ${need[*]} with apt-get download"
  if ! apt_download "${need[@]}"; then
    echo "   not found in the package lists; running apt-get update and retrying"
    $sudo apt-get update -qq
    apt_download "${need[@]}" || { echo "demo: apt-get download ${need[*]} failed" >&2; exit 1; }
  fi
fi
for p in "${packages[@]}"; do
  deb=$(ls -t "$cache/debs/${p}"_*.deb | head -1)
  how=cached
  [[ " ${need[*]} " == *" $p "* ]] && how=downloaded
  printf '   %-22s %-10s %s, %s\n' "$p" "$how" "$(basename "$deb")" "$(du -h "$deb" | cut -f1)"
done

step "2. corpus: visible text of the HTML help pages"
roots=()
stale=0
for p in "${packages[@]}"; do
  deb=$(ls -t "$cache/debs/${p}"_*.deb | head -1)
  root=$cache/unpacked/$p
  if [ ! -f "$root/.unpacked" ] || [ "$deb" -nt "$root/.unpacked" ]; then
    rm -rf "$root"
    mkdir -p "$root"
    dpkg -x "$deb" "$root"
    touch "$root/.unpacked"
    stale=1
  fi
  roots+=("$root")
done
corpus=$cache/corpus.txt
heldout=$cache/heldout.txt
if [ "$stale" = 1 ] || [ ! -f "$cache/corpus.stats" ] || [ "$repo/tools/demo_corpus.py" -nt "$cache/corpus.stats" ]; then
  python3 "$repo/tools/demo_corpus.py" --heldout "$heldout" "$corpus" "${roots[@]}" >"$cache/corpus.stats.tmp"
  mv "$cache/corpus.stats.tmp" "$cache/corpus.stats"
else
  echo "   (reused from an earlier run)"
fi
sed 's/^/   /' "$cache/corpus.stats"
corpus_bytes=$(stat -c %s "$corpus")

# Vocabulary: 32000, or fewer for a small corpus (one merge per ~150 bytes of text at least).
if [ -z "${DEMO_VOCAB:-}" ] && [ $((corpus_bytes / 150)) -lt "$vocab" ]; then
  vocab=$((corpus_bytes / 150 > 1000 ? corpus_bytes / 150 : 1000))
fi

step "3. training a byte-level BPE tokenizer, vocabulary $vocab"
tok=$out/tokenizer.json
if [ -f "$tok" ] && [ "$tok" -nt "$corpus" ] && [ "$tok" -nt "$bin" ] && [ -f "$out/tokenizer.vocab" ] &&
  [ "$(cat "$out/tokenizer.vocab")" = "$vocab" ]; then
  echo "   $tok is up to date (delete it to train again)"
else
  start_ms=$(($(date +%s%N) / 1000000))
  "$bin" tokenizer train --input "$corpus" --vocab-size "$vocab" --special '<|endoftext|>' --output "$tok"
  echo "$vocab" >"$out/tokenizer.vocab"
  ms=$(($(date +%s%N) / 1000000 - start_ms))
  printf '   trained in %d.%01d s -> %s (%s)\n' $((ms / 1000)) $((ms % 1000 / 100)) "$tok" "$(du -h "$tok" | cut -f1)"
fi

step "4. compression on the held-out text ($(stat -c %s "$heldout") bytes, not seen in training)"
shared=$(git -C "$repo" rev-parse --show-toplevel 2>/dev/null || echo "$repo")/../shared/tokenizers
toks=(-t "$tok" --name "hyperlm-demo-${vocab}")
for r in cl100k_base o200k_base; do
  if [ -f "$shared/$r.tiktoken" ]; then
    toks+=(-t "$shared/$r.tiktoken" --name "$r")
  else
    echo "   note: $shared/$r.tiktoken not found; $r left out"
  fi
done
"$bin" tokenizer stats "${toks[@]}" "$heldout" | sed 's/^/   /'
echo "   (tok/syl: tokens per Hangul syllable; lower means Korean text costs fewer tokens)"

step "5. round trip of one Korean sentence"
echo "   text:    $sentence"
ids=$(printf '%s' "$sentence" | "$bin" tokenizer encode -t "$tok")
echo "   ids:     $ids"
pieces=""
for id in $ids; do pieces+="$(echo "$id" | "$bin" tokenizer decode -t "$tok")|"; done
echo "   tokens:  |$pieces"
echo "            $(echo "$ids" | wc -w) tokens for $(printf '%s' "$sentence" | wc -m) characters"
if [ -f "$shared/o200k_base.tiktoken" ]; then
  echo "            o200k_base: $(printf '%s' "$sentence" | "$bin" tokenizer encode -t "$shared/o200k_base.tiktoken" | wc -w) tokens"
fi
back=$(echo "$ids" | "$bin" tokenizer decode -t "$tok")
echo "   decoded: $back"
if [ "$back" = "$sentence" ]; then
  echo "   round trip: identical"
else
  echo "demo: decode(encode(text)) differs from the text" >&2
  exit 1
fi
printf '\ndemo: done. Tokenizer: %s\n' "$tok"
