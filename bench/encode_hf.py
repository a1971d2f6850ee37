#!/usr/bin/env python3
"""Encoding speed and exactness with a Hugging Face tokenizer.json: HyperLM's encoder
(bench_encode) against PyPI `tokenizers` (Hugging Face), the same tokenizer.json, the same bytes,
on English and Korean text.

  encode_hf.py [HYPERLM] [--runs N] [--threads N] [--mb N] [--tokenizer PATH] [--train-mb N]
               [--vocab-size N] [--no-whole]

The tokenizer: with --tokenizer PATH, that tokenizer.json. Otherwise `hyperlm -q tokenizer train
--vocab-size 32000` (o200k pattern, NFC, the defaults) on the first --train-mb MB (default 5, cut
at a line end) of the Korean input below, written to a temporary file; the English input is
then text it never saw, the Korean one contains its training text.

The peer, one thread (RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false, set before
`tokenizers` is imported): Tokenizer.from_file() on the same tokenizer.json, add_special_tokens=
False, best of --runs (default 3) of each of
  encode_batch       the text's lines (split at '\\n' only, without it), one call: how it is
                     used; it also computes offsets for every token
  encode_batch_fast  the same without offsets (tokenizers >= 0.20)
  encode             the whole text in one call (skipped with --no-whole: it is the slowest,
                     its offsets bookkeeping on one long string dominates)
The peer's figure is the fastest of these modes.
Ours, one thread: bench_encode (from $HLM_BENCH_DIR, or the folder of HYPERLM) --threads 1:
hlm_tokenizer_encode on the whole text, and hlm_tokenizer_encode_batch on the same lines, best
of --runs each; our figure is the faster of the two. The ratio is ours / the peer's.
Exactness, id for id (any difference fails the benchmark): the peer's encode_batch ids of every
line against `hyperlm tokenizer encode --lines`, and the peer's whole-text ids against
bench_encode's (unless --no-whole).
For information, --threads N (default 2; 1 leaves it out): the peer's encode_batch and
encode_batch_fast in a child Python with RAYON_NUM_THREADS=N (the faster counts) against our
hlm_tokenizer_encode_batch on N threads (bench_encode --threads N).

Inputs: those of bench/encode.py (its english_text and korean_text), at most --mb MB each
(default 20); their size and SHA-256 are printed.
Writes $HLM_BENCH_OUT/encode_hf.md (and encode_hf.png with matplotlib)."""
import argparse
import array
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _report  # noqa: E402
import encode as enc_bench  # noqa: E402

HF_MODES = ("encode_batch", "encode_batch_fast")


def best_of(runs, fn):
    best, out = float("inf"), None
    for _ in range(runs):
        out = None  # free the previous result outside the timed region
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def hf_batch_times(tok, lines, runs):
    """{mode: best seconds} for the per-line modes; and encode_batch's ids, one string of
    space-separated ids per line (made before the next mode runs: the Encodings are large)."""
    times, ref = {}, None
    for mode in HF_MODES:
        if hasattr(tok, mode):
            times[mode], out = best_of(runs, lambda: getattr(tok, mode)(lines, add_special_tokens=False))
            if mode == "encode_batch":
                ref = [" ".join(map(str, e.ids)) for e in out]
            del out
    return times, ref


def hf_worker(argv):
    """Child process (--hf-worker TOKENIZER FILE RUNS), started with RAYON_NUM_THREADS set:
    prints the per-line modes' best times as JSON."""
    from tokenizers import Tokenizer

    tok_path, path, runs = argv[0], argv[1], int(argv[2])
    tok = Tokenizer.from_file(tok_path)
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    times, _ = hf_batch_times(tok, lines, runs)
    print(json.dumps(times))
    return 0


