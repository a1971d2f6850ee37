# Shared by the install scripts (sourced): Debian packages and Python modules, only what is missing.

# apt_install_missing PKG...: installs the packages that dpkg does not list as installed.
apt_install_missing() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$(basename "$0"): installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# pick_python VENV: the venv's interpreter when it exists, else the system's python3.
pick_python() {
  if [ -x "$1/bin/python3" ]; then echo "$1/bin/python3"; else command -v python3 || echo python3; fi
}

# missing_modules PY SPEC...: the pip specs whose module (the name before any "==") PY cannot import.
missing_modules() {
  local py=$1 m
  shift
  for m in "$@"; do "$py" -c "import ${m%%==*}" 2>/dev/null || echo "$m"; done
}

# pip_install_missing VENV SPEC...: pip-installs the missing modules into python3, or, where the
# system's Python refuses pip packages (PEP 668), into VENV (made with --system-site-packages, so
# only what is missing is installed there). Fails when a module is still missing after.
pip_install_missing() {
  local venv=$1 py need still log
  shift
  py=$(pick_python "$venv")
  mapfile -t need < <(missing_modules "$py" "$@")
  ((${#need[@]})) || return 0
  echo "$(basename "$0"): pip install ${need[*]} ($py)"
  log=$(mktemp)
  if ! "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}" 2>"$log" && [ ! -x "$venv/bin/python3" ]; then
    echo "$(basename "$0"): $py does not accept pip packages; using a virtual environment in $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv --system-site-packages "$venv"
    py=$venv/bin/python3
    mapfile -t need < <(missing_modules "$py" "$@")
    "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}"
  fi
  rm -f "$log"
  mapfile -t still < <(missing_modules "$py" "$@")
  if ((${#still[@]})); then
    echo "$(basename "$0"): still missing after pip install: ${still[*]}" >&2
    return 1
  fi
}
