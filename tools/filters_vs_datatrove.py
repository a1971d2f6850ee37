"""The peer of src/text/filters.c: datatrove's GopherRepetitionFilter, GopherQualityFilter and
C4QualityFilter, run in datatrove's usual order (repetition, quality, C4) with the thresholds of
hlm_filter_params_default for the language (or those of --params), one keep/drop decision per
document.

    python3 tools/filters_vs_datatrove.py --input docs.jsonl --lang ko --out decisions.jsonl
        [--params params.json] [--compare ours.jsonl]
    python3 tools/filters_vs_datatrove.py --make-corpus nsmc|en --out docs.jsonl [--shared ../shared]

Input: JSONL with a "text" field. Output: {"keep": bool, "reason": datatrove's reason or null}.
Prints the peer's throughput (MB of UTF-8 per second on one core, filtering only). --compare
reads our decisions (same order, "keep" field) and prints the keep/drop agreement.

--params: a JSON object of hlm_filter_params fields (as `hlm_filter_param_names`), overriding
the defaults below, which must stay equal to hlm_filter_params_default in filters.c. A negative
value turns a rule off, as in filters.c; datatrove turns a rule off with None or 0 instead, so a
0 upper bound is passed as the smallest positive float.

Needs datatrove (0.10.1), spaCy (English words) and kiwipiepy with its "sbg" model (Korean:
datatrove's KiwiTokenizer asks for model_type="sbg", which kiwipiepy_model <= 0.21 ships; with a
newer one the tool falls back to Kiwi's default model and says so).
"""
import argparse
import json
import os
import subprocess
import sys
import time

GOPHER = dict(
    gopher_quality=1, gopher_repetition=1, c4=1,
    min_doc_words=50, max_doc_words=100000, min_avg_word_length=3, max_avg_word_length=10,
    max_symbol_word_ratio=0.1, max_bullet_lines_ratio=0.9, max_ellipsis_lines_ratio=0.3,
    max_non_alpha_words_ratio=0.8, min_stop_words=2,
    dup_line_frac=0.3, dup_para_frac=0.3, dup_line_char_frac=0.2, dup_para_char_frac=0.2,
    top_2gram_frac=0.2, top_3gram_frac=0.18, top_4gram_frac=0.16,
    dup_5gram_frac=0.15, dup_6gram_frac=0.14, dup_7gram_frac=0.13, dup_8gram_frac=0.12,
    dup_9gram_frac=0.11, dup_10gram_frac=0.10,
    c4_remove_no_terminal_punct_lines=1, c4_remove_javascript_lines=1, c4_remove_policy_lines=1,
    c4_remove_citations=1, c4_filter_lorem_ipsum=1, c4_filter_curly_brace=1, c4_filter_bad_words=0,
    c4_min_words_per_line=3, c4_max_word_length=1000, c4_min_sentences=5,
)

# FineWeb-2 configs/kor_Hang.yml and fineweb-2-pipeline.py (paragraph and line-character rules
# off, no C4).
KOREAN = dict(
    c4=0, dup_line_frac=0.374, dup_para_frac=-1, dup_line_char_frac=-1, dup_para_char_frac=-1,
    top_2gram_frac=0.282, top_3gram_frac=0.228, top_4gram_frac=0.185,
    dup_5gram_frac=0.201, dup_6gram_frac=0.184, dup_7gram_frac=0.168, dup_8gram_frac=0.154,
    dup_9gram_frac=0.14, dup_10gram_frac=0.127,
    min_avg_word_length=1, max_avg_word_length=6, max_non_alpha_words_ratio=0.791,
)

# The built-in stop words of filters.c (keep equal).
STOP_WORDS = {
    "en": ["the", "be", "to", "of", "and", "that", "have", "with"],
    # FineWeb-2 configs/kor_Hang.yml (Kiwi morphemes)
    "ko": ["의", "다", "이", "는", "에", "을", "한", "년", "하", "은", "를", "했", "고", "에서", "가", "있", "으로",
           "인", "월", "로", "되"],
}


