# Helpers shared by the CLI tests (tests/cli/*.sh source this file; it is not a test itself).
# Sets $bin (the hyperlm under test) and $tmp (removed at exit); counts checks and failures.
# A script sets run_flags (e.g. run_flags=(-q)) before calling run, and ends with `finish NAME`.
set -uo pipefail
bin=${HLM_BIN:?HLM_BIN must point to the hyperlm binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
run_flags=()

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run EXPECTED_RC ARGS...: runs hyperlm with stdin from $tmp/in if it exists (else /dev/null);
# stdout and stderr go to $tmp/out and $tmp/err.
run() {
  local want=$1
  shift
  checks=$((checks + 1))
  local in=/dev/null
  [ -f "$tmp/in" ] && in=$tmp/in
  "$bin" "${run_flags[@]}" "$@" >"$tmp/out" 2>"$tmp/err" <"$in"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "hyperlm $*: exit $rc, expected $want"
    sed 's/^/    stderr: /' "$tmp/err" | head -5
    return 1
  fi
  return 0
}

# contains FILE TEXT WHAT: FILE contains TEXT (a fixed string).
contains() {
  checks=$((checks + 1))
  grep -qF -- "$2" "$1" || { fail "$3: expected '$2' in its output"; sed 's/^/    /' "$1" | head -8; }
}

# absent PATH WHAT: a failed command left no file behind.
absent() {
  checks=$((checks + 1))
  [ ! -e "$1" ] || fail "$2: $1 was written"
}

# same A B WHAT: the two files are byte-identical.
same() {
  checks=$((checks + 1))
  cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}

finish() {
  echo "$1: $checks checks, $failures failures"
  [ "$failures" -eq 0 ]
}
