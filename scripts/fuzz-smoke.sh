#!/usr/bin/env bash
# Usage: scripts/fuzz-smoke.sh BUILD_DIR SECONDS
#
# Runs every libFuzzer binary (fuzz_*) built under BUILD_DIR for SECONDS each, starting from the
# committed seeds in fuzz/corpus/<target>/. The seeds are copied to a temporary corpus, so the
# repository is never modified. Fails if any target crashes, leaks, hangs or runs out of memory;
# the input that did it is kept in BUILD_DIR/fuzz-artifacts/<target>/ to reproduce with
# `BUILD_DIR/fuzz/<target> FILE`. Prints one summary line per target.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]   (SECONDS per target, default 30)" >&2
  exit 2
fi
build=$1
secs=${2:-30}
case $secs in '' | *[!0-9]*) echo "fuzz-smoke: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -d "$build" ]; then
  echo "fuzz-smoke: no build folder '$build' (build the fuzz targets first: make fuzz)" >&2
  exit 1
fi
mapfile -t targets < <(find "$build" -type f -name 'fuzz_*' ! -name '*.*' -perm -u+x | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-smoke: no fuzz_* binaries under '$build' (build them with: make fuzz)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hlm-fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
for bin in "${targets[@]}"; do
  name=$(basename "$bin")
  corpus=$work/$name/corpus
  artifacts=$work/$name/artifacts
  mkdir -p "$corpus" "$artifacts"
  seeds=$repo/fuzz/corpus/$name
  n_seeds=0
  if [ -d "$seeds" ]; then
    cp -R "$seeds"/. "$corpus"/
    n_seeds=$(find "$corpus" -type f | wc -l)
  fi
  log=$work/$name/log
  rc=0
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  n_corpus=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz-smoke: %-24s ok      %s s, %s runs (%s/s), coverage %s edges, corpus %s -> %s inputs, peak %s MB\n' \
      "$name" "$secs" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$n_seeds" "$n_corpus" "${rss:-?}"
  else
    keep=$build/fuzz-artifacts/$name
    mkdir -p "$keep"
    cp -R "$artifacts"/. "$keep"/ 2>/dev/null || true
    printf 'fuzz-smoke: %-24s FAILED (exit %s); failing inputs in %s\n' "$name" "$rc" "$keep"
    echo "---- last lines of $name's output ----"
    tail -n 60 "$log"
    echo "----"
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${secs} s each without a failure"
