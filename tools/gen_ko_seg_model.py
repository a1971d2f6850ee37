#!/usr/bin/env python3
"""Builds the Korean segmentation lexicon compiled into src/text/ko_seg.c: how Kiwi (kiwipiepy,
the Korean word tokenizer that datatrove and FineWeb-2 use) cuts runs of Hangul syllables into
morphemes, so that the filters count and compare the same units without running Kiwi.

Kiwi's tokens inside a maximal run of Hangul syllables are grouped into segments: a token alone,
or tokens whose spans overlap (a contraction: "였" is 이 + 었, two tokens of the same span; "볼수록"
is 보 + ㄹ수록, spans 0-1 and 0-3). The lexicon holds every segment seen at least MIN_COUNT times
(at most MAX_LEN syllables) with its count and its tokens' spans; ko_seg.c cuts a run into the
segments of the highest product of unigram probabilities (Viterbi; a syllable outside the lexicon
is a segment of count 1/2).

Training text, none of it from the benchmarks or tests:
  - NSMC reviews (../shared/data/nsmc) from line FIT_FROM to FIT_FROM + --lines; the benchmarks
    take the first 20 MB (about 200,000 reviews);
  - the Korean user-interface strings of Debian's firefox-esr-l10n-ko, thunderbird-l10n-ko and
    libreoffice-l10n-ko (apt-get download; messages of Firefox and Thunderbird's .ftl/.properties/
    .dtd files and of LibreOffice's .mo catalogues). The demo corpus is LibreOffice's, GIMP's and
    Debian's help pages, not these strings. The packages are whatever version Debian serves, so
    a run after an update may change a few counts (the committed lexicon names its sources).
Kiwi is asked for the "sbg" model as datatrove's KiwiTokenizer does (kiwipiepy 0.21 and its
model package ship it; scripts/install-bench-deps.sh pins them).

Outputs: src/text/ko_seg_model.inc, and tests/fixtures/ko_seg/heldout.tsv (FIXTURE_RUNS Hangul
runs of reviews after the training lines, with Kiwi's tokens, for tests/text/test_filters.c).
Usage: tools/gen_ko_seg_model.py [--lines N] [--l10n DIR] [--no-write]
"""
import argparse
import gettext
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIT_FROM = 300000
MIN_COUNT = 2
MAX_LEN = 10
FIXTURE_RUNS = 3000
PACKAGES = ["firefox-esr-l10n-ko", "thunderbird-l10n-ko", "libreoffice-l10n-ko"]
HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def ui_strings(root):
    """The Korean messages under root (unpacked packages): Mozilla language packs, .mo files."""
    import zipfile

    out = []

    def moz_line(name, line):
        line = line.strip()
        if name.endswith(".ftl"):
            m = re.match(r"^\.?[\w.-]+\s*=\s*(.*)$", line)
            return m.group(1) if m else line
        if name.endswith(".properties"):
            return line.split("=", 1)[1] if "=" in line else ""
        m = re.search(r'"([^"]*)"', line)
        return m.group(1) if m else ""

    for dp, _, fs in sorted(os.walk(root)):
        for f in sorted(fs):
            p = os.path.join(dp, f)
            if f.endswith(".xpi"):
                with zipfile.ZipFile(p) as z:
                    for name in sorted(z.namelist()):
                        if name.endswith((".ftl", ".properties", ".dtd")):
                            for line in z.read(name).decode("utf-8", "replace").split("\n"):
                                v = moz_line(name, line)
                                out.append(re.sub(r"\{[^}]*\}|<[^>]*>|&[\w.#]+;|%\d*\$?[sdS]", " ", v).strip())
            elif f.endswith(".mo"):
                with open(p, "rb") as fh:
                    cat = gettext.GNUTranslations(fh)._catalog
                for k in sorted(cat, key=str):
                    out.append(re.sub(r"~|%\w+|\$\w+\$?|<[^>]*>", "", cat[k]).replace("\n", " ").strip())
    return list(dict.fromkeys(s for s in out if HANGUL.search(s)))


def fetch_packages(dest):
    subprocess.run(["apt-get", "download"] + PACKAGES, cwd=dest, check=True, capture_output=True)
    for deb in sorted(os.listdir(dest)):
        if deb.endswith(".deb"):
            subprocess.run(["dpkg-deb", "-x", deb, "x"], cwd=dest, check=True)
    return os.path.join(dest, "x")


def kiwi():
    from kiwipiepy import Kiwi
    try:
        return Kiwi(model_type="sbg")
    except Exception as e:  # newer model packages ship no sbg model
        print(f"note: Kiwi sbg model unavailable ({e}); using Kiwi's default model", file=sys.stderr)
        return Kiwi()


def run_segments(text, spans):
    """For each maximal Hangul run of text: (run, [(segment, ((start, end) of each token))])."""
    out = []
    for m in HANGUL_RUN.finditer(text):
        s, e = m.span()
        toks = sorted((max(a, s), min(b, e)) for a, b in spans if a < e and b > s and b > a)
        segs = []
        for a, b in toks:
            if segs and a < segs[-1][1]:
                segs[-1][1] = max(segs[-1][1], b)
                segs[-1][2].append((a, b))
            else:
                segs.append([a, b, [(a, b)]])
        res, pos = [], s
        for a, b, tl in segs:
            if a > pos:
                res.append((text[pos:a], ((0, a - pos),)))
            res.append((text[a:b], tuple((x - a, y - a) for x, y in tl)))
            pos = b
        if pos < e:
            res.append((text[pos:e], ((0, e - pos),)))
        out.append((text[s:e], res))
    return out


