#!/usr/bin/env python3
"""Writes the tokenizer's reference fixtures into tests/fixtures/tokenizer/ (`make fixtures`).

usage: gen_tokenizer_fixtures.py [--hyperlm BIN] [--only tiktoken|hf]

References (nothing here is computed by HyperLM except the tokenizer HyperLM trains):
  tiktoken_<enc>.tsv.zst  for gpt2 (r50k_base), cl100k_base and o200k_base: PyPI `tiktoken`,
                          built offline from $HLM_SHARED/tokenizers/<enc>.tiktoken with the
                          pattern and special tokens of the installed tiktoken_ext/openai_public.py.
                          Hand-written strings (English, Korean NFC and NFD, mixed scripts, emoji,
                          digits, whitespace runs, contractions, special tokens, 50 KB inputs),
                          2500 random strings from a stressing character pool, and 400 byte
                          strings with invalid UTF-8 (seeded: the same every run).
                          Valid text: tiktoken's encode_ordinary (mode o) or encode(...,
                          allowed_special="all") (mode s). Invalid UTF-8 (mode o): tiktoken cannot
                          take bytes, so the reference is the per-byte convention of
                          docs/tokenizer.md: the `regex` module splits
                          bytes.decode("utf-8", "surrogateescape") with tiktoken's own pattern
                          (a lone surrogate is class Cs: "other"), and each piece, encoded back
                          with surrogateescape, goes through tiktoken's _encode_single_piece.
  hf_trained.json         a byte-level BPE trained here by PyPI `tokenizers` (GPT-2-style Split
                          pattern, NFC), written by `tokenizers` itself;
  hf_trained_ids.tsv.zst  the ids `tokenizers` gives for the HF test strings with it;
  hf_hyperlm.json         a tokenizer trained by `hyperlm tokenizer train` (o200k pattern, NFC),
                          written by HyperLM (needs --hyperlm or $HLM_BIN; skipped otherwise);
  hf_hyperlm_ids.tsv.zst  the ids `tokenizers` gives for the HF test strings with that file.

Line format of the .tsv files: MODE TAB base64(input bytes) TAB ids separated by spaces; MODE is
o (ordinary: special-token text is plain text) or s (special-token text maps to its id; always
so for `tokenizers`, which matches added tokens in every encode). Lines starting with # are
comments. Deterministic: running it twice gives the same files (zstd -19, no timestamps).
"""
import argparse
import base64
import glob
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

import nsmc  # tools/nsmc.py, beside this script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "tokenizer")
SHARED = os.environ.get("HLM_SHARED", os.path.normpath(os.path.join(REPO, "..", "shared")))
ENCODINGS = {"gpt2": "r50k_base", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}
SPECIAL = "<|endoftext|>"


def tiktoken_encoding(name):
    """tiktoken's own definition of the encoding, with the rank file read from $HLM_SHARED."""
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as public

    path = os.path.join(SHARED, "tokenizers", name + ".tiktoken")
    # openai_public's constructors download the file; hand them the local one instead.
    public.load_tiktoken_bpe = lambda url, expected_hash=None: tiktoken.load.load_tiktoken_bpe(path)
    spec = getattr(public, ENCODINGS[name])()
    spec.pop("explicit_n_vocab", None)
    spec["name"] = name
    return tiktoken.Encoding(**spec)


# ---- test strings ----

KOREAN = [
    "안녕하세요, 세계!",
    "전체관람가는 아닌것 같아요",
    "디렉터스컷으로봐서 거의 3시간짜리인데 참 흡인력있다",
    "ㅋㅋㅋㅋ 진짜 재밌네요ㅠㅠ 강추!!!",
    "한국어 토크나이저는 음절을 잘 묶어야 합니다.",
    "서울특별시 강남구 테헤란로 123, 4층 (우편번호 06234)",
    "뷁 똠 쀍 햏 괜찮아요? 네~ 괜찮습니다^^",
]

