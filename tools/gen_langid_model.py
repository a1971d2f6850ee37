#!/usr/bin/env python3
"""Builds the character n-gram language model compiled into src/text/langid.c.

Training text comes from Debian packages: the translated manual pages (manpages-LL) and, where
one exists, the Debian Reference's plain-text edition (debian-reference-LL). They are fetched
with `apt-get download` into ~/.cache/hyperlm/langid (or $HLM_LANGID_CACHE), unpacked with
`dpkg -x`, and reduced to running text: groff requests, escapes and no-fill (code) blocks are
dropped from man pages; literal blocks and link lists from the reference.

Each man page (or each 30-paragraph block of the reference) is one document; one document in
ten, chosen by a hash of its name, is held out and never trained on. Accuracy is measured on
held-out snippets (100..300 characters, and 20..60 for short strings) and printed per language.

The model (Naive Bayes over character 1..4-grams with word-boundary padding, as in Cavnar &
Trenkle 1994 and langid.py, Lui & Baldwin 2012):
  - text is lowercased; a word is a maximal run of letters (and combining marks) of the
    group's script; every word is padded with one space on each side;
  - features are all 1..4 code point substrings of the padded word except the lone space;
  - per language and order n, log P(g | lang) = log((count + 0.5) / (N_n + 0.5 V_n)), with N_n
    the language's n-gram count of order n and V_n the number of distinct n-grams of order n
    in the group;
  - kept are the union over the group's languages of each language's most frequent n-grams per
    order (TOP_PER_ORDER); n-grams outside the union score the same for every language and are
    skipped at run time;
  - an n-gram is named by a 32-bit hash of its code points (FNV-1a, 64-bit, then
    multiply-shift), the same function as langid.c's;
  - -log P is quantized in steps of Q_STEP nats to 0..90 and written as one printable
    character (0x23 + q, skipping the backslash), so each entry's scores are a short string.

Outputs: src/text/langid_model.inc and tests/fixtures/langid/heldout.tsv.
Usage: tools/gen_langid_model.py [--no-write] [--fixture-per-lang N]
"""
import argparse
import collections
import gzip
import hashlib
import math
import os
import random
import re
import subprocess
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("HLM_LANGID_CACHE", os.path.expanduser("~/.cache/hyperlm/langid"))

# group -> [(lang, [packages])]; the order within a group is the order of the score columns.
GROUPS = {
    "latin": [
        ("en", ["manpages", "debian-reference-en"]),
        ("de", ["manpages-de", "debian-reference-de"]),
        ("fr", ["manpages-fr", "debian-reference-fr"]),
        ("es", ["manpages-es", "debian-reference-es"]),
        ("it", ["manpages-it", "debian-reference-it"]),
        ("pt", ["manpages-pt-br", "debian-reference-pt"]),
        ("nl", ["manpages-nl"]),
        ("pl", ["manpages-pl"]),
        ("sv", ["manpages-sv"]),
        ("cs", ["manpages-cs"]),
        ("da", ["manpages-da"]),
        ("fi", ["manpages-fi"]),
        ("hu", ["manpages-hu"]),
        ("ro", ["manpages-ro"]),
        ("tr", ["manpages-tr"]),
        ("vi", ["manpages-vi"]),
    ],
    "cyrillic": [
        ("ru", ["manpages-ru"]),
        ("uk", ["manpages-uk"]),
        ("sr", ["manpages-sr"]),
        ("mk", ["manpages-mk"]),
    ],
}
MAX_LANGS = 16  # score columns per group in langid.c
TOP_PER_ORDER = {1: 120, 2: 700, 3: 1200, 4: 1200}
Q_STEP = 0.2
Q_MAX = 90
ALPHA = 0.5
HELDOUT_MOD = 10


# ---- fetching ----

