#!/usr/bin/env python3
"""Near-duplicate pairs with controlled edit rates, for tests/text/test_dedup.c.

Writes tests/fixtures/dedup/pairs.jsonl: one JSON object per line,
  {"kind": "edit"|"spacing"|"single", "lang": "ko"|"en", "rate": r, "a": text, "b": text,
   "jaccard": J}
("single" lines have only "a": unrelated documents that join the LSH index as distractors).

Base documents are real text:
  - Korean: NSMC reviews (../shared/data/nsmc/reviews.tsv.zst) of one movie, joined until the
    document holds 150-400 characters; one document per movie.
  - English: the DESCRIPTION section of man pages in /usr/share/man/man1 (rendered with groff),
    400-1500 characters; one document per page.
Edits ("edit"): each word, with probability r, is deleted, replaced by a random word of the same
language or gets a random word inserted before it (one of the three, equally likely). Korean
"spacing" pairs change only the spaces (each space dropped with probability r, each word of four
or more characters split with probability r / 2): the variation that Korean writers produce.

"jaccard" is the true Jaccard similarity of the two shingle sets, computed here independently of
the C code, with the definition in src/text/minhash.c: simplified text (letters lowercased,
marks kept, a number run with inner '.'/',' -> "0", everything else a word separator), then word
5-grams (en) or character 5-grams of the text with spaces removed (ko).

The script also prints, for the Korean pairs, the mean Jaccard with character 5-grams over the
text with its spaces kept, which is the measurement behind removing them.

Usage: python3 tools/gen_dedup_fixtures.py [--shared ../shared] [--out tests/fixtures/dedup/pairs.jsonl]
"""
import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

RATES = [0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6]
PAIRS_PER_RATE = 16
SPACING_RATES = [0.1, 0.2, 0.3, 0.5]
SPACING_PER_RATE = 8
SINGLES = 60  # per language
NGRAM = 5


# ---- the shingling definition (independent of the C code) ----

def simplify(s):
    out = []
    pending = False
    in_num = False
    i = 0
    while i < len(s):
        ch = s[i]
        cat = unicodedata.category(ch)
        if cat[0] == "N":
            if not in_num:
                if pending:
                    out.append(" ")
                    pending = False
                out.append("0")
                in_num = True
        elif cat[0] in "LM":
            if pending:
                out.append(" ")
                pending = False
            in_num = False
            if cat in ("Lu", "Lt"):
                low = ch.lower()
                out.append(low if len(low) == 1 else ch)  # one code point to one, as utf8proc_tolower
            else:
                out.append(ch)
        else:
            if in_num and ch in ".," and i + 1 < len(s) and unicodedata.category(s[i + 1])[0] == "N":
                i += 1
                continue
            in_num = False
            pending = len(out) > 0
        i += 1
    return "".join(out)