def hf_threads(tok_path, path, runs, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--hf-worker", tok_path, path, str(runs)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def our_lines(hyperlm, tok_path, path, threads):
    """`hyperlm tokenizer encode --lines`: one string of space-separated ids per input line."""
    out = subprocess.run([hyperlm, "-q", "tokenizer", "encode", "-t", tok_path, "--lines", "--threads",
                          str(threads), path], check=True, capture_output=True).stdout
    return out.decode("ascii").split("\n")[:-1]


def compare_lines(label, ref, ours):
    """Index of the first differing line, or None."""
    for i, (a, b) in enumerate(zip(ref, ours)):
        if a != b:
            print(f"  MISMATCH {label} line {i + 1}:\n    tokenizers: {a[:300]}\n    hyperlm:    {b[:300]}",
                  file=sys.stderr)
            return i
    if len(ref) != len(ours):
        print(f"  MISMATCH {label}: {len(ours)} lines of ids vs tokenizers' {len(ref)}", file=sys.stderr)
        return min(len(ref), len(ours))
    return None


def train(hyperlm, korean, train_mb, vocab, threads, tmp):
    data = korean[:int(train_mb * 1e6)]
    if len(data) < len(korean) and b"\n" in data:
        data = data[:data.rindex(b"\n") + 1]
    path = os.path.join(tmp, "train.txt")
    with open(path, "wb") as f:
        f.write(data)
    tok_path = os.path.join(tmp, f"korean-{vocab}.json")
    t0 = time.perf_counter()
    subprocess.run([hyperlm, "-q", "tokenizer", "train", "--input", path, "--vocab-size", str(vocab), "--output",
                    tok_path, "--threads", str(threads)], check=True)
    print(f"tokenizer: trained {vocab} ids on the first {len(data) / 1e6:.2f} MB of the Korean input "
          f"in {time.perf_counter() - t0:.2f} s")
    return tok_path, f"a {vocab}-id tokenizer trained by `hyperlm tokenizer train` (defaults: o200k pattern, NFC) " \
                     f"on the first {len(data) / 1e6:.2f} MB of the Korean input"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--hf-worker":
        return hf_worker(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hyperlm", nargs="?", default=os.environ.get("HLM_BIN"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--tokenizer", help="a tokenizer.json to use instead of training one")
    ap.add_argument("--train-mb", type=float, default=5)
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--no-whole", action="store_true", help="skip the peer's whole-text encode")
    args = ap.parse_args()
    if not args.hyperlm or not os.access(args.hyperlm, os.X_OK):
        print("encode_hf.py: needs the hyperlm binary as its first argument (or $HLM_BIN)", file=sys.stderr)
        return 2
    hyperlm = os.path.abspath(args.hyperlm)
    prog = enc_bench.bench_program(hyperlm)
    if not prog:
        return 1
    nsmc = os.path.join(enc_bench.shared_dir(), "data", "nsmc", "reviews.tsv.zst")
    if not os.path.exists(nsmc):
        print(f"encode_hf.py: SKIPPED: {nsmc} not found")
        return 0
    # one thread for the peer in this process: before `tokenizers` is first imported
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import tokenizers
    from tokenizers import Tokenizer

    limit = int(args.mb * 1e6)
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for label, data in (("english", enc_bench.english_text(limit)), ("korean", enc_bench.korean_text(limit))):
            path = os.path.join(tmp, label + ".txt")
            with open(path, "wb") as f:
                f.write(data)
            print(f"input {label}: {len(data) / 1e6:.2f} MB, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
            inputs.append((label, path, data))
        if args.tokenizer:
            tok_path, tok_note = os.path.abspath(args.tokenizer), f"the tokenizer {args.tokenizer}"
        else:
            tok_path, tok_note = train(hyperlm, inputs[1][2], args.train_mb, args.vocab_size, args.threads, tmp)
        tok = Tokenizer.from_file(tok_path)
        ids_path = os.path.join(tmp, "ids.bin")
        for label, path, data in inputs:
            mb = len(data) / 1e6
            text = data.decode("utf-8")
            lines = text.split("\n")  # the lines of bench_encode's batch, the last one empty after a final '\n'
            # the peer, one thread
            times, ref_lines = hf_batch_times(tok, lines, args.runs)
            if text.endswith("\n"):
                ref_lines.pop()  # `encode --lines` prints no line for the empty end
            whole_ids = None
            if not args.no_whole:
                times["encode"], enc = best_of(args.runs, lambda: tok.encode(text, add_special_tokens=False))
                whole_ids = array.array("I", enc.ids)
                del enc
            peer_mode = min(times, key=times.get)
            peer = mb / times[peer_mode]
            # ours, one thread: whole text, and the lines as a batch
            one, one_lines, ids = enc_bench.bench_ours(prog, tok_path, path, args.runs, 1, ids_path)
            ours = max(one, one_lines)
            # exactness
            bad = compare_lines(label, ref_lines, our_lines(hyperlm, tok_path, path, args.threads))
            if whole_ids is not None and ids != whole_ids:
                first = next((i for i, (a, b) in enumerate(zip(ids, whole_ids)) if a != b), min(len(ids), len(whole_ids)))
                print(f"  MISMATCH {label} whole text: {len(ids)} ids vs tokenizers' {len(whole_ids)}, "
                      f"first difference at {first}", file=sys.stderr)
                bad = first if bad is None else bad
            same = bad is None
            failures += not same
            del ref_lines, whole_ids
            # N threads, for information
            multi_peer = multi = None
            if args.threads > 1:
                t = hf_threads(tok_path, path, args.runs, args.threads)
                multi_peer = mb / min(t.values())
                _, multi, _ = enc_bench.bench_ours(prog, tok_path, path, args.runs, args.threads, ids_path)

            def f(v):
                return "-" if v is None else f"{v:.2f}"

            rows.append([label, f"{len(ids)}", f(mb / times["encode_batch"]), f(mb / times["encode_batch_fast"])
                         if "encode_batch_fast" in times else "-", f(mb / times["encode"]) if "encode" in times else "-",
                         f(one), f(one_lines), f"{ours / peer:.2f}x", f(multi_peer), f(multi),
                         f"{multi / multi_peer:.2f}x" if multi else "-", "yes" if same else "NO"])
            print(f"{label:8s} tokenizers {peer:7.2f} MB/s ({peer_mode})   hyperlm {ours:7.2f} MB/s "
                  f"(whole {one:.2f}, lines {one_lines:.2f})   ratio {ours / peer:.2f}x   ids identical: "
                  f"{'yes' if same else 'NO'}", flush=True)
            if multi:
                print(f"{'':8s} {args.threads} threads: tokenizers {multi_peer:7.2f} MB/s   hyperlm {multi:7.2f} MB/s "
                      f"({multi / multi_peer:.2f}x)", flush=True)
    n = args.threads
    header = ["text", "tokens", "tokenizers encode_batch MB/s", "tokenizers encode_batch_fast MB/s",
              "tokenizers encode (whole text) MB/s", "hyperlm whole text MB/s", "hyperlm batch of lines MB/s",
              "ratio (faster / faster)", f"tokenizers {n} threads MB/s", f"hyperlm {n} threads MB/s",
              f"ratio {n} threads", "same ids"]
    out_dir = os.environ.get("HLM_BENCH_OUT", os.path.join(enc_bench.REPO, "bench", "out"))
    os.makedirs(out_dir, exist_ok=True)
    notes = [f"Hugging Face tokenizers {tokenizers.__version__}; {tok_note}. Best of {args.runs} runs; inputs of up "
             f"to {args.mb:g} MB each, those of bench/encode.py.",
             "One thread unless said: the peer with RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false. Lines: the "
             "text split at '\\n', one call for all of them (encode_batch, encode_batch_fast: no offsets); whole "
             "text: one call. The ratio is the faster of hyperlm's two modes over the fastest of the peer's.",
             f"{n} threads, for information: the peer's faster of encode_batch and encode_batch_fast with "
             f"RAYON_NUM_THREADS={n} against hlm_tokenizer_encode_batch on {n} threads, the same lines.",
             "Same ids: the peer's encode_batch ids of every line equal `hyperlm tokenizer encode --lines`, and "
             "its whole-text ids equal bench_encode's (see bench/encode_hf.py)."]
    if args.threads <= 1:
        header, rows = header[:8] + header[-1:], [r[:8] + r[-1:] for r in rows]
        del notes[2]
    _report.write_markdown(os.path.join(out_dir, "encode_hf.md"),
                           "Encoding a tokenizer.json: hyperlm vs Hugging Face tokenizers (1 thread)", header, rows,
                           notes=notes)
    _report.write_bar_chart(os.path.join(out_dir, "encode_hf.png"),
                            "Encode speed ratio hyperlm / HF tokenizers (1 thread)", [r[0] for r in rows],
                            [float(r[7][:-1]) for r in rows], "ratio")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
