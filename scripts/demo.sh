#!/usr/bin/env bash
# Usage: scripts/demo.sh [HYPERLM_BINARY]      (make demo)
#
# The pipeline end to end on real Korean text:
#   1. fetches Debian's Korean documentation packages (LibreOffice help, GIMP help, Debian FAQ)
#      with `apt-get download` into $HYPERLM_CACHE/demo (default ~/.cache/hyperlm/demo),
#   2. unpacks them with `dpkg -x` and runs `hyperlm data prepare` on the HTML pages (extraction,
#      normalization, language id, quality filters, PII, dedup) and prints its report; every 10th
#      kept document is held out,
#   3. trains a byte-level BPE tokenizer on it into demo-out/tokenizer.json,
#   4. compares compression on the held-out text with OpenAI's cl100k_base and o200k_base,
#   5. encodes and decodes one Korean sentence,
#   6. trains an 8k tokenizer for the model and writes the corpus as token shards,
#   7. pretrains a small Llama-style model (6 layers, d 256, GQA) on the shards for a few minutes,
#      with validation on the held-out pages, checkpoints and a loss plot,
#   8. prints a few Korean samples from it.
# Every step reuses what an earlier run left (training resumes where it stopped).
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

step "2. data prepare: HTML pages -> clean, deduplicated, PII-scrubbed Korean/English documents"
roots=()
for p in "${packages[@]}"; do
  deb=$(ls -t "$cache/debs/${p}"_*.deb | head -1)
  root=$cache/unpacked/$p
  if [ ! -f "$root/.unpacked" ] || [ "$deb" -nt "$root/.unpacked" ]; then
    rm -rf "$root"
    mkdir -p "$root"
    dpkg -x "$deb" "$root"
    touch "$root/.unpacked"
  fi
  roots+=("$root")
done
data=$out/data
corpus=$out/corpus.jsonl
heldout=$out/heldout.txt
fresh=1
for root in "${roots[@]}"; do [ "$root/.unpacked" -nt "$data/report.txt" ] && fresh=0; done
if [ "$fresh" = 1 ] && [ "$data/report.txt" -nt "$bin" ] && [ -f "$corpus" ] && [ -f "$heldout" ]; then
  echo "   $data is up to date (delete it to prepare again); its report:"
  sed 's/^/   /' "$data/report.txt"
else
"$bin" data prepare --input "${roots[@]}" --output "$data" --lang ko,en | sed 's/^/   /'
# Every 10th kept document is held out: text to measure the tokenizers on that they were not
# trained on, and the model's validation set.
python3 - "$data" "$corpus" "$heldout" <<'PY'
import glob, json, subprocess, sys
data, corpus, heldout = sys.argv[1:]
n = [0, 0]
with open(corpus, "w", encoding="utf-8") as c, open(heldout, "w", encoding="utf-8") as h:
    for f in sorted(glob.glob(data + "/docs/*.jsonl.zst")):
        for i, line in enumerate(subprocess.run(["zstd", "-dc", f], capture_output=True, check=True).stdout.decode().splitlines()):
            if i % 10 == 9:
                h.write(json.loads(line)["text"] + "\n\n"); n[1] += 1
            else:
                c.write(line + "\n"); n[0] += 1
print(f"   {n[0]} documents for training ({corpus}), {n[1]} held out ({heldout})")
PY
fi
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

step "6. token shards for training (an 8k tokenizer: a small model wants a small vocabulary)"
tok8=$out/tokenizer-8k.json
if [ ! -f "$tok8" ] || [ "$tok8" -ot "$corpus" ] || [ "$tok8" -ot "$bin" ]; then
  "$bin" -q tokenizer train --input "$corpus" --vocab-size 8192 --special '<|endoftext|>' --output "$tok8"
  rm -rf "$out/shards" "$out/shards-val"
fi
if [ ! -d "$out/shards" ]; then
  "$bin" -q data tokenize -t "$tok8" -o "$out/shards" --val-fraction 0 "$corpus"
  "$bin" -q data tokenize -t "$tok8" -o "$out/shards-val" --val-fraction 0 "$heldout"
fi
"$bin" data inspect "$out/shards/train-00000.tok" | sed 's/^/   /' | head -12

step "7. pretraining a small Llama-style model on the shards"
steps=${DEMO_STEPS:-400}
cat >"$out/model.json" <<'JSON'
{"model_type": "llama", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 768,
 "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
 "tie_word_embeddings": true}
JSON
"$bin" model info "$out/model.json" --batch 8 --seq 256 | sed -n '1,2p;12,14p' | sed 's/^/   /'
run=$out/run
if [ -f "$run/latest" ] && [ "$run/latest" -nt "$tok8" ]; then
  echo "   resuming $run (delete it to train from scratch)"
  "$bin" train --resume "$run" --steps "$steps"
else
  rm -rf "$run"
  "$bin" train --model "$out/model.json" --data "$out/shards/train-*.tok" --val-data "$out/shards-val/train-*.tok" \
    --tokenizer "$tok8" --out "$run" --steps "$steps" --batch 8 --seq 256 --lr 2e-3 --warmup 40 \
    --eval-every 50 --eval-batches 8 --save-every 100 --keep 2
fi
echo "   loss curve: $run/loss.svg   metrics: $run/metrics.jsonl"
grep '"val_loss"' "$run/metrics.jsonl" | tail -3 | sed 's/^/   /'

step "8. samples (temperature 0.8, top-k 40)"
ckpt=$run/$(cat "$run/latest")
for prompt in "한국어" "LibreOffice 에서" "파일을 열려면"; do
  echo "   prompt: $prompt"
  "$bin" sample -m "$ckpt" -p "$prompt" -n 48 --seed 7 | sed 's/^/     /'
done
printf '\ndemo: done. Tokenizer: %s; model: %s\n' "$tok" "$ckpt"
