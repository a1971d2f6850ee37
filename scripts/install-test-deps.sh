#!/usr/bin/env bash
# Installs what the server's tests drive it with, only what is missing:
#   Debian: chromium (the chat page's test runs it headless; no browser is downloaded);
#   Python: openai (OpenAI's official client, against our API), schemathesis (property-based
#           requests from our OpenAPI description), playwright (drives chromium: its
#           executable_path points at Debian's binary).
# Packages go into `python3` when pip may install there, else into .cache/test-venv (which the
# tests then use); `--python` prints the interpreter to use.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.cache/test-venv
modules=(openai schemathesis playwright)

pick_python() {
  if [ -x "$venv/bin/python3" ]; then echo "$venv/bin/python3"; else command -v python3 || echo python3; fi
}
if [ "${1:-}" = --python ]; then
  pick_python
  exit 0
fi

apt_pkgs=(chromium python3 python3-venv python3-pip)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-test-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

missing_modules() {
  local py=$1 m
  for m in "${modules[@]}"; do "$py" -c "import $m" 2>/dev/null || echo "$m"; done
}
py=$(pick_python)
mapfile -t need < <(missing_modules "$py")
((${#need[@]} == 0)) && exit 0
echo "install-test-deps: pip install ${need[*]} ($py)"
mkdir -p "$repo/.cache"
if ! "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}" 2>"$repo/.cache/pip-test.log" &&
  [ ! -x "$venv/bin/python3" ]; then
  echo "install-test-deps: $py does not accept pip packages; using a virtual environment in $venv"
  python3 -m venv --system-site-packages "$venv"
  py=$venv/bin/python3
  mapfile -t need < <(missing_modules "$py")
  "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi
mapfile -t still < <(missing_modules "$py")
if ((${#still[@]})); then
  echo "install-test-deps: still missing after pip install: ${still[*]}" >&2
  exit 1
fi