HAND = [
    "", "a", " ", "  ", "\n", "\r\n", "Hello world", "Hello, world!", " Hello world  ",
    "The quick brown fox jumps over the lazy dog.\n",
    "I'm sure you'll see they've done what we'd said: it's John's.",
    "'S 'T 'RE 'VE 'M 'LL 'D 's 't 're 've 'm 'll 'd 'ſ 'ſt 'K 'Ll",
    "don't DON'T Don'T can't won't y'all o'clock rock'n'roll",
    "1234567890 3.14159 1,000,000 -42 +7e10 0x1F 2024-11-29 12:30:45",
    "0000000000000000000001",
    "   leading and trailing spaces   ",
    "tabs\tand\t\ttabs\t",
    "line one\nline two\r\nline three\rline four\n\n\n",
    "trailing newline spaces  \n  \n",
    "  \n\n  x  \n", " \r\n\r\n \t\n", "\u00a0\u00a0nbsp\u3000ideographic\u2028sep\u0085nel",
    "def f(x):\n    return x ** 2  # square\n\n\nclass A:\n\tpass\n",
    "for (int i = 0; i < n; i++) { a[i] = b[i] + c[i]; }",
    "https://example.com/path/to/page?query=1&b=two#frag", "user@example.com",
    "<html><body><p class=\"x\">Hi</p></body></html>", "// comment /* block */ /// ///\n//\n",
    "Ünïcödé çåñ bé tricky: naïve café résumé", "e\u0301 a\u0308 o\u0302 \u0301\u0301",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "สวัสดีชาวโลก", "你好，世界！我们在北京。", "こんにちは世界、カタカナ ﾊﾝｶｸ", "Ǆǅǆ ǈ ʰʲ ˇ ー ｰ",
    "½ ² ³ Ⅻ ① ٣ ໑ ⅷ", "ﬁ ﬂ ß ẞ İ ı K Å", "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇰🇷🇺🇸 ❤️ ✔️",
    "\u200b\ufeff\u00ad\ue000\ufffd", "a\u200db", "!!!???...,,,;;;", "$$$ %%% &&& *** @@@ ###",
    "....////\n\n////", " !\n/ ?\r\n/x", "A'S b'ſ ſ'ſ", "HTTPServerError XMLHttpRequest iPhone eBay",
    "CamelCaseWordsAndUPPERCASEWords lowerUPPERlower",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext|", "<|endoftext|>>",
    "<|fim_prefix|>def f(<|fim_suffix|>) pass<|fim_middle|>", "<|endofprompt|> ok", "<|im_start|>",
] + KOREAN + [unicodedata.normalize("NFD", k) for k in KOREAN]

WORDS = ("the of and to in is was for that on with as by at from it his an were are which be this "
         "has also had not or first one their its new after who they have her she two been other "
         "when there all during into school time may years more most only over city some world "
         "would where later up such used many can state about national out known university "
         "united then made however under including well part three since while government "
         "don't it's we're they've I'll she'd Mr. Dr. U.S. 1990 2024 3.5 100,000").split()


def long_english(rng, size):
    out, n = [], 0
    while n < size:
        sent = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18)))
        sent = sent[0].upper() + sent[1:] + rng.choice([".", ".", "!", "?", ":", ";"])
        sep = rng.choice([" ", " ", " ", "\n", "\n\n", "  "])
        out.append(sent + sep)
        n += len(sent) + len(sep)
    return "".join(out)[:size]


def korean_reviews(n_bytes):
    return nsmc.reviews(SHARED, n_bytes)


def char_pool():
    """A stressing pool: every class boundary the three patterns care about."""
    pool = []
    pool += list("abcdefghijklmnopqrstuvwxyz") * 3 + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ") * 2
    pool += list("0123456789") * 2
    pool += [" "] * 25 + ["  ", "\n", "\n", "\r\n", "\r", "\t", "\u00a0", "\u3000", "\u2028", "\u0085",
                          "\u000b", "\u000c", "\u2009", "\u1680"]
    pool += list(".,!?;:'\"-_/\\()[]{}<>@#$%^&*+=|~`") * 2
    pool += ["'s", "'S", "'ſ", "'ll", "'LL", "'Ve", "'re", "'d", "'M", "'T", "ſ", "\u212a"]
    pool += list("가나다라마바사아자차카타파하한국어토큰음절뷁똠쀍햏") + ["ㅋ", "ㅠ", "ㄱ", "ㅏ"]
    pool += ["\u1100", "\u1161", "\u11a8", "\u1112\u1161\u11ab"]  # conjoining jamo: NFC composes them
    pool += list("éñüçåøßÉÑÜ") + ["e\u0301", "\u0301", "\u0308", "\u20dd", "\u0300\u0301"]
    pool += list("中文字日本語ひらがなカタカナﾊﾝｶｸ") + list("ПриветмирΓειάσουمرحباשלוםनमस्तेสวัสดี")
    pool += list("ǅǈʰˇー½²³Ⅻ①٣໑ⅷﬁİıÅ")
    pool += ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇰🇷", "❤\ufe0f", "\u200b", "\ufeff", "\u00ad", "\ue000", "\ufffd"]
    pool += ["<|endoftext|>", "<|", "|>", "<|fim_prefix|>"]
    return pool


def random_strings(rng, pool, n):
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 30))) for _ in range(n)]


INVALID_BITS = [b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xf5", b"\xff", b"\xfe", b"\xe4\xb8", b"\xf0\x9f",
                b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xe0\x80\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
                b"\xc3", b"\xe2\x82"]


def invalid_strings(rng, pool, n):
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 16)):
            parts.append(rng.choice(INVALID_BITS) if rng.random() < 0.35 else rng.choice(pool).encode("utf-8"))
        out.append(b"".join(parts))
    return out


def reference_bytes(enc, regex_mod, data):
    """ids for arbitrary bytes: per-byte convention for invalid UTF-8 (see the module doc)."""
    text = data.decode("utf-8", "surrogateescape")
    ids = []
    for piece in regex_mod.compile(enc._pat_str).findall(text):
        ids += enc._encode_single_piece(piece.encode("utf-8", "surrogateescape"))
    return ids


