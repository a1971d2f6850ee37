#!/usr/bin/env bash
# Installs what the server's tests drive it with, only what is missing:
#   Debian: chromium (the chat page's test runs it headless; no browser is downloaded);
#           slurmd, slurmctld, slurm-client and munge (tests/cli/slurm.sh runs srun and sbatch
#           on a private one-node cluster);
#   Python: openai (OpenAI's official client, against our API), schemathesis (property-based
#           requests from our OpenAPI description), playwright (drives chromium: its
#           executable_path points at Debian's binary).
# Packages go into `python3` when pip may install there, else into .cache/test-venv (which the
# tests then use); `--python` prints the interpreter to use.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.cache/test-venv
modules=(openai schemathesis playwright)

source "$repo/scripts/install-lib.bash"
if [ "${1:-}" = --python ]; then
  pick_python "$venv"
  exit 0
fi
apt_install_missing chromium python3 python3-venv python3-pip slurmd slurmctld slurm-client munge
pip_install_missing "$venv" "${modules[@]}"