def nsmc_lines(shared, a, b):
    src = os.path.join(shared, "data", "nsmc", "reviews.tsv.zst")
    raw = subprocess.run(["zstd", "-dc", src], capture_output=True, check=True).stdout.decode()
    rows = raw.split("\n")[1 + a:1 + b]
    return [c[3].strip() for c in (r.split("\t") for r in rows) if len(c) >= 4 and c[3].strip()]


def write_inc(path, lex, total, info):
    pats = {((0, 1),): 0}
    for seg, (c, tk) in lex.items():
        if tk != ((0, len(seg)),):
            pats.setdefault(tk, len(pats))
    nodes = len({seg[:i] for seg in lex for i in range(1, len(seg) + 1)})
    max_tokens = max(len(tk) for tk in pats)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as o:
        o.write("/* Generated by tools/gen_ko_seg_model.py: do not edit. How Kiwi cuts Hangul runs into\n")
        o.write(f" * morphemes: {info}. */\n")
        o.write(f"#define KO_SEG_TOTAL {total}\n#define KO_SEG_N {len(lex)}\n#define KO_SEG_MAX_LEN {MAX_LEN}\n")
        o.write(f"#define KO_SEG_PATTERNS {len(pats)}\n#define KO_SEG_MAX_TOKENS {max_tokens}\n")
        o.write(f"#define KO_SEG_NODES {nodes} /* prefixes of the segments */\n")
        o.write("/* The tokens of a segment that is not one token: spans in syllables, \"a-b\" joined by \".\". */\n")
        o.write("static const char *const ko_seg_patterns[KO_SEG_PATTERNS] = {\n    \"\",\n")
        for tk, i in sorted(pats.items(), key=lambda kv: kv[1])[1:]:
            o.write('    "' + ".".join(f"{x}-{y}" for x, y in tk) + '",\n')
        o.write("};\n")
        o.write("/* One segment a line: its syllables, its count, its pattern (0: one token). */\n")
        o.write("static const char ko_seg_lexicon[] =\n")
        items = sorted(lex.items())
        for i in range(0, len(items), 8):
            o.write('    "' + "".join(f"{seg} {c} {pats.get(tk, 0) if tk != ((0, len(seg)),) else 0}\\n"
                                      for seg, (c, tk) in items[i:i + 8]) + '"\n')
        o.write("    ;\n")
        o.flush()
        os.fsync(o.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=300000, help="reviews to learn from (from line FIT_FROM)")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--l10n", help="folder with the packages already unpacked (dpkg-deb -x)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    reviews = nsmc_lines(a.shared, FIT_FROM, FIT_FROM + a.lines)
    heldout = nsmc_lines(a.shared, FIT_FROM + a.lines, FIT_FROM + a.lines + 20000)
    with tempfile.TemporaryDirectory() as tmp:
        ui = ui_strings(a.l10n or fetch_packages(tmp))
    k = kiwi()
    count, toks = Counter(), defaultdict(Counter)
    n_runs = 0
    for texts in (reviews, ui):
        for res, line in zip(k.tokenize(texts), texts):
            for _, segs in run_segments(line, [(t.start, t.end) for t in res]):
                n_runs += 1
                for seg, tk in segs:
                    count[seg] += 1
                    toks[seg][tk] += 1
    lex = {s: (c, toks[s].most_common(1)[0][0]) for s, c in count.items()
           if c >= MIN_COUNT and len(s) <= MAX_LEN}
    total = sum(c for c, _ in lex.values())
    info = (f"{len(lex)} segments seen {MIN_COUNT}+ times in {n_runs} runs of {len(reviews)} NSMC reviews and "
            f"{len(ui)} UI strings")
    print(info)
    if a.no_write:
        return
    write_inc(os.path.join(ROOT, "src", "text", "ko_seg_model.inc"), lex, total, info)
    fx = os.path.join(ROOT, "tests", "fixtures", "ko_seg")
    os.makedirs(fx, exist_ok=True)
    runs = []
    for res, line in zip(k.tokenize(heldout), heldout):
        for run, segs in run_segments(line, [(t.start, t.end) for t in res]):
            runs.append((run, [seg[x:y] for seg, tk in segs for x, y in tk]))
    step = max(1, len(runs) // FIXTURE_RUNS)
    tmp = os.path.join(fx, "heldout.tsv.tmp")
    with open(tmp, "w", encoding="utf-8") as o:
        o.write("# held-out Hangul runs of NSMC reviews and Kiwi's tokens in them (tools/gen_ko_seg_model.py)\n")
        for run, tk in runs[::step][:FIXTURE_RUNS]:
            o.write(f"{run}\t{' '.join(tk)}\n")
        o.flush()
        os.fsync(o.fileno())
    os.replace(tmp, os.path.join(fx, "heldout.tsv"))
    print("wrote src/text/ko_seg_model.inc and tests/fixtures/ko_seg/heldout.tsv", file=sys.stderr)


if __name__ == "__main__":
    main()
