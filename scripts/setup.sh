#!/usr/bin/env bash
# Idempotent set-up: a virtual environment with the CPU build of PyTorch and doctune with every
# extra. The constraints file keeps torch on the CPU build: without it, installing transformers,
# TRL, PEFT or accelerate resolves to a newer CUDA torch and pulls several GB.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DOCTUNE_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.doctune-installed"
want=$(cat pyproject.toml constraints-cpu.txt | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python -m pip install -q --upgrade pip
# On machines without the local CPU wheel, add: --index-url https://download.pytorch.org/whl/cpu
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -c constraints-cpu.txt -e ".[all,dev]"
echo "$want" > "$stamp"
