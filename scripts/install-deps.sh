#!/usr/bin/env bash
# Installs the Debian packages that building and testing HyperLM need, only those missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libutf8proc-dev libzstd-dev zlib1g-dev libcjson-dev libxxhash-dev libcmocka-dev zstd
      libpcre2-dev python3 libdnnl-dev libomp-14-dev libgumbo-dev libbrotli-dev
      openmpi-bin libopenmpi-dev libmicrohttpd-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