def defaults(lang):
    p = dict(GOPHER)
    if lang == "ko":
        p.update(KOREAN)
    elif lang != "en":
        p["min_stop_words"] = -1
    return p


def upper(v):
    """An upper bound for datatrove: None when off, the smallest positive float for 0."""
    if v < 0:
        return None
    return v if v > 0 else 5e-324


def lower(v):
    return None if v <= 0 else v


def patch_kiwi():
    from datatrove.utils import word_tokenizers as wt

    try:
        from kiwipiepy import Kiwi

        Kiwi(model_type="sbg")
    except Exception as e:  # kiwipiepy_model >= 0.22 ships no sbg model
        print(f"note: Kiwi sbg model unavailable ({e}); using Kiwi's default model", file=sys.stderr)
        orig = wt.KiwiTokenizer.__init__

        def init(self, model_type=None):
            orig(self, model_type=None)

        wt.KiwiTokenizer.__init__ = init


def build_filters(lang, p):
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter

    filters = []
    if p["gopher_repetition"]:
        filters.append(GopherRepetitionFilter(
            dup_line_frac=upper(p["dup_line_frac"]), dup_para_frac=upper(p["dup_para_frac"]),
            dup_line_char_frac=upper(p["dup_line_char_frac"]), dup_para_char_frac=upper(p["dup_para_char_frac"]),
            top_n_grams=tuple((n, p[f"top_{n}gram_frac"]) for n in (2, 3, 4) if p[f"top_{n}gram_frac"] >= 0),
            dup_n_grams=tuple((n, p[f"dup_{n}gram_frac"]) for n in range(5, 11) if p[f"dup_{n}gram_frac"] >= 0),
            language=lang))
    if p["gopher_quality"]:
        filters.append(GopherQualityFilter(
            min_doc_words=lower(p["min_doc_words"]), max_doc_words=upper(p["max_doc_words"]),
            min_avg_word_length=lower(p["min_avg_word_length"]), max_avg_word_length=upper(p["max_avg_word_length"]),
            max_symbol_word_ratio=upper(p["max_symbol_word_ratio"]),
            max_bullet_lines_ratio=upper(p["max_bullet_lines_ratio"]),
            max_ellipsis_lines_ratio=upper(p["max_ellipsis_lines_ratio"]),
            max_non_alpha_words_ratio=lower(p["max_non_alpha_words_ratio"]),
            min_stop_words=lower(p["min_stop_words"]), stop_words=STOP_WORDS.get(lang, []), language=lang))
    if p["c4"]:
        if p["c4_filter_bad_words"]:
            sys.exit("c4_filter_bad_words: datatrove downloads its lists at run time; not compared here")
        filters.append(C4QualityFilter(
            remove_citations=bool(p["c4_remove_citations"]),
            filter_no_terminal_punct=bool(p["c4_remove_no_terminal_punct_lines"]),
            min_num_sentences=int(p["c4_min_sentences"]) if p["c4_min_sentences"] >= 0 else -1,
            min_words_per_line=int(p["c4_min_words_per_line"]) if p["c4_min_words_per_line"] >= 0 else -1,
            max_word_length=int(p["c4_max_word_length"]) if p["c4_max_word_length"] >= 0 else -1,
            filter_lorem_ipsum=bool(p["c4_filter_lorem_ipsum"]),
            filter_javascript=bool(p["c4_remove_javascript_lines"]),
            filter_curly_bracket=bool(p["c4_filter_curly_brace"]),
            filter_policy=bool(p["c4_remove_policy_lines"]), language=lang))
    return filters


def decide(filters, text):
    from datatrove.data import Document

    doc = Document(text=text, id="0")
    for f in filters:
        r = f.filter(doc)
        if r is not True:
            return False, r[1] if isinstance(r, tuple) else f.name
    return True, None


