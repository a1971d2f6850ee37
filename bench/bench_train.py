#!/usr/bin/env python3
"""BPE training: `hyperlm tokenizer train` against Hugging Face tokenizers (BpeTrainer) and
SentencePiece (`spm_train --model_type=bpe`), on the same text, vocabulary size and threads.

  bench_train.py HYPERLM [--input FILE] [--vocab-size N] [--threads 1,2] [--repeat N]

Input: by default the review column of $HLM_SHARED/data/nsmc/reviews.tsv.zst, the first ~5.2 MB
of text, one review per line, written to a temporary file (Korean: the case where byte-level BPE
has the most work, every syllable being three bytes).

Each program runs as its own subprocess, end to end (reading the file, training, writing the
model); wall time from a monotonic clock, peak memory from that child's own rusage (started by
/usr/bin/time, which reports it from wait4), so the figures never mix children. With --repeat N
the fastest run counts.

Settings, chosen to make the three do the same work:
  hyperlm   -q tokenizer train --pattern o200k (default) --min-frequency 2 (default), NFC.
  HF        BPE model, NFC normalizer, Split(o200k regex, isolated) + ByteLevel(no prefix space,
            no regex) pre-tokenizer, BpeTrainer(min_frequency=2, initial_alphabet = the 256
            byte-level characters, show_progress=False); RAYON_NUM_THREADS = threads. This is the
            same tokenizer as ours, so the bench also checks that the merges are identical.
  spm       --model_type=bpe --character_coverage=1.0 (keep every Korean syllable, as byte-level
            BPE does) --byte_fallback=true (every byte representable, as ours)
            --num_threads=threads; its default normalization (nmt_nfkc) and sentence sampling
            limits are left as they are (the corpus is below them). SentencePiece learns
            different units (whole characters first, no pre-tokenizer), so only its speed and
            memory compare.
Writes $HLM_BENCH_OUT/bench_train.md (and .png when matplotlib is there)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _report  # noqa: E402

O200K = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

HF_SCRIPT = r"""
import sys
from tokenizers import Tokenizer, Regex, decoders, models, normalizers, pre_tokenizers, trainers
path, vocab, out, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tok = Tokenizer(models.BPE())
tok.normalizer = normalizers.NFC()
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train([path], trainer)
tok.save(out)
"""


def default_input(shared, limit_bytes, tmpdir):
    src = os.path.join(shared, "data", "nsmc", "reviews.tsv.zst")
    if not os.path.exists(src):
        sys.exit(f"bench_train: no {src} (set HLM_SHARED or pass --input FILE)")
    raw = subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout.decode("utf-8")
    out, n = [], 0
    for line in raw.split("\n")[1:]:
        cols = line.split("\t")
        if len(cols) < 4:
            continue
        b = len(cols[3].encode("utf-8")) + 1
        if n + b > limit_bytes:
            break
        out.append(cols[3])
        n += b
    path = os.path.join(tmpdir, "nsmc-reviews.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return path


def run_child(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS bytes) of that child alone.

    The child is started by GNU time (a small process) rather than forked from this Python: a
    child's ru_maxrss keeps the high-water mark from before its exec, which for a fork of this
    process would include this process's memory (the decoded corpus)."""
    timed = ["/usr/bin/time", "-f", "HLM_MAXRSS_KB=%M"] + cmd if os.path.exists("/usr/bin/time") else cmd
    t0 = time.perf_counter()
    p = subprocess.Popen(timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    text = err.decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"bench_train: {' '.join(cmd)} failed ({p.returncode}):\n{text}")
    rss = ru.ru_maxrss * 1024
    for line in text.splitlines():
        if line.startswith("HLM_MAXRSS_KB="):
            rss = int(line.split("=", 1)[1]) * 1024
    return wall, rss