def shingles(text, unspaced, keep_spaces=False):
    t = simplify(text)
    if unspaced:
        if not keep_spaces:
            t = t.replace(" ", "")
        if len(t) < NGRAM:
            return {t}
        return {t[i:i + NGRAM] for i in range(len(t) - NGRAM + 1)}
    words = t.split(" ") if t else []
    if len(words) < NGRAM:
        return {t}
    return {" ".join(words[i:i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def jaccard(a, b):
    return len(a & b) / len(a | b) if a or b else 1.0


# ---- base documents ----

def korean_docs(shared, rng):
    path = os.path.join(shared, "data", "nsmc", "reviews.tsv.zst")
    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")
    by_movie = {}
    for line in raw.split("\n")[1:]:
        cols = line.split("\t")
        if len(cols) < 4 or not cols[3].strip():
            continue
        by_movie.setdefault(cols[1], []).append(cols[3].strip())
    docs = []
    for movie in sorted(by_movie):
        reviews = by_movie[movie]
        if len(reviews) < 8:
            continue
        doc = ""
        for r in reviews:
            if len(doc) + len(r) + 1 > 400:
                continue
            doc = (doc + " " + r) if doc else r
            if len(doc) >= 150 and rng.random() < 0.3:
                break
        if 150 <= len(doc) <= 400 and len(set(doc.split())) >= 20:
            docs.append(doc)
    rng.shuffle(docs)
    return distinct(docs, True)


def distinct(docs, unspaced, limit=400):
    """Drops documents that are near-duplicates of an earlier one (Jaccard > 0.2): man pages
    come in families (gcloud alpha/beta/GA pages share their text), and the pairs must be the
    only near-duplicates in the set."""
    kept, sets = [], []
    for d in docs:
        if len(kept) >= limit:
            break
        s = shingles(d, unspaced)
        if all(jaccard(s, t) <= 0.2 for t in sets):
            kept.append(d)
            sets.append(s)
    return kept


def english_docs(rng):
    pages = sorted(p for p in glob.glob("/usr/share/man/man1/*.1.gz")
                   if not os.path.basename(p).startswith("gcloud"))  # thousands of near-identical pages
    rng.shuffle(pages)
    docs, seen = [], set()
    for p in pages:
        if len(docs) >= 500:
            break
        try:
            out = subprocess.run(f"zcat '{p}' | groff -man -Tutf8 -P -cbou -rLL=2000n",
                                 shell=True, capture_output=True, timeout=10).stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            continue
        m = re.search(r"^DESCRIPTION\s*$(.*?)(?=^[A-Z][A-Z ]+$|\Z)", out, re.S | re.M)
        if not m:
            continue
        text = re.sub(r"[ \t]+", " ", m.group(1)).strip()
        text = re.sub(r"\n\s*\n", "\n", text)
        if len(text) < 400:
            continue
        cut = text[:1500]
        if len(text) > 1500:
            cut = cut[:cut.rfind(" ")]
        key = " ".join(cut.split()[:12])
        if key in seen:  # pages that share a description (aliases, families)
            continue
        seen.add(key)
        docs.append(cut)
    return distinct(docs, False)


# ---- edits ----

def edit_words(text, rate, vocab, rng):
    lines = text.split("\n")
    out_lines = []
    for line in lines:
        out = []
        for w in line.split(" "):
            if rng.random() < rate:
                op = rng.randrange(3)
                if op == 0:
                    continue
                if op == 1:
                    out.append(rng.choice(vocab))
                    continue
                out.append(rng.choice(vocab))
            out.append(w)
        out_lines.append(" ".join(out))
    return "\n".join(out_lines)


def respace(text, rate, rng):
    out = []
    for w in text.split(" "):
        if len(w) >= 4 and rng.random() < rate / 2:
            k = rng.randrange(1, len(w))
            w = w[:k] + " " + w[k:]
        if out and rng.random() < rate:
            out[-1] += w
        else:
            out.append(w)
    return " ".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "dedup", "pairs.jsonl"))
    ap.add_argument("--seed", type=int, default=20240603)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    ko = korean_docs(args.shared, rng)
    en = english_docs(rng)
    need = len(RATES) * PAIRS_PER_RATE + SINGLES
    if len(ko) < need + len(SPACING_RATES) * SPACING_PER_RATE or len(en) < need:
        sys.exit(f"not enough base documents: ko {len(ko)}, en {len(en)}")
    rows = []
    stats = {}
    for lang, docs in (("ko", ko), ("en", en)):
        unspaced = lang == "ko"
        vocab = sorted({w for d in docs for w in d.split() if w.isalpha()})
        it = iter(docs)
        for rate in RATES:
            for _ in range(PAIRS_PER_RATE):
                a = next(it)
                b = edit_words(a, rate, vocab, rng)
                j = jaccard(shingles(a, unspaced), shingles(b, unspaced))
                rows.append({"kind": "edit", "lang": lang, "rate": rate, "a": a, "b": b, "jaccard": round(j, 6)})
                if unspaced:
                    js = jaccard(shingles(a, True, True), shingles(b, True, True))
                    stats.setdefault(("edit", rate), []).append((j, js))
        if unspaced:
            for rate in SPACING_RATES:
                for _ in range(SPACING_PER_RATE):
                    a = next(it)
                    b = respace(a, rate, rng)
                    j = jaccard(shingles(a, True), shingles(b, True))
                    js = jaccard(shingles(a, True, True), shingles(b, True, True))
                    rows.append({"kind": "spacing", "lang": lang, "rate": rate, "a": a, "b": b,
                                 "jaccard": round(j, 6)})
                    stats.setdefault(("spacing", rate), []).append((j, js))
        for _ in range(SINGLES):
            rows.append({"kind": "single", "lang": lang, "a": next(it)})

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(rows)} lines, {os.path.getsize(args.out)} bytes")
    print("Korean, mean Jaccard: char 5-grams without spaces (used) / with spaces")
    for (kind, rate), v in sorted(stats.items()):
        print(f"  {kind:8s} rate {rate:4.2f}: {sum(x for x, _ in v) / len(v):.3f} / {sum(y for _, y in v) / len(v):.3f}")
    for lang in ("ko", "en"):
        js = [r["jaccard"] for r in rows if r["lang"] == lang and r["kind"] != "single"]
        print(f"{lang}: {sum(j >= 0.8 for j in js)} pairs with J >= 0.8, {sum(j < 0.5 for j in js)} with J < 0.5")


if __name__ == "__main__":
    main()
