#!/usr/bin/env bash
# Runs a test binary (its arguments: the command) and shows it as skipped (exit 77, CTest's
# SKIP_RETURN_CODE) only when it passed and printed "SKIPPED:" for a part whose inputs are
# absent (../shared): a test that fails is shown as failed, whatever it skipped.
out=$(mktemp) || exit 1
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && grep -q "SKIPPED:" "$out"; then rc=77; fi
rm -f "$out"
exit "$rc"