def best_of(n, cmd, env=None):
    runs = [run_child(cmd, env) for _ in range(n)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def merges_of(path):
    with open(path, encoding="utf-8") as f:
        m = json.load(f)["model"]["merges"]
    return [tuple(x.split(" ", 1)) if isinstance(x, str) else tuple(x) for x in m]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hyperlm")
    ap.add_argument("--input", help="a text file (default: ~5.2 MB of NSMC reviews)")
    ap.add_argument("--bytes", type=int, default=5_200_000, help="size of the default input")
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-spm", action="store_true", help="skip SentencePiece (the slowest)")
    a = ap.parse_args()
    shared = os.environ.get("HLM_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    out_dir = os.environ.get("HLM_BENCH_OUT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    python = os.environ.get("HLM_PYTHON", sys.executable)
    os.makedirs(out_dir, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="hlm-bench-train-") as tmp:
        path = a.input or default_input(shared, a.bytes, tmp)
        size = os.path.getsize(path)
        print(f"input: {path if a.input else 'NSMC reviews'}, {size / 1e6:.2f} MB; vocab {a.vocab_size}")
        header = ["program", "threads", "wall s", "peak RSS MB", "time / hyperlm", "memory / hyperlm"]
        rows, notes = [], []
        for threads in [int(t) for t in a.threads.split(",")]:
            ours_json = os.path.join(tmp, f"ours-{threads}.json")
            hf_json = os.path.join(tmp, f"hf-{threads}.json")
            results = []
            t, m = best_of(a.repeat, [a.hyperlm, "-q", "tokenizer", "train", "--input", path, "--vocab-size",
                                      str(a.vocab_size), "--output", ours_json, "--threads", str(threads)])
            results.append(("hyperlm", t, m))
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads), RAYON_RS_NUM_CPUS=str(threads))
            t, m = best_of(a.repeat, [python, "-c", HF_SCRIPT, path, str(a.vocab_size), hf_json, O200K], env)
            results.append(("HF tokenizers", t, m))
            if not a.no_spm:
                t, m = best_of(a.repeat, ["spm_train", f"--input={path}", f"--model_prefix={tmp}/spm",
                                          "--model_type=bpe", f"--vocab_size={a.vocab_size}",
                                          "--character_coverage=1.0", "--byte_fallback=true",
                                          f"--num_threads={threads}", "--minloglevel=2"])
                results.append(("spm_train bpe", t, m))
            ours_t, ours_m = results[0][1], results[0][2]
            for name, t, m in results:
                rows.append([name, threads, f"{t:.2f}", f"{m / 1e6:.0f}", f"{t / ours_t:.2f}x", f"{m / ours_m:.2f}x"])
            ours_merges, hf_merges = merges_of(ours_json), merges_of(hf_json)
            same = ours_merges == hf_merges
            notes.append(f"threads {threads}: hyperlm's {len(ours_merges)} merges are "
                         f"{'identical to' if same else 'NOT identical to'} HF's {len(hf_merges)}.")
            one_json = os.path.join(tmp, "ours-1.json")
            if threads != 1 and os.path.exists(one_json):
                with open(ours_json, "rb") as f1, open(one_json, "rb") as f2:
                    if f1.read() != f2.read():
                        notes.append(f"threads {threads}: tokenizer.json differs from the 1-thread one!")

    w = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(v).rjust(w[i]) if i else str(v).ljust(w[i]) for i, v in enumerate(r)))
    for n in notes:
        print(n)
    what = os.path.basename(a.input) if a.input else "Korean text (NSMC reviews)"
    title = f"BPE training, {size / 1e6:.1f} MB of {what}, vocab {a.vocab_size}"
    _report.write_markdown(os.path.join(out_dir, "bench_train.md"), title, header, rows,
                           notes + ["Wall time end to end (read, train, write) of each program as a subprocess; "
                                    "peak RSS of that process (wait4 rusage, via /usr/bin/time)."])
    one = [r for r in rows if r[1] == 1] or rows
    _report.write_bar_chart(os.path.join(out_dir, "bench_train.png"), title + ", 1 thread",
                            [r[0] for r in one], [float(r[2]) for r in one], "seconds (lower is better)")
    print(f"bench_train: wrote {out_dir}/bench_train.md")
    return 0 if all("NOT" not in n and "differs" not in n for n in notes) else 1


if __name__ == "__main__":
    sys.exit(main())
