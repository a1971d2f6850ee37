#!/usr/bin/env python3
"""Writes the SentencePiece fixtures into tests/fixtures/spm/ (`make fixtures`).

usage: gen_spm_fixtures.py

Trains a small SentencePiece BPE model (PyPI `sentencepiece`) the way Llama's tokenizer.model is
configured: model_type bpe, byte_fallback (the 256 pieces <0x00>..<0xFF>), identity normalization,
add_dummy_prefix on, remove_extra_whitespaces off, whitespace-only pieces allowed, unk 0, bos 1,
eos 2, and a few user-defined symbols. The training text is English made here from word lists
with a seeded generator, plus Korean: the first NSMC reviews (../shared/data/nsmc) when that file
is present, else Korean sentences made the same way from the words below (the committed fixture
was made with NSMC; without it the vocabulary differs, and tests/tokenizer/test_spm.c still
checks whatever this script writes, since both files come from the same run).

  vocab.gguf   the tokenizer as llama.cpp's converter writes a SentencePiece vocabulary
               (convert_hf_to_gguf.py, _set_vocab_sentencepiece), with gguf-py's GGUFWriter:
               tokenizer.ggml.model "llama", tokens, scores (float32), token_type (int32: 1
               normal, 2 unknown, 3 control, 4 user-defined, 6 byte), bos/eos/unk ids,
               add_bos_token true, add_eos_token false, add_space_prefix true; plus the few
               llama.* hyperparameters llama.cpp reads before it loads a vocabulary; no tensors
  cases.jsonl  one JSON object per line: "text", "hex" (its UTF-8 bytes, for readers whose JSON
               strings stop at a NUL), "ids" (sentencepiece's encode: no BOS) and "decoded"
               (sentencepiece's decode of those ids)

When llama-cpp-python is installed (~/.cache/hyperlm/llamacpp-noamx/bin/python, or $LLAMACPP_PYTHON)
the vocabulary is also loaded there (vocab_only) and llama.cpp's tokenize(add_bos=True,
special=False) is compared with [bos] + sentencepiece's ids; the agreement is printed, it is
not part of the fixtures.

Needs sentencepiece and gguf. Deterministic: running it twice writes the same bytes.
"""
import io
import json
import os
import random
import subprocess
import sys
import tempfile

import sentencepiece as spm
import gguf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(os.environ.get("HLM_FIXTURES", os.path.join(REPO, "tests", "fixtures")), "spm")
SHARED = os.environ.get("HLM_SHARED", os.path.join(REPO, "..", "shared"))

USER_DEFINED = ["<sep>", "<mask>", "[IMG]", "<|im_start|>"]
VOCAB_SIZE = 1800

EN_WORDS = ("the a an of to and in is was for on that with as by at from it this be are were "
            "model token tokenizer text data train training language piece sentence byte merge "
            "score vocabulary space prefix encode decode stream file metadata key value error "
            "quick brown fox jumps over lazy dog hello world small large fast slow test case "
            "number letter word line paragraph book story people time year day way thing man "
            "woman child life world hand part place week company system program question work "
            "government night point home water room mother area money month lot right study "
            "running walked talking reading written spoken understood beautiful important "
            "different following without within between through during before after under").split()
KO_WORDS = ("영화 정말 너무 재미 있어요 없어요 배우 연기 최고 최악 감동 스토리 시간 아깝다 "
            "좋아요 별로 그냥 보고 봤는데 다시 보고싶다 추천 합니다 했어요 이 그 저 우리 "
            "사람 마음 눈물 웃음 음악 장면 감독 작품 결말 처음 마지막 진짜 완전 약간 "
            "한국 세계 오늘 내일 어제 친구 가족 함께 혼자 생각 이야기 느낌 기억 사랑").split()
PUNCT = [".", ",", "!", "?", "...", ";", ":"]


def english(rng, n):
    out = []
    for _ in range(n):
        words = [rng.choice(EN_WORDS) for _ in range(rng.randint(3, 16))]
        if rng.random() < 0.3:
            words.insert(rng.randint(0, len(words)), str(rng.randint(0, 99999)))
        s = " ".join(words)
        out.append(s[0].upper() + s[1:] + rng.choice(PUNCT))
    return out


def korean_made(rng, n):
    return [" ".join(rng.choice(KO_WORDS) for _ in range(rng.randint(2, 10))) + rng.choice(PUNCT) for _ in range(n)]


def korean_nsmc(n):
    path = os.path.join(SHARED, "data", "nsmc", "reviews.tsv.zst")
    if not os.path.exists(path):
        return None
    out = []
    with subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE) as p:
        next(p.stdout)  # header
        for line in p.stdout:
            cols = line.decode("utf-8").rstrip("\n").split("\t")
            if len(cols) >= 4 and cols[3]:
                out.append(cols[3])
            if len(out) >= n:
                break
        p.kill()
    return out


def train(lines):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=VOCAB_SIZE,
        byte_fallback=True, character_coverage=0.995, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        split_digits=False, user_defined_symbols=USER_DEFINED, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, minloglevel=2, input_sentence_size=0, shuffle_input_sentence=False)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def token_type(sp, i):
    # llama.cpp's SentencePieceTokenTypes
    if sp.IsUnknown(i):
        return 2
    if sp.IsControl(i):
        return 3
    if sp.IsUnused(i):
        return 5
    if sp.IsByte(i):
        return 6
    # sentencepiece has no IsUserDefined in every version: a user-defined piece is one listed
    return 4 if sp.IdToPiece(i) in USER_DEFINED else 1


