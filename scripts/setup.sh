#!/usr/bin/env bash
# Idempotent set-up: a virtual environment with PyTorch (a CPU build unless DOCTUNE_TORCH=cuda;
# see scripts/torch_build.sh) and doctune with every extra. Every install after torch is
# constrained to the torch actually installed: without that, installing transformers, TRL, PEFT
# or accelerate can swap a CPU torch for a newer CUDA one and pull several GB.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/torch_build.sh
. scripts/torch_build.sh
VENV=${DOCTUNE_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.doctune-installed"
constraint="$VENV/constraints-torch.txt"
want=$( (cat pyproject.toml scripts/torch_build.sh; echo "${DOCTUNE_TORCH:-cpu}") | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python -m pip install -q --upgrade pip
install_torch python
write_torch_constraint python "$constraint"
echo "setup: $(cat "$constraint") (every later install is constrained to it)" >&2
python -m pip install -q -c "$constraint" -e ".[all,dev]"
echo "$want" > "$stamp"
