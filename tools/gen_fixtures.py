#!/usr/bin/env python3
"""Regenerates the test fixtures (`make fixtures`): runs every tools/gen_*_fixtures.py.

usage: gen_fixtures.py [NAME...]   (NAME: a generator such as `tokenizer` for
                                    gen_tokenizer_fixtures.py; default: all of them)

Each generator writes reference outputs of the peer libraries (tiktoken, tokenizers, ...) into
tests/fixtures/ and must be deterministic, so that running this twice changes nothing. Every
generator runs with the repository root as working directory, with the same Python as this
script, and with HLM_SHARED set to ../shared next to the repository (data and rank files).
Stops at the first generator that fails and exits with its status.
"""
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def shared_dir():
    try:
        top = subprocess.run(["git", "-C", REPO, "rev-parse", "--show-toplevel"], check=True,
                             capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        top = REPO
    return os.path.normpath(os.path.join(top, "..", "shared"))


def main(argv):
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip())
        return 0
    gens = sorted(glob.glob(os.path.join(HERE, "gen_*_fixtures.py")))
    names = {os.path.basename(g)[len("gen_"):-len("_fixtures.py")]: g for g in gens}
    wanted = argv[1:] or list(names)
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"gen_fixtures: no generator named {', '.join(unknown)} "
              f"(have: {', '.join(names) or 'none'})", file=sys.stderr)
        return 2
    if not gens:
        print("gen_fixtures: no tools/gen_*_fixtures.py to run")
        return 0
    env = dict(os.environ)
    env.setdefault("HLM_SHARED", shared_dir())
    env.setdefault("HLM_FIXTURES", os.path.join(REPO, "tests", "fixtures"))
    for name in wanted:
        path = names[name]
        print(f"gen_fixtures: {os.path.relpath(path, REPO)}", flush=True)
        start = time.time()
        rc = subprocess.run([sys.executable, path], cwd=REPO, env=env).returncode
        if rc != 0:
            print(f"gen_fixtures: {os.path.basename(path)} failed (exit {rc})", file=sys.stderr)
            return rc
        print(f"gen_fixtures: {os.path.basename(path)} done in {time.time() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
