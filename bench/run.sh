#!/usr/bin/env bash
# Usage: bench/run.sh HYPERLM_BINARY      (make bench)
#
# Runs every benchmark in bench/: each bench/*.py and bench/*.sh except this file and helpers
# whose name starts with '_'. Each gets the hyperlm binary as its first argument and, in the
# environment:
#   HLM_BIN        the hyperlm binary
#   HLM_BENCH_DIR  the folder with the compiled bench programs (bench/*.c; the binary's folder)
#   HLM_BENCH_OUT  bench/out: where results go (Markdown tables, PNG plots, raw numbers)
#   HLM_SHARED     ../shared next to the repository (data sets, OpenAI's rank files)
#   HLM_PYTHON     the Python that has the peers' packages (scripts/install-bench-deps.sh)
# Fails if any benchmark fails, after running the others. BENCH=name runs only that one.
set -uo pipefail
if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: $0 HYPERLM_BINARY   (BENCH=name to run one benchmark)" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ]; then
  echo "bench: no hyperlm binary at $bin (build it first: make)" >&2
  exit 1
fi
top=$(git -C "$repo" rev-parse --show-toplevel 2>/dev/null || echo "$repo")
export HLM_BIN=$bin
export HLM_BENCH_DIR=$(dirname "$bin")
export HLM_BENCH_OUT=$repo/bench/out
export HLM_SHARED=${HLM_SHARED:-$(cd "$top/.." && pwd)/shared}
export HLM_PYTHON=${HLM_PYTHON:-$(bash "$repo/scripts/install-bench-deps.sh" --python)}
mkdir -p "$HLM_BENCH_OUT"

benches=()
for f in "$repo"/bench/*.py "$repo"/bench/*.sh; do
  [ -f "$f" ] || continue
  name=$(basename "$f")
  case $name in run.sh | _*) continue ;; esac
  if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ] && [ "$BENCH" != "${name%.*}" ]; then continue; fi
  benches+=("$f")
done
if ((${#benches[@]} == 0)); then
  echo "bench: no benchmark${BENCH:+ named '$BENCH'} in $repo/bench" >&2
  exit 1
fi

failed=()
for f in "${benches[@]}"; do
  name=$(basename "$f")
  printf '\n==== %s\n' "$name"
  start=$(date +%s)
  case $f in
    *.py) "$HLM_PYTHON" "$f" "$bin" ;;
    *.sh) bash "$f" "$bin" ;;
  esac
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "bench: $name FAILED (exit $rc)"
    failed+=("$name")
  else
    echo "bench: $name done in $(($(date +%s) - start)) s"
  fi
done
echo
echo "bench: results in $HLM_BENCH_OUT:"
ls -1 "$HLM_BENCH_OUT" | grep -E '\.(md|png)$' | sed 's/^/  /'
if ((${#failed[@]})); then
  echo "bench: ${#failed[@]} of ${#benches[@]} failed: ${failed[*]}"
  exit 1
fi