def tsv_line(mode, data, ids):
    return f"{mode}\t{base64.b64encode(data).decode()}\t{' '.join(map(str, ids))}\n"


def write_zst(path, text):
    tmp = path + ".tmp"
    subprocess.run(["zstd", "-q", "-19", "-f", "-o", tmp], input=text.encode("utf-8"), check=True)
    os.replace(tmp, path)
    print(f"  wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path)} bytes)")


def gen_tiktoken():
    import regex

    rng = random.Random(20241129)
    pool = char_pool()
    randoms = random_strings(rng, pool, 2500)
    invalid = invalid_strings(rng, pool, 400)
    longs = [long_english(rng, 50_000), korean_reviews(50_000), "a" * 50_000, "1234567890" * 5_000,
             " " * 20_000 + "x", "\n" * 10_000 + " " * 10_000, "ab" * 25_000, "가" * 17_000,
             unicodedata.normalize("NFD", korean_reviews(20_000))]
    for name in ENCODINGS:
        enc = tiktoken_encoding(name)
        lines = [f"# {name}: PyPI tiktoken {__import__('tiktoken').__version__}, "
                 f"tools/gen_tokenizer_fixtures.py\n"]
        mismatch = 0
        for s in HAND + randoms + longs:
            data = s.encode("utf-8")
            ids = enc.encode_ordinary(s)
            lines.append(tsv_line("o", data, ids))
            if len(data) < 1000 and reference_bytes(enc, regex, data) != ids:
                mismatch += 1  # the regex module and tiktoken's fancy-regex disagree
            if "<|" in s:
                lines.append(tsv_line("s", data, enc.encode(s, allowed_special="all")))
        for data in invalid:
            lines.append(tsv_line("o", data, reference_bytes(enc, regex, data)))
        if mismatch:
            print(f"  warning: {name}: the regex-module reference differs from tiktoken on {mismatch} valid strings",
                  file=sys.stderr)
        write_zst(os.path.join(OUT, f"tiktoken_{name}.tsv.zst"), "".join(lines))


def hf_strings(rng):
    pool = [c for c in char_pool() if c not in ("\ufeff",)]
    strings = [s for s in HAND if s] + random_strings(rng, pool, 600)
    strings += [unicodedata.normalize("NFD", s) for s in random_strings(rng, pool, 100)]
    strings += [long_english(rng, 20_000), korean_reviews(20_000)]
    return strings


def hf_training_corpus(path):
    text = korean_reviews(400_000) + "\n"
    for lic in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.basename(lic) in ("GPL-3", "Apache-2.0", "MPL-2.0"):
            with open(lic, encoding="utf-8", errors="replace") as f:
                text += f.read()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def hf_ids_file(tok_json, strings, out_name, note):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tok_json)
    lines = [f"# {note}\n"]
    for s in strings:
        lines.append(tsv_line("s", s.encode("utf-8"), tok.encode(s, add_special_tokens=False).ids))
    write_zst(os.path.join(OUT, out_name), "".join(lines))


def gen_hf(hyperlm):
    import tiktoken_ext.openai_public as public
    import tokenizers
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, decoders, trainers

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # deterministic training
    rng = random.Random(4242)
    strings = hf_strings(rng)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        hf_training_corpus(corpus)

        # 1. trained and written by Hugging Face tokenizers
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(public.r50k_pat_str), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=[SPECIAL],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train([corpus], trainer)
        path = os.path.join(OUT, "hf_trained.json")
        tok.save(path + ".tmp")
        os.replace(path + ".tmp", path)
        print(f"  wrote {os.path.relpath(path, REPO)}")
        hf_ids_file(path, strings, "hf_trained_ids.tsv.zst", f"hf_trained.json: PyPI tokenizers {tokenizers.__version__}")

        # 2. trained and written by HyperLM, read by Hugging Face tokenizers
        if not hyperlm:
            print("  skipped hf_hyperlm.json: no hyperlm binary (--hyperlm or $HLM_BIN)")
            return
        path = os.path.join(OUT, "hf_hyperlm.json")
        subprocess.run([hyperlm, "-q", "tokenizer", "train", "--input", corpus, "--vocab-size", "1200",
                        "--special", SPECIAL, "--threads", "1", "--output", path], check=True)
        print(f"  wrote {os.path.relpath(path, REPO)}")
        hf_ids_file(path, strings, "hf_hyperlm_ids.tsv.zst", f"hf_hyperlm.json: PyPI tokenizers {tokenizers.__version__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hyperlm", default=os.environ.get("HLM_BIN"), help="hyperlm binary (default: $HLM_BIN)")
    ap.add_argument("--only", choices=["tiktoken", "hf"])
    args = ap.parse_args()
    if args.hyperlm is None:
        for cand in ("build/hyperlm", "build-tok/hyperlm"):
            if os.access(os.path.join(REPO, cand), os.X_OK):
                args.hyperlm = os.path.join(REPO, cand)
                break
    os.makedirs(OUT, exist_ok=True)
    if args.only in (None, "tiktoken"):
        gen_tiktoken()
    if args.only in (None, "hf"):
        gen_hf(args.hyperlm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
