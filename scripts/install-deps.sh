#!/usr/bin/env bash
# Installs the Debian packages that building and testing HyperLM need, only those missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libutf8proc-dev libzstd-dev zlib1g-dev libcjson-dev libxxhash-dev libcmocka-dev zstd
      libpcre2-dev python3 libdnnl-dev ocl-icd-opencl-dev libomp-14-dev libgumbo-dev libbrotli-dev
      openmpi-bin libopenmpi-dev libmicrohttpd-dev)
source "$(dirname "$0")/install-lib.bash"
apt_install_missing "${pkgs[@]}"
