#!/usr/bin/env python3
"""Encoding speed and exactness: HyperLM's encoder (bench_encode) against PyPI tiktoken, on the
same bytes, for gpt2 (r50k_base), cl100k_base and o200k_base, on English and Korean text.

  encode.py [HYPERLM] [--runs N] [--threads N] [--mb N] [--encodings gpt2,cl100k_base,o200k_base]

The peer: tiktoken built offline from $HLM_SHARED/tokenizers/<enc>.tiktoken with the pattern and
special tokens of its own tiktoken_ext/openai_public.py, encode_ordinary() on the whole text (one
call: tiktoken's core is single-threaded per call), best of --runs (default 5), wall time.
Ours: bench_encode (from $HLM_BENCH_DIR, or the folder of HYPERLM), hlm_tokenizer_encode on the
whole text in one thread, best of --runs; its ids are written to a file and compared with
tiktoken's, id for id: any difference fails the benchmark. The N-thread figure
(hlm_tokenizer_encode_batch, one document per line) is shown for information; tiktoken has no
equivalent single call.

Inputs (built into a temporary folder, the same bytes for both; at most --mb MB each, default 20):
  english  /usr/share/common-licenses/* then /usr/share/doc/*/copyright, in sorted path order,
           each decoded as UTF-8 with invalid bytes replaced (U+FFFD), joined with newlines:
           licence and copyright prose of the Debian packages on this machine. Reproducible on
           the same system image; its size and SHA-256 are printed.
  korean   the review column of $HLM_SHARED/data/nsmc/reviews.tsv.zst, one review per line.
Writes $HLM_BENCH_OUT/encode.md (and encode.png with matplotlib)."""
import argparse
import array
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _report  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import nsmc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENCODINGS = {"gpt2": "r50k_base", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}


def shared_dir():
    return os.environ.get("HLM_SHARED") or os.path.normpath(os.path.join(REPO, "..", "shared"))


def tiktoken_encoding(name):
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as public

    path = os.path.join(shared_dir(), "tokenizers", name + ".tiktoken")
    public.load_tiktoken_bpe = lambda url, expected_hash=None: tiktoken.load.load_tiktoken_bpe(path)
    spec = getattr(public, ENCODINGS[name])()
    spec.pop("explicit_n_vocab", None)
    spec["name"] = name
    return tiktoken.Encoding(**spec)


def bench_program(hyperlm, name="bench_encode"):
    """The compiled bench program NAME: in $HLM_BENCH_DIR, else next to HYPERLM, else in build/.
    None (after a message) when it is not there."""
    bench_dir = os.environ.get("HLM_BENCH_DIR") or (os.path.dirname(os.path.abspath(hyperlm)) if hyperlm
                                                    else os.path.join(REPO, "build"))
    prog = os.path.join(bench_dir, name)
    if not os.access(prog, os.X_OK):
        print(f"{os.path.basename(sys.argv[0])}: no {name} in {bench_dir} "
              f"(build it: cmake --build BUILD --target {name})", file=sys.stderr)
        return None
    return prog


def english_text(limit):
    parts = []
    for p in sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright")):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                parts.append(f.read().decode("utf-8", "replace"))
    data = "\n".join(parts).encode("utf-8")[:limit]
    return data.decode("utf-8", "ignore").encode("utf-8")  # do not end inside a character


def korean_text(limit):
    text = nsmc.reviews(shared_dir(), limit) + "\n"
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore").encode("utf-8")


def bench_tiktoken(enc, text, runs):
    best, ids = float("inf"), None
    for _ in range(runs):
        ids = None  # free the previous run's list outside the timed call
        t0 = time.perf_counter()
        ids = enc.encode_ordinary(text)
        best = min(best, time.perf_counter() - t0)
    return best, ids


def bench_ours(prog, tok_path, text_path, runs, threads, ids_path):
    out = subprocess.run([prog, tok_path, text_path, "--runs", str(runs), "--threads", str(threads),
                          "--ids-out", ids_path], check=True, capture_output=True, text=True).stdout
    one = multi = None
    for line in out.splitlines():
        if line.startswith("1 thread:"):
            one = float(line.split()[2])
        elif "threads:" in line:
            multi = float(line.split()[2])
    ids = array.array("I")
    with open(ids_path, "rb") as f:
        ids.frombytes(f.read())
    return one, multi, ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hyperlm", nargs="?", default=os.environ.get("HLM_BIN"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--encodings", default=",".join(ENCODINGS))
    args = ap.parse_args()
    prog = bench_program(args.hyperlm)
    if not prog:
        return 1
    encodings = [e for e in args.encodings.split(",") if e]
    for e in encodings:
        if e not in ENCODINGS:
            print(f"encode.py: unknown encoding {e}", file=sys.stderr)
            return 2
        if not os.path.exists(os.path.join(shared_dir(), "tokenizers", e + ".tiktoken")):
            print(f"encode.py: SKIPPED: {shared_dir()}/tokenizers/{e}.tiktoken not found")
            return 0
    limit = int(args.mb * 1e6)
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for label, data in (("english", english_text(limit)), ("korean", korean_text(limit))):
            path = os.path.join(tmp, label + ".txt")
            with open(path, "wb") as f:
                f.write(data)
            print(f"input {label}: {len(data) / 1e6:.2f} MB, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
            inputs.append((label, path, data))
        for e in encodings:
            enc = tiktoken_encoding(e)
            tok_path = os.path.join(shared_dir(), "tokenizers", e + ".tiktoken")
            for label, path, data in inputs:
                text = data.decode("utf-8")
                t_s, ref = bench_tiktoken(enc, text, args.runs)
                tt = len(data) / t_s / 1e6
                one, multi, ids = bench_ours(prog, tok_path, path, args.runs, args.threads, os.path.join(tmp, "ids.bin"))
                same = len(ids) == len(ref) and ids.tolist() == ref
                if not same:
                    failures += 1
                    first = next((i for i, (a, b) in enumerate(zip(ids, ref)) if a != b), min(len(ids), len(ref)))
                    print(f"  MISMATCH {e} {label}: {len(ids)} ids vs tiktoken's {len(ref)}, first difference at {first}",
                          file=sys.stderr)
                rows.append([e, label, f"{len(ref)}", f"{tt:.2f}", f"{one:.2f}", f"{one / tt:.2f}x",
                             f"{multi:.2f}", "yes" if same else "NO"])
                print(f"{e:12s} {label:8s} tiktoken {tt:7.2f} MB/s   hyperlm {one:7.2f} MB/s ({one / tt:.2f}x)   "
                      f"{args.threads} threads {multi:7.2f} MB/s   ids identical: {'yes' if same else 'NO'}", flush=True)
    header = ["encoding", "text", "tokens", "tiktoken MB/s", "hyperlm MB/s (1 thread)", "ratio",
              f"hyperlm MB/s ({args.threads} threads, batch)", "same ids"]
    out_dir = os.environ.get("HLM_BENCH_OUT", os.path.join(REPO, "bench", "out"))
    os.makedirs(out_dir, exist_ok=True)
    _report.write_markdown(os.path.join(out_dir, "encode.md"), "Encoding: hyperlm vs tiktoken (1 thread)", header,
                           rows, notes=[f"Best of {args.runs} runs; inputs of up to {args.mb:g} MB each "
                                        "(see bench/encode.py for how they are built)."])
    _report.write_bar_chart(os.path.join(out_dir, "encode.png"), "Encode speed ratio hyperlm / tiktoken (1 thread)",
                            [f"{r[0]}\n{r[1]}" for r in rows], [float(r[5][:-1]) for r in rows], "ratio")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