def make_corpus(kind, out, shared, per_doc=20):
    docs = []
    if kind == "nsmc":
        # reviews of one movie, per_doc at a time, one review a line
        path = os.path.join(shared, "data", "nsmc", "reviews.tsv.zst")
        raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")
        by_movie = {}
        for line in raw.split("\n")[1:]:
            cols = line.split("\t")
            if len(cols) >= 4:
                by_movie.setdefault(cols[1], []).append(cols[3])
        for movie in sorted(by_movie):
            reviews = by_movie[movie]
            for i in range(0, len(reviews) - per_doc + 1, per_doc):
                docs.append("\n".join(reviews[i:i + per_doc]))
    else:
        # English prose from this machine: man pages rendered as text, one page a document, and
        # the paragraphs of Python's own docstrings
        import glob
        import gzip
        import pydoc
        import re

        for path in sorted(glob.glob("/usr/share/man/man[1-8]/*.gz"))[:1000]:
            r = subprocess.run(["man", "-P", "cat", "-E", "UTF-8", path], capture_output=True,
                               env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
            text = re.sub(r".\x08", "", r.stdout.decode("utf-8", "replace")).strip()
            if text:
                docs.append(text)
        import builtins
        import collections
        import email
        import json as _json
        import os as _os
        import pathlib
        import re as _re
        import subprocess as _sp
        import typing
        for mod in (builtins, collections, email, _json, _os, pathlib, _re, _sp, typing, argparse, gzip, time):
            text = pydoc.render_doc(mod, renderer=pydoc.plaintext)
            for chunk in re.split(r"\n(?=\S)", text):
                if len(chunk) > 200:
                    docs.append(chunk)
    with open(out, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    print(f"{len(docs)} documents, {sum(len(d.encode()) for d in docs) / 1e6:.1f} MB -> {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input")
    ap.add_argument("--lang", default="en")
    ap.add_argument("--out", required=True)
    ap.add_argument("--params")
    ap.add_argument("--compare")
    ap.add_argument("--make-corpus", choices=["nsmc", "en"])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    a = ap.parse_args()
    if a.make_corpus:
        return make_corpus(a.make_corpus, a.out, a.shared)
    p = defaults(a.lang)
    if a.params:
        with open(a.params) as f:
            extra = json.load(f)
        unknown = set(extra) - set(p)
        if unknown:
            sys.exit(f"--params: unknown fields {sorted(unknown)}")
        p.update(extra)
    if a.lang == "ko":
        patch_kiwi()
    filters = build_filters(a.lang, p)
    with open(a.input) as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    decide(filters, "warm up the tokenizers. " * 60)
    t0 = time.process_time()
    out = [decide(filters, t) for t in texts]
    dt = time.process_time() - t0
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    with open(a.out, "w") as f:
        for keep, reason in out:
            f.write(json.dumps({"keep": keep, "reason": reason}) + "\n")
    kept = sum(k for k, _ in out)
    print(f"datatrove: {len(texts)} docs, {kept} kept, {mb:.1f} MB in {dt:.2f} s: {mb / dt:.2f} MB/s")
    if a.compare:
        with open(a.compare) as f:
            ours = [json.loads(line) for line in f if line.strip()]
        if len(ours) != len(out):
            sys.exit(f"--compare: {len(ours)} decisions for {len(out)} documents")
        agree = sum(o["keep"] == k for o, (k, _) in zip(ours, out))
        print(f"agreement: {agree}/{len(out)} = {100 * agree / len(out):.2f}%")
        both = collections_counter((o.get("reason"), r) for o, (k, r) in zip(ours, out) if o["keep"] != k)
        for (ro, rd), n in both.most_common(12):
            print(f"  ours {ro} / datatrove {rd}: {n}")


def collections_counter(it):
    from collections import Counter

    return Counter(it)


if __name__ == "__main__":
    main()
