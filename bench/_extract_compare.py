#!/usr/bin/env python3
"""Compares our HTML extraction with trafilatura's on a folder of pages.

Not a benchmark itself (bench/run.sh skips files that start with '_'); the extraction benchmark
calls it after writing our output:

  _extract_compare.py --html-dir DIR --ours-dir DIR [--limit N] [--json OUT.json]

--html-dir holds the pages (*.html, *.htm, any depth); --ours-dir holds, for each page at
relative path P, our text as P + ".txt". Pages without our file count as empty output.

trafilatura.extract (default settings: plain text, tables kept, no metadata) runs on each page in
this one process; its speed is HTML bytes in per second of extract() CPU time (thread time, so
that other load on the machine does not count; wall time is reported too), to be set beside ours
measured the same way on 1 core.

Agreement is measured on word 5-gram shingles: both texts are NFC-normalized, lowercased and
split into runs of word characters (\\w+, so Hangul syllables and digits count, punctuation and
layout do not: trafilatura's line breaks and list markers differ from ours). Per page the
shingles form a set; the figures are summed over pages (pages with more text weigh more):
  coverage = |T ∩ O| / |T|   the share of trafilatura's text that we also keep
  extra    = |O \\ T| / |O|   the share of our text that trafilatura drops (boilerplate we keep,
                             or content it misses)
A page with fewer than 5 words contributes its words as one shingle. Pages where trafilatura
returns nothing are counted apart (their text is all "extra" for us).

Shingles undercount when we keep more: where trafilatura drops a word or a short line between
two it keeps (it drops some inline elements, e.g. DocBook's <span class="guimenuitem">), its
shingles spanning the gap are not in our text. So the headline figures are on words, counted
with multiplicity per page:
  word_coverage = sum over pages of |T ∩ O| / |T|   (T, O: multisets of words)
  word_extra    = 1 - sum |T ∩ O| / |O|
and the shingle figures (coverage, extra) are the stricter, order-aware ones."""
import argparse
import collections
import json
import os
import re
import sys
import time
import unicodedata

WORD = re.compile(r"\w+", re.UNICODE)
N = 5


def shingles(text):
    words = WORD.findall(unicodedata.normalize("NFC", text).lower())
    if len(words) < N:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + N]) for i in range(len(words) - N + 1)}


def words(text):
    return collections.Counter(WORD.findall(unicodedata.normalize("NFC", text).lower()))


def pages(root):
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith((".html", ".htm")):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, root), path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html-dir", required=True)
    ap.add_argument("--ours-dir", required=True)
    ap.add_argument("--limit", type=int, default=0, help="only the first N pages (sorted by path)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--worst", type=int, default=0, help="list the N pages with the lowest coverage")
    args = ap.parse_args()
    try:
        import trafilatura
    except ImportError:
        print("SKIPPED: trafilatura is not installed", file=sys.stderr)
        return 0

    todo = sorted(pages(args.html_dir))
    if args.limit:
        todo = todo[:args.limit]
    if not todo:
        print(f"no .html pages under {args.html_dir}", file=sys.stderr)
        return 1

    html_bytes = 0
    traf_s = traf_wall = 0.0
    per_page = []
    word_both = word_t = word_o = 0
    t_total = o_total = both = o_extra = 0
    traf_chars = ours_chars = 0
    none_pages = 0
    missing_ours = 0
    for rel, path in todo:
        with open(path, "rb") as f:
            raw = f.read()
        html_bytes += len(raw)
        t0, c0 = time.perf_counter(), time.thread_time()
        traf = trafilatura.extract(raw, output_format="txt", include_tables=True, with_metadata=False)
        traf_wall += time.perf_counter() - t0
        traf_s += time.thread_time() - c0
        ours_path = os.path.join(args.ours_dir, rel + ".txt")
        try:
            with open(ours_path, encoding="utf-8", errors="replace") as f:
                ours = f.read()
        except FileNotFoundError:
            ours = ""
            missing_ours += 1
        ours_chars += len(ours)
        o = shingles(ours)
        o_total += len(o)
        word_o += sum(words(ours).values())
        if not traf:
            none_pages += 1
            o_extra += len(o)
            continue
        traf_chars += len(traf)
        t = shingles(traf)
        common = len(t & o)
        t_total += len(t)
        both += common
        tw, ow = words(traf), words(ours)
        wc = sum((tw & ow).values())
        word_both += wc
        word_t += sum(tw.values())
        if tw:
            per_page.append((wc / sum(tw.values()), sum(tw.values()), rel))
        o_extra += len(o) - common

    res = {
        "pages": len(todo),
        "html_mb": round(html_bytes / 1e6, 3),
        "trafilatura_cpu_s": round(traf_s, 3),
        "trafilatura_mb_per_s": round(html_bytes / 1e6 / traf_s, 3) if traf_s else None,
        "trafilatura_wall_mb_per_s": round(html_bytes / 1e6 / traf_wall, 3) if traf_wall else None,
        "trafilatura_chars": traf_chars,
        "ours_chars": ours_chars,
        "trafilatura_empty_pages": none_pages,
        "ours_missing_pages": missing_ours,
        "word_coverage": round(word_both / word_t, 4) if word_t else None,
        "word_extra": round(1 - word_both / word_o, 4) if word_o else None,
        "coverage": round(both / t_total, 4) if t_total else None,
        "extra": round(o_extra / o_total, 4) if o_total else None,
        "shingle": f"word {N}-gram",
    }
    print(f"pages {res['pages']}, HTML {res['html_mb']} MB")
    print(f"trafilatura: {res['trafilatura_mb_per_s']} MB/s of CPU time "
          f"({res['trafilatura_wall_mb_per_s']} MB/s wall; 1 process, extract() only), "
          f"{traf_chars} chars, {none_pages} pages with no result")
    print(f"ours: {ours_chars} chars, {missing_ours} pages without a .txt")
    print(f"coverage of trafilatura's text: {res['word_coverage']} of its words, "
          f"{res['coverage']} of its word {N}-gram shingles")
    print(f"our text not in trafilatura's: {res['word_extra']} of our words, {res['extra']} of our shingles")
    for cov, n, rel in sorted(per_page)[:args.worst]:
        print(f"  word coverage {cov:.3f} of {n} words: {rel}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