def fetch(pkg):
    """The unpacked tree of pkg (downloaded and extracted once)."""
    os.makedirs(CACHE, exist_ok=True)
    dest = os.path.join(CACHE, "x", pkg)
    if os.path.isdir(dest):
        return dest
    debs = [f for f in os.listdir(CACHE) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not debs:
        subprocess.run(["apt-get", "download", pkg], cwd=CACHE, check=True,
                       stdout=subprocess.DEVNULL)
        debs = [f for f in os.listdir(CACHE) if f.startswith(pkg + "_") and f.endswith(".deb")]
    tmp = dest + ".tmp"
    subprocess.run(["rm", "-rf", tmp], check=True)
    subprocess.run(["dpkg", "-x", os.path.join(CACHE, sorted(debs)[-1]), tmp], check=True)
    os.rename(tmp, dest)
    return dest


# ---- markup to running text ----

GROFF_SPECIAL = {"em": "\u2014", "en": "\u2013", "aq": "'", "dq": '"', "lq": "\u201c",
                 "rq": "\u201d", "oq": "\u2018", "cq": "\u2019", "co": "\u00a9", "rg": "\u00ae",
                 "hy": "-", "mi": "-", "bu": "\u2022", "ga": "`", "ti": "~", "ha": "^",
                 "Fo": "\u00ab", "Fc": "\u00bb", "fo": "\u2039", "fc": "\u203a"}
TEXT_MACROS = {"SH", "SS", "B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "TP", "IP",
               "Nm", "Nd", "Em", "Sy", "Dq", "Qq", "Sq", "Pq"}


def groff_escapes(s):
    s = s.replace("\\\\", "\x00")
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)          # fonts
    s = re.sub(r"\\s[-+]?\d", "", s)                        # sizes
    s = re.sub(r"\\\*(\[[^\]]*\]|\(..|.)", "", s)          # strings
    s = re.sub(r"\\\((..)", lambda m: GROFF_SPECIAL.get(m.group(1), ""), s)
    s = re.sub(r"\\\[([^\]]*)\]", lambda m: GROFF_SPECIAL.get(m.group(1), ""), s)
    s = re.sub(r"\\[-e]", lambda m: "-" if m.group(0) == "\\-" else "\\", s)
    s = re.sub(r"\\[ ~0]", " ", s)
    s = re.sub(r"\\[&%|^c:/,)]", "", s)
    s = re.sub(r"\\.", "", s)
    return s.replace("\x00", "\\")


def man_to_paragraphs(src):
    """Running-text paragraphs of a man page (groff man/mdoc source)."""
    paras, cur, nofill = [], [], False

    def end():
        if cur:
            paras.append(" ".join(cur))
            cur.clear()

    for line in src.split("\n"):
        if line.startswith(".\\\"") or line.startswith("'\\\"") or line.startswith('.\\"'):
            continue
        if line.startswith(".") or line.startswith("'"):
            parts = line[1:].strip().split(None, 1)
            req = parts[0] if parts else ""
            if req in ("nf", "EX", "Bd"):
                nofill = True
                end()
            elif req in ("fi", "EE", "Ed"):
                nofill = False
            if req in ("SH", "SS", "PP", "LP", "P", "TP", "IP", "sp", "br", "Pp", "Sh", "It"):
                end()
            if not nofill and req in TEXT_MACROS and len(parts) > 1:
                arg = groff_escapes(parts[1]).replace('"', " ").strip()
                if req not in ("SH", "SS", "Sh", "TP", "IP"):  # headings and tags: not prose
                    cur.append(arg)
            continue
        if nofill:
            continue
        t = groff_escapes(line).strip()
        if t:
            cur.append(t)
        else:
            end()
    end()
    return paras


def reference_paragraphs(text):
    """Prose paragraphs of the Debian Reference's plain-text edition: blocks indented by four
    spaces, without shell sessions, tables, short labels ("Note") and headings."""
    paras = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines or not all(re.match(r"^    \S", l) for l in lines):
            continue
        if any(re.match(r"^\s*[$#\[]", l) or "|" in l or "+--" in l for l in lines):
            continue
        p = " ".join(l.strip() for l in lines)
        if len(p) >= 40:
            paras.append(p)
    return paras


# ---- features (must match langid.c) ----

def script_of(c):
    """'latin', 'cyrillic' or None, for a letter or mark (as langid.c's script ranges)."""
    o = ord(c)
    if (0x41 <= o <= 0x5A or 0x61 <= o <= 0x7A or 0xC0 <= o <= 0x24F and o not in (0xD7, 0xF7)
            or 0x1E00 <= o <= 0x1EFF or 0x2C60 <= o <= 0x2C7F or 0xA720 <= o <= 0xA7FF
            or 0xAB30 <= o <= 0xAB6F or 0xFF21 <= o <= 0xFF3A or 0xFF41 <= o <= 0xFF5A):
        return "latin"
    if 0x400 <= o <= 0x52F or 0x1C80 <= o <= 0x1C8F or 0x2DE0 <= o <= 0x2DFF or 0xA640 <= o <= 0xA69F:
        return "cyrillic"
    return None


def is_letter_or_mark(c):
    return unicodedata.category(c)[0] in "LM"


def lower1(c):
    l = c.lower()
    return l if len(l) == 1 else c


def words(text, group):
    """The group's words of text: runs of its letters, marks joining the word before them."""
    out, cur = [], []
    for c in unicodedata.normalize("NFC", text):
        if is_letter_or_mark(c):
            sc = script_of(c)
            if sc == group or (sc is None and unicodedata.category(c)[0] == "M" and cur):
                cur.append(lower1(c))
                continue
        if cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def ngrams(word):
    p = " " + word + " "
    for n in range(1, 5):
        for i in range(len(p) - n + 1):
            g = p[i:i + n]
            if g != " ":
                yield g


