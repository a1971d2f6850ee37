#!/usr/bin/env bash
# Usage: bench/data_pipeline.sh HYPERLM_BINARY          (make bench, or BENCH=data_pipeline make bench)
#
# The data pipeline's throughput per core, stage by stage, against the read-and-decompress
# ceiling and against the peers, on the same input in the same run:
#   input 1: NSMC reviews (../shared/data/nsmc) grouped into documents of up to 20 reviews of one
#            movie (one per line), the first NSMC_MB MB (default 20); the peers, much slower
#            (datatrove's Korean filters run at about 0.02 MB/s with Kiwi), get a sample of about
#            PEER_MB MB (default 2: every 10th document), and the keep/drop comparisons are made
#            on that sample (MinHash on the sample with near and exact copies of some of its
#            documents added);
#   input 2: the demo's Korean HTML (Debian's libreoffice-help-ko, gimp-help-ko, debian-faq-ko,
#            in $HYPERLM_CACHE/demo/unpacked after `make demo`).
# Peers: datatrove 0.10.1's Gopher repetition + quality and C4 filters with the same thresholds
# (tools/filters_vs_datatrove.py) and its MinHash dedup (bench/_dedup_peer.py), against ours
# with our default Korean shingles and with datatrove's (the same configuration); trafilatura
# on the HTML (bench/_extract_compare.py).
# Everything runs on one thread and is timed in CPU seconds, so the figures are per core and
# other load on the machine does not count. HyperLM's per-stage figures come from its
# report.json. Writes bench/out/data_pipeline.md and .png.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${HLM_BIN:-$repo/build/hyperlm}}
py=${HLM_PYTHON:-python3}
out=${HLM_BENCH_OUT:-$repo/bench/out}
shared=${HLM_SHARED:-$repo/../shared}
cache=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}/demo/unpacked
mb=${NSMC_MB:-20}
peer_mb=${PEER_MB:-2}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nsmc=$shared/data/nsmc/reviews.tsv.zst
if [ ! -f "$nsmc" ]; then
  echo "data_pipeline: SKIPPED: $nsmc not found (the benchmark needs the NSMC reviews)"
  exit 0
fi