def write_gguf(sp, path):
    w = gguf.GGUFWriter(path, "llama")
    # what llama.cpp's hparams loader requires before it reads a vocabulary
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(16)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    n = sp.GetPieceSize()
    w.add_token_list([sp.IdToPiece(i).encode("utf-8") for i in range(n)])
    w.add_token_scores([sp.GetScore(i) for i in range(n)])
    w.add_token_types([token_type(sp, i) for i in range(n)])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def cases(rng, held_out):
    fixed = [
        "", " ", "  ", "   ", "a", "Hello world", "Hello world.", "hello  world", "hello   world  again",
        "  leading spaces", "trailing spaces   ", "   both   ", "\n", "\n\n", "line one\nline two\n",
        "tab\tseparated\tvalues", "\tleading tab", "CRLF line\r\nnext", "mixed \t \n whitespace",
        "The quick brown fox jumps over the lazy dog.", "UPPER lower MiXeD", "numbers 0123456789 3.14159",
        "punctuation!?.,;:'\"()[]{}<>", "email@example.com https://example.com/path?q=1",
        "영화 정말 재미있어요", "너무 감동적인 영화였습니다. 다시 보고 싶어요!", " 한국어 앞 공백", "한국어 뒤 공백 ",
        "Korean 한국어 mixed 영어 text", "똠방각하 쀍 햏",  # rare syllables: byte fallback
        "emoji 🤖🚀 and 😀", "🤖", "rare: Ωπ∑ ∀x∃y 漢字 かな", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "ÅÉÎØÜ ñ ß",
        "zero\u200bwidth", "\u00a0non-breaking\u00a0space", "\u2581 literal lower one eighth block", "a\u2581b",
        "<sep>", "foo<sep>bar", "<sep> hello <mask>", " <sep>", "<sep><sep>", "a [IMG] b", "<mask>x",
        "<|im_start|>user", "<|im_start|><sep>",
        "<s>", "</s>", "<unk>", "<s>hello</s>", "<0x41>", "<0x", "<sep",
        "\x00nul", "\x7fdel\x01\x02", "a" * 300, " " * 50, "ab " * 100, "가" * 80,
    ]
    return fixed + held_out


def llamacpp_agreement(path, rows, bos):
    py = os.environ.get("LLAMACPP_PYTHON", os.path.expanduser("~/.cache/hyperlm/llamacpp-noamx/bin/python"))
    if not os.path.exists(py):
        print("gen_spm_fixtures: no llama-cpp-python; llama.cpp comparison skipped")
        return
    prog = r"""
import json, sys
from llama_cpp import Llama
m = Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
for line in sys.stdin:
    t = json.loads(line)
    print(json.dumps(m.tokenize(t.encode("utf-8"), add_bos=True, special=False)))
"""
    inp = "".join(json.dumps(r["text"]) + "\n" for r in rows)
    res = subprocess.run([py, "-c", prog, path], input=inp, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"gen_spm_fixtures: llama.cpp could not load the vocabulary: {res.stderr.strip()[-500:]}")
        return
    got = [json.loads(l) for l in res.stdout.splitlines()]
    agree, diffs = 0, []
    for r, g in zip(rows, got):
        want = [bos] + r["ids"]
        if g == want:
            agree += 1
        else:
            diffs.append((r["text"], want, g))
    print(f"gen_spm_fixtures: llama.cpp agrees with sentencepiece on {agree}/{len(rows)} cases")
    for text, want, g in diffs[:10]:
        print(f"  {text[:40]!r}: sentencepiece {want[:12]} llama.cpp {g[:12]}")


def main():
    rng = random.Random(20240531)
    ko = korean_nsmc(6000)
    source = "NSMC" if ko else "made-up Korean"
    if not ko:
        ko = korean_made(rng, 6000)
    en = english(rng, 6000)
    lines = en[:5000] + ko[:5000]
    rng.shuffle(lines)
    sp = train(lines)
    held_out = en[5000:5060] + ko[5000:5060]

    os.makedirs(OUT, exist_ok=True)
    gpath = os.path.join(OUT, "vocab.gguf")
    with tempfile.TemporaryDirectory() as td:
        tmp = os.path.join(td, "vocab.gguf")
        write_gguf(sp, tmp)
        with open(tmp, "rb") as f:
            data = f.read()
    with open(gpath, "wb") as f:
        f.write(data)

    rows = []
    for text in cases(rng, held_out):
        ids = sp.encode(text)
        rows.append({"text": text, "hex": text.encode("utf-8").hex(), "ids": ids, "decoded": sp.decode(ids)})
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_bytes = sum(1 for i in range(sp.GetPieceSize()) if sp.IsByte(i))
    print(f"gen_spm_fixtures: {sp.GetPieceSize()} pieces ({n_bytes} bytes, Korean from {source}), "
          f"{len(rows)} cases, vocab.gguf {len(data)} bytes")
    llamacpp_agreement(gpath, rows, sp.bos_id())


if __name__ == "__main__":
    sys.exit(main())