def ngram_hash(g):
    """FNV-1a (64-bit) over the code points, then the high half of the state times the golden
    ratio constant (multiply-shift: mixes every bit of the state into the result); never 0."""
    m = 0xFFFFFFFFFFFFFFFF
    h = 0xCBF29CE484222325
    for c in g:
        h = ((h ^ ord(c)) * 0x100000001B3) & m
    v = ((h * 0x9E3779B97F4A7C15) & m) >> 32
    return v if v else 1


# ---- corpus ----

def documents(lang, packages):
    """(name, [paragraph]) for every document of the language's packages."""
    docs = []
    for pkg in packages:
        root = fetch(pkg)
        man = os.path.join(root, "usr", "share", "man")
        for dirpath, _, files in os.walk(man):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if os.path.islink(path):
                    continue
                raw = gzip.open(path).read() if f.endswith(".gz") else open(path, "rb").read()
                src = raw.decode("utf-8", errors="replace")
                if src.startswith(".so "):
                    continue
                docs.append((pkg + ":" + f, man_to_paragraphs(src)))
        ref = os.path.join(root, "usr", "share", "debian-reference")
        if os.path.isdir(ref):
            for f in sorted(os.listdir(ref)):
                if f.endswith(".txt.gz"):
                    paras = reference_paragraphs(gzip.open(os.path.join(ref, f)).read().decode("utf-8"))
                    for k in range(0, len(paras), 30):
                        docs.append(("%s:%s:%d" % (pkg, f, k), paras[k:k + 30]))
    return docs


# Translated man pages keep untranslated paragraphs in English; these words mark them (none is a
# common word of the other languages here, unlike "of" in Dutch or "to" in Polish).
ENGLISH_MARKERS = {"the", "and", "with", "that", "this", "which", "from", "will", "you", "your", "when",
                   "these", "should", "because", "instead", "have", "has", "been", "if"}


def looks_english(p):
    ws = re.findall(r"[^\W\d_]+", p.lower())
    hits = sum(1 for w in ws if w in ENGLISH_MARKERS)
    return hits >= 2 or (len(ws) > 0 and hits >= 0.04 * len(ws))


def is_heldout(name):
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % HELDOUT_MOD == 0


def prose(p, group):
    """1 if a paragraph or snippet is running text of the group's script (for evaluation): mostly
    letters and spaces, no command-line options."""
    letters = sum(1 for c in p if script_of(c) == group or (c.isalpha() and group is None))
    spaces = p.count(" ")
    return (letters + spaces >= 0.88 * len(p) and letters >= 0.7 * len(p) and spaces >= 4
            and not re.search(r"(^|\s)--?\w", p))


def snippet(p, lo, hi, rng):
    """A piece of p of lo..hi characters, cut at spaces."""
    if len(p) <= hi:
        return p if len(p) >= lo else None
    start = rng.randrange(0, len(p) - lo)
    if start:
        sp = p.find(" ", start)
        start = sp + 1 if sp >= 0 else start
    piece = p[start:start + hi]
    cut = piece.rfind(" ")
    if cut >= lo:
        piece = piece[:cut]
    return piece.strip() if len(piece.strip()) >= lo else None


# ---- model ----

def train(group_langs):
    counts = {}
    heldout = {}
    for lang, pkgs in group_langs:
        docs = documents(lang, pkgs)
        train_words = collections.Counter()
        held = []
        seen = set()  # training paragraphs: boilerplate shared by many pages is not held out
        group = None
        for g, ls in GROUPS.items():
            if any(l == lang for l, _ in ls):
                group = g
        for name, paras in docs:
            if lang != "en":
                paras = [p for p in paras if not looks_english(p)]
            if is_heldout(name):
                held.extend(paras)
            else:
                for p in paras:
                    seen.add(p)
                    train_words.update(words(p, group))
        c = collections.Counter()
        for w, k in train_words.items():
            for g in ngrams(w):
                c[g] += k
        counts[lang] = c
        heldout[lang] = [p for p in dict.fromkeys(held) if p not in seen and prose(p, group)]
        print("%s: %d documents, %d n-grams, %d held-out paragraphs"
              % (lang, len(docs), sum(c.values()), len(heldout[lang])), file=sys.stderr)
    return counts, heldout