# cpu CMD...: runs CMD, prints its CPU seconds (user + system, children included)
cpu() { "$py" -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
if r.returncode: sys.exit(r.returncode)
print(f"{u.ru_utime + u.ru_stime:.4f}")' "$@"; }

echo "== inputs"
"$py" - "$nsmc" "$work/nsmc.jsonl" "$mb" "$work/peer.jsonl" "$peer_mb" <<'PY'
import json, subprocess, sys
src, dst, mb, peer, peer_mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
raw = subprocess.run(["zstd", "-dc", src], capture_output=True, check=True).stdout.decode()
with open(dst, "w", encoding="utf-8") as f:
    cur, buf, n, size = None, [], 0, 0
    def flush():
        global n, size
        if buf:
            line = json.dumps({"id": f"m{cur}-{n}", "text": "\n".join(buf), "lang": "ko"}, ensure_ascii=False) + "\n"
            f.write(line); n += 1; size += len(line.encode())
    for row in raw.split("\n")[1:]:
        c = row.split("\t")
        if len(c) < 4: continue
        if c[1] != cur or len(buf) >= 20:
            flush(); buf, cur = [], c[1]
            if size >= mb * 1e6: break
        buf.append(c[3])
    flush()
print(f"   NSMC: {n} documents, {size / 1e6:.1f} MB of JSONL")
# the peers' share: every step-th document, a sample across all the movies (the first movies in
# the file are old favourites whose short reviews repeat more than most)
step = max(1, round(mb / peer_mb))
with open(dst, encoding="utf-8") as f, open(peer, "w", encoding="utf-8") as p:
    k = size = 0
    for i, line in enumerate(f):
        if i % step == step - 1:
            p.write(line); k += 1; size += len(line.encode())
print(f"   for the peers and the comparisons: every {step}th document, {k} documents, {size / 1e6:.1f} MB")
# for the MinHash comparison: that sample plus near copies of every 4th document with 1% of its
# words replaced (at least one; the near copies dedup is for), of every 8th with 5% replaced
# (word 5-gram Jaccard about 0.6, where 14 x 8 LSH finds a pair with probability 0.3-0.5 by
# design: two hash families then disagree on about half of them), and an exact copy of every
# 10th.
import random
rng = random.Random(1)
rows = [json.loads(line) for line in open(peer, encoding="utf-8")]
out = []
for i, r in enumerate(rows):
    out.append(r)
    for rate, tag, every in ((100, "-near1", 4), (20, "-near5", 8)):
        if i % every == every - 1:
            w = r["text"].split(" ")
            for j in rng.sample(range(len(w)), max(1, len(w) // rate)):
                w[j] = "변경"
            out.append({"id": r["id"] + tag, "text": " ".join(w), "lang": "ko"})
    if i % 10 == 9:
        out.append({"id": r["id"] + "-copy", "text": r["text"], "lang": "ko"})
with open(peer.replace(".jsonl", ".dups.jsonl"), "w", encoding="utf-8") as o:
    for r in out:
        o.write(json.dumps(r, ensure_ascii=False) + "\n")
n = {t: sum(1 for r in out if r["id"].endswith(t)) for t in ("-near1", "-near5", "-copy")}
print(f"   for the MinHash comparison: the sample with {n['-near1']} + {n['-near5']} near copies (1%, 5% of words) "
      f"and {n['-copy']} exact copies added")
PY
zstd -q -19 -T2 "$work/nsmc.jsonl" -o "$work/nsmc.jsonl.zst"
input_mb=$("$py" -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$work/nsmc.jsonl")
peer_mb=$("$py" -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$work/peer.jsonl")
# the ceiling: zstd decompressing the input five times over (zstd frames concatenate), so that
# starting the process does not count
for k in 1 2 3 4 5; do cat "$work/nsmc.jsonl.zst"; done >"$work/x5.zst"
ceiling_s=$("$py" -c "import sys; print(float(sys.argv[1]) / 5)" "$(cpu zstd -dc "$work/x5.zst")")

echo "== HyperLM, 1 thread"
# the whole chain with Korean defaults (langid on: lang is taken from the input only to pick the
# filter thresholds in the stage runs below)
"$bin" -q data prepare --input "$work/nsmc.jsonl.zst" --output "$work/prep" --threads 1
# timed K: clean + filter + PII alone, then the filters alone (datatrove does not normalize), run
# K of three. The three runs are minutes apart (here, after datatrove and after the HTML), and
# the best counts: this machine's speed drifts by up to 3x over minutes, and the best of runs
# minutes apart is the one least slowed by neighbours.
timed() {
  "$bin" -q data clean --input "$work/nsmc.jsonl.zst" --output "$work/clean$1.jsonl" --threads 1
  "$bin" -q data clean --input "$work/nsmc.jsonl" --output "$work/nsmc.filtered.jsonl" --threads 1 \
    --no-normalize --no-langid --no-pii
  cp "$work/nsmc.filtered.jsonl.report.json" "$work/filt$1.json"
}
timed 1
# the filters' decisions on the peers' prefix
"$bin" -q data clean --input "$work/peer.jsonl" --output "$work/peer.filtered.jsonl" --threads 1 \
  --no-normalize --no-langid --no-pii
# MinHash alone (no exact or line dedup): speed on all of it, decisions on the sample with copies,
# with our Korean shingles (characters) and with datatrove's (words: see docs/data-pipeline.md)
for f in nsmc peer.dups; do
  "$bin" -q data dedup --input "$work/$f.jsonl" --output "$work/$f.dedup.jsonl" --threads 1 --no-exact --no-lines
done
echo '{"dedup": {"korean_shingles": "words"}}' >"$work/words.json"
"$bin" -q data dedup --input "$work/peer.dups.jsonl" --output "$work/peer.dups.words.jsonl" --threads 1 \
  --no-exact --no-lines --config "$work/words.json"
# tokenize (a 16k tokenizer trained on the same text first)
"$bin" -q tokenizer train --input "$work/nsmc.jsonl" --vocab-size 16000 --special '<|endoftext|>' \
  --output "$work/tok.json" --threads 1
tok_s=$(cpu "$bin" -q data tokenize -t "$work/tok.json" -o "$work/shards" --threads 1 "$work/nsmc.filtered.jsonl")

echo "== datatrove 0.10.1, 1 process"
"$py" "$repo/tools/filters_vs_datatrove.py" --input "$work/peer.jsonl" --lang ko --out "$work/dt_filters.jsonl" \
  >"$work/dt_filters.log" 2>&1 || { cat "$work/dt_filters.log"; exit 1; }
tail -2 "$work/dt_filters.log" | sed 's/^/   /'
mkdir -p "$work/dt"
"$py" "$repo/bench/_dedup_peer.py" --input "$work/peer.dups.jsonl" --work "$work/dt" --lang ko \
  --out "$work/dt_removed.txt" >"$work/dt_dedup.log" 2>&1 || { tail -20 "$work/dt_dedup.log"; exit 1; }
tail -1 "$work/dt_dedup.log" | sed 's/^/   /'
timed 2

html_rows=""
if [ -d "$cache" ]; then
  echo "== HTML: HyperLM extract against trafilatura"
  "$bin" -q data extract --input "$cache" --output "$work/html.jsonl" --threads 1
  "$bin" -q data prepare --input "$cache" --output "$work/html_prep" --threads 1 --lang ko,en
  for k in 1 2 3; do
    "$bin" -q data clean --input "$work/html.jsonl" --output "$work/html_clean$k.jsonl" --threads 1 --lang ko,en
  done
  "$py" - "$work/html.jsonl" "$work/ours_html" <<'PY'
import json, os, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if not r["id"].endswith((".html", ".htm")): continue
    p = os.path.join(sys.argv[2], r["id"] + ".txt")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "w", encoding="utf-8").write(r["text"])
PY
  "$py" "$repo/bench/_extract_compare.py" --html-dir "$cache" --ours-dir "$work/ours_html" \
    --json "$work/extract.json" | tail -4 | sed 's/^/   /'
  echo "== demo pages: filter decisions against datatrove"
  # the pages after normalization and language id, a file per language; our decisions from the
  # filters alone on them (the language taken from the input), datatrove's with the same
  # thresholds (its Korean words from Kiwi, so the Korean pages take it a few minutes)
  "$bin" -q data clean --input "$work/html.jsonl" --output "$work/html_pre.jsonl" --threads 1 --lang ko,en \
    --no-filters --no-pii
  "$py" - "$work/html_pre.jsonl" "$work" <<'PY'
import json, sys
out = {l: open(f"{sys.argv[2]}/html_{l}.jsonl", "w", encoding="utf-8") for l in ("ko", "en")}
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("lang") in out:
        out[r["lang"]].write(line)
PY
  for l in ko en; do
    "$bin" -q data clean --input "$work/html_$l.jsonl" --output "$work/html_$l.filtered.jsonl" --threads 1 \
      --no-normalize --no-langid --no-pii
    "$py" "$repo/tools/filters_vs_datatrove.py" --input "$work/html_$l.jsonl" --lang $l --out "$work/dt_html_$l.jsonl" \
      >"$work/dt_html_$l.log" 2>&1 || { cat "$work/dt_html_$l.log"; exit 1; }
    tail -1 "$work/dt_html_$l.log" | sed 's/^/   /'
  done
fi

timed 3
echo "== results"
"$py" - "$work" "$input_mb" "$ceiling_s" "$tok_s" "$out" "$repo/bench" "$peer_mb" <<'PY'
import json, os, subprocess, sys
work, input_mb, ceiling_s, tok_s, out, bench = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
peer_mb = float(sys.argv[7])
sys.path.insert(0, bench)
import _report

def stages(path):
    r = json.load(open(path))
    return {s["name"]: s for s in r["stages"]}, r

ceiling = input_mb / ceiling_s
prep, prep_rep = stages(f"{work}/prep/report.json")
def rate(st, names):
    mbytes = sum(st[n]["bytes_in"] for n in names if n in st) / 1e6
    cpu = sum(st[n]["cpu_seconds"] for n in names if n in st)
    return input_mb / cpu if cpu else 0.0  # per input MB: every stage is charged to the whole input
clean_names = ["normalize", "langid", "filters", "pii"]
def best_clean(files, mb=None):
    """MB/s of the clean stages (their CPU seconds in report.json), the best of the runs; per MB
    of the text they read unless mb is given"""
    best = 0.0
    for f in files:
        st, _ = stages(f)
        cpu = sum(st[n]["cpu_seconds"] for n in clean_names if n in st)
        best = max(best, (mb if mb else st["normalize"]["bytes_in"] / 1e6) / cpu)
    return best
ours_clean = best_clean([f"{work}/clean{k}.jsonl.report.json" for k in (1, 2, 3)], input_mb)

# filters: ours alone against datatrove
ours_filters = max(input_mb / stages(f"{work}/filt{k}.json")[0]["filters"]["cpu_seconds"] for k in (1, 2, 3))
dt_log = open(f"{work}/dt_filters.log").read()
dt_filters = float(dt_log.split(" MB/s")[-2].split()[-1])
ids = [json.loads(l)["id"] for l in open(f"{work}/peer.jsonl", encoding="utf-8")]
dt_keep = [json.loads(l)["keep"] for l in open(f"{work}/dt_filters.jsonl")]
dt_kept = {i for i, k in zip(ids, dt_keep) if k}
our_kept = {json.loads(l)["id"] for l in open(f"{work}/peer.filtered.jsonl", encoding="utf-8")}
filt_diff = len(dt_kept ^ our_kept) / len(ids)

# MinHash: ours alone against datatrove
dd, _ = stages(f"{work}/nsmc.dedup.jsonl.report.json")
ours_mh = input_mb / (dd["signatures"]["cpu_seconds"] + dd["dedup"]["cpu_seconds"] + dd["read"]["cpu_seconds"])
dt = json.loads(open(f"{work}/dt_dedup.log").read().strip().splitlines()[-1])
dup_rows = [json.loads(l) for l in open(f"{work}/peer.dups.jsonl", encoding="utf-8")]
dup_ids = [r["id"] for r in dup_rows]
# documents of fewer than 5 tokens as datatrove tokenizes them: it gives a text shorter than one
# shingle no signature, so it never removes them, where we make such a text one shingle
import logging
logging.disable(logging.WARNING)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.text import simplify_text
from datatrove.utils.word_tokenizers import load_word_tokenizer
dt_tok, dt_norm = load_word_tokenizer("kor_Hang"), MinhashConfig().norm_config
short = {r["id"] for r in dup_rows if len(dt_tok.word_tokenize(simplify_text(r["text"], dt_norm))) < 5}
def mh_compare(ours_file, dt_file):
    # the removed sets, compared on every document, on all but the 5% copies (near the LSH
    # threshold by design), on those alone, and on all but the 5% copies and the short documents
    kept = {json.loads(l)["id"] for l in open(ours_file, encoding="utf-8")}
    ours = set(dup_ids) - kept
    theirs = set(open(dt_file).read().split())
    res = {"ours": len(ours), "dt": len(theirs)}
    for name, sel in (("all", lambda i: True), ("clear", lambda i: not i.endswith("-near5")),
                      ("near5", lambda i: i.endswith("-near5")),
                      ("signed", lambda i: not i.endswith("-near5") and i not in short)):
        ids_ = [i for i in dup_ids if sel(i)]
        d = sum(1 for i in ids_ if (i in ours) != (i in theirs))
        res[name] = (d, len(ids_), 100 * d / len(ids_))
    # clusters where datatrove keeps a copy and removes the original that we keep (its union by
    # size keeps either document of a pair; we keep the first): two documents each
    res["swapped"] = sum(1 for i in dup_ids if "-" not in i[i.index("-") + 1:] and i in theirs and i not in ours)
    return res
mh_default = mh_compare(f"{work}/peer.dups.dedup.jsonl", f"{work}/dt_removed.txt")
mh_same = mh_compare(f"{work}/peer.dups.words.jsonl", f"{work}/dt_removed.txt")
def mh_note(m):
    return (f"removed: ours {m['ours']}, datatrove {m['dt']}; kept sets differ on {m['clear'][0]} of "
            f"{m['clear'][1]} ({m['clear'][2]:.2f}%) without the 5% copies, on {m['signed'][0]} of "
            f"{m['signed'][1]} ({m['signed'][2]:.2f}%) without them and the documents of fewer than 5 "
            f"tokens (which datatrove cannot sign), on {m['near5'][0]} of the {m['near5'][1]} 5% copies; "
            f"{m['swapped']} clusters where datatrove keeps a copy instead of the original account for "
            f"{2 * m['swapped']} of the differences")

tok_mb = os.path.getsize(f"{work}/nsmc.filtered.jsonl") / 1e6
rows = [
    ["read + decompress (zstd, the ceiling)", f"{ceiling:.0f}", "", "", ""],
    ["clean: normalize + langid + filters + PII (best of 3)", f"{ours_clean:.1f}", "", "", f"{ours_clean / ceiling:.3f} of ceiling"],
    ["filters (Gopher quality + repetition, C4; best of 3)", f"{ours_filters:.1f}", f"{dt_filters:.2f}", f"{ours_filters / dt_filters:.0f}x",
     f"keep/drop differ on {100 * filt_diff:.2f}% ({len(dt_kept ^ our_kept)} of {len(ids)})"],
    ["MinHash dedup (signatures + LSH + filter)", f"{ours_mh:.1f}", f"{dt['mb_per_s_per_core']:.2f}",
     f"{ours_mh / dt['mb_per_s_per_core']:.0f}x",
     f"{len(dup_ids)} docs with planted copies; each side's Korean shingles (ours: characters; datatrove: "
     f"words, Kiwi finding no morphemes in the jamo its simplify_text leaves): {mh_note(mh_default)}"],
    ["  the same shingles (ours with korean_shingles words)", "", "", "", mh_note(mh_same)],
    ["tokenize (16k BPE)", f"{tok_mb / tok_s:.1f}", "", "", ""],
]
for name in ["normalize", "langid", "filters", "pii", "signatures", "dedup"]:
    if name in prep:
        s = prep[name]
        rows.append([f"  prepare stage: {name}", f"{s['bytes_in'] / 1e6 / s['cpu_seconds']:.1f}" if s["cpu_seconds"] else "-", "", "", f"{s['docs_in']} docs in, {s['docs_out']} out"])
if os.path.exists(f"{work}/extract.json"):
    ex = json.load(open(f"{work}/extract.json"))
    hr, _ = stages(f"{work}/html.jsonl.report.json")
    ours_x = hr["extract_html"]["bytes_in"] / 1e6 / hr["extract_html"]["cpu_seconds"]
    tr = ex.get("trafilatura_mb_per_s") or 0
    rows.append(["HTML extraction (demo pages)", f"{ours_x:.1f}", f"{tr:.2f}", f"{ours_x / tr:.0f}x" if tr else "",
                 f"we keep {100 * ex.get('word_coverage', 0):.1f}% of trafilatura's words"])
    hp, hrep = stages(f"{work}/html_prep/report.json")
    text_mb = hp["normalize"]["bytes_in"] / 1e6
    html_mb = hr["extract_html"]["bytes_in"] / 1e6
    dedup_cpu = sum(hp[n]["cpu_seconds"] for n in ("signatures", "dedup") if n in hp)
    clean_files = [f"{work}/html_clean{k}.jsonl.report.json" for k in (1, 2, 3)]
    html_clean = best_clean(clean_files)
    html_clean_in = best_clean(clean_files, html_mb)
    rows.append(["  demo pages: clean (best of 3, per MB of extracted text)", f"{html_clean:.1f}", "", "",
                 f"{hrep['documents']['in']} pages, {hrep['documents']['kept']} kept; per MB of their HTML "
                 f"({html_mb:.0f} MB): {html_clean_in:.0f} MB/s"])
    rows.append(["  demo pages: dedup (signatures + pass 2)", f"{text_mb / dedup_cpu:.1f}", "", "", ""])
    notes_ = []
    for l, name in (("ko", "Korean"), ("en", "English")):
        pages = [json.loads(x)["id"] for x in open(f"{work}/html_{l}.jsonl", encoding="utf-8")]
        keep = [json.loads(x)["keep"] for x in open(f"{work}/dt_html_{l}.jsonl")]
        theirs = {i for i, k in zip(pages, keep) if k}
        ours = {json.loads(x)["id"] for x in open(f"{work}/html_{l}.filtered.jsonl", encoding="utf-8")}
        d = len(theirs ^ ours)
        notes_.append(f"{name} pages {100 * d / len(pages):.2f}% ({d} of {len(pages)})")
    rows.append(["  demo pages: filters against datatrove", "", "", "", "keep/drop differ on " + ", ".join(notes_)])
header = ["stage (1 core, CPU time)", "HyperLM MB/s", "peer MB/s", "ratio", "notes"]
print(_report.markdown_table(header, rows))
notes = [f"Input: {input_mb:.1f} MB of NSMC reviews as JSONL documents of 20 reviews of one movie; the peers and "
         f"the keep/drop comparisons use a sample of {peer_mb:.1f} MB ({len(ids)} documents, every 10th).",
         "Peers: datatrove 0.10.1 (Korean words from kiwipiepy, as FineWeb-2), trafilatura 2.3.1."]
_report.write_markdown(os.path.join(out, "data_pipeline.md"), "Data pipeline throughput per core", header, rows, notes)
try:
    _report.write_bar_chart(os.path.join(out, "data_pipeline.png"), "MB/s per core, HyperLM vs datatrove",
                            ["filters: HyperLM", "filters: datatrove", "MinHash: HyperLM", "MinHash: datatrove"],
                            [ours_filters, dt_filters, ours_mh, dt["mb_per_s_per_core"]], "MB/s per core")
except Exception as e:  # plotting is a convenience
    print(f"no plot: {e}")
PY