def build(counts):
    langs = list(counts)
    keep = set()
    for l in langs:
        for n in range(1, 5):
            grams = [(k, g) for g, k in counts[l].items() if len(g) == n]
            grams.sort(key=lambda x: (-x[0], x[1]))
            keep.update(g for _, g in grams[:TOP_PER_ORDER[n]])
    V = collections.Counter()
    allg = set()
    for l in langs:
        allg.update(counts[l])
    for g in allg:
        V[len(g)] += 1
    N = {l: collections.Counter() for l in langs}
    for l in langs:
        for g, k in counts[l].items():
            N[l][len(g)] += k
    table = {}
    dropped = 0
    for g in sorted(keep):
        q = []
        for l in langs:
            lp = math.log((counts[l].get(g, 0) + ALPHA) / (N[l][len(g)] + ALPHA * V[len(g)]))
            q.append(min(Q_MAX, int(round(-lp / Q_STEP))))
        h = ngram_hash(g)
        if h in table:  # two kept n-grams with one hash: keep the first (rare, harmless)
            dropped += 1
            continue
        table[h] = q
    if dropped:
        print("%d n-grams dropped for hash collisions" % dropped, file=sys.stderr)
    return table


def score(table, nl, text, group):
    tot = [0.0] * nl
    for w in words(text, group):
        for g in ngrams(w):
            q = table.get(ngram_hash(g))
            if q:
                for i in range(nl):
                    tot[i] -= q[i] * Q_STEP
    return max(range(nl), key=lambda i: tot[i])


def qchar(q):
    c = 0x23 + q
    return chr(c + 1 if c >= 0x5C else c)  # skip the backslash


def write_inc(path, models):
    out = []
    out.append("/* Generated by tools/gen_langid_model.py from Debian's translated manual pages "
               "and Debian Reference; do not edit.\n"
               " * Per group: languages, and sorted n-gram hashes with one score character per "
               "language:\n"
               " * -log P(ngram | lang) = (c - 0x23, minus 1 above the backslash) * Q_STEP "
               "nats. */\n")
    out.append("#define LANGID_Q_STEP %.3ff\n" % Q_STEP)
    for group, (langs, table) in models.items():
        G = group.upper()
        out.append("\nstatic const char *const %s_langs[] = {%s};\n"
                   % (group, ", ".join('"%s"' % l for l in langs)))
        out.append("#define %s_NLANGS %d\n#define %s_NGRAMS %d\n" % (G, len(langs), G, len(table)))
        keys = sorted(table)
        out.append("static const uint32_t %s_keys[%s_NGRAMS] = {\n" % (group, G))
        for i in range(0, len(keys), 8):
            out.append("    " + ", ".join("0x%08x" % k for k in keys[i:i + 8]) + ",\n")
        out.append("};\n")
        out.append("static const char %s_scores[%s_NGRAMS * %s_NLANGS + 1] =\n" % (group, G, G))
        per_line = max(1, 96 // len(langs))
        for i in range(0, len(keys), per_line):
            s = "".join("".join(qchar(q) for q in table[k]) for k in keys[i:i + per_line])
            s = s.replace('"', '\\"').replace("?", "\\?")
            out.append('    "%s"\n' % s)
        out.append("    ;\n")
    with open(path + ".tmp", "w") as f:
        f.write("".join(out))
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true", help="only print the evaluation")
    ap.add_argument("--fixture-per-lang", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(1234)
    models = {}
    fixture = []
    for group, group_langs in GROUPS.items():
        assert len(group_langs) <= MAX_LANGS
        counts, heldout = train(group_langs)
        table = build(counts)
        langs = [l for l, _ in group_langs]
        models[group] = (langs, table)
        print("%s: %d n-grams kept" % (group, len(table)), file=sys.stderr)
        for lo, hi, label in ((100, 300, "100-300 chars"), (20, 60, "20-60 chars")):
            print("held-out accuracy, %s, %s:" % (group, label))
            for li, l in enumerate(langs):
                paras = heldout[l]
                snips = [s for s in (snippet(p, lo, hi, rng) for p in paras) if s and prose(s, group)][:400]
                if not snips:
                    print("  %s: no held-out text" % l)
                    continue
                ok = sum(1 for s in snips if score(table, len(langs), s, group) == li)
                print("  %s: %.3f (%d snippets)" % (l, ok / len(snips), len(snips)))
                if lo == 100:
                    picks = list(snips)
                    rng.shuffle(picks)
                    fixture.extend((l, s) for s in picks[:args.fixture_per_lang])
    if args.no_write:
        return
    write_inc(os.path.join(ROOT, "src", "text", "langid_model.inc"), models)
    fdir = os.path.join(ROOT, "tests", "fixtures", "langid")
    os.makedirs(fdir, exist_ok=True)
    with open(os.path.join(fdir, "heldout.tsv"), "w") as f:
        for l, s in fixture:
            s = re.sub(r"[\t\r\n]+", " ", s)
            f.write("%s\t%s\n" % (l, s))
    print("wrote src/text/langid_model.inc and tests/fixtures/langid/heldout.tsv", file=sys.stderr)


if __name__ == "__main__":
    main()
