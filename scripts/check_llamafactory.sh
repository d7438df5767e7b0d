#!/usr/bin/env bash
# Check that a doctune ShareGPT export loads through LLaMA-Factory's OWN data loader.
#
# LLaMA-Factory pins its own transformers/trl/peft, so it lives in a separate virtual environment
# (never in .venv). The first run creates it; later runs reuse it.
#
#   scripts/check_llamafactory.sh EXPORT_DIR MODEL_DIR [TEMPLATE]   # check an export
#   scripts/check_llamafactory.sh --setup                           # only create the venv
#
# EXPORT_DIR is the folder holding dataset_info.json and the ShareGPT files (out/export/sharegpt),
# MODEL_DIR a local model/tokenizer folder (e.g. from `doctune make-tiny-model DIR`), TEMPLATE the
# LLaMA-Factory chat template (default qwen). Environment: LLAMAFACTORY_VENV (default
# .venv-llamafactory in the repository root), PYTHON (interpreter for the venv, default python3),
# DOCTUNE_TORCH (cpu or cuda, as for scripts/setup.sh). Exit status: 0 PASS, 1 FAIL, 2 usage
# error. Creating the venv takes ~1.5 min here (local CPU torch wheel); elsewhere torch comes from
# the PyTorch CPU wheel index.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LLAMAFACTORY_VENV:-$ROOT/.venv-llamafactory}"
PYTHON="${PYTHON:-python3}"
LLAMAFACTORY_VERSION="0.9.5"
# shellcheck source=scripts/torch_build.sh
. "$ROOT/scripts/torch_build.sh"

usage() {
    # The header comment above, without its '# ' prefixes.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

setup_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import llamafactory" 2>/dev/null; then
        return 0
    fi
    echo "check_llamafactory: creating $VENV (llamafactory==$LLAMAFACTORY_VERSION, CPU torch)" >&2
    local start=$SECONDS
    "$PYTHON" -m venv "$VENV"
    # A CPU build of torch (scripts/torch_build.sh), then LLaMA-Factory constrained to it:
    # without the constraint its requirements resolve to a CUDA torch and several GB of nvidia
    # packages.
    local constraints="$VENV/constraints-torch.txt"
    install_torch "$VENV/bin/python"
    write_torch_constraint "$VENV/bin/python" "$constraints"
    "$VENV/bin/pip" install --quiet -c "$constraints" "llamafactory==$LLAMAFACTORY_VERSION"
    # LLaMA-Factory pulls CUDA builds of torchvision/torchaudio that do not load against a CPU
    # torch; the text-only data path needs neither. It still imports torchaudio at start-up, so a
    # stand-in module takes its place (see torchaudio_standin below).
    "$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio || true
    install_torchaudio_standin
    echo "check_llamafactory: venv ready in $((SECONDS - start)) s" >&2
}

install_torchaudio_standin() {
    local site
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    mkdir -p "$site/torchaudio"
    cat >"$site/torchaudio/__init__.py" <<'PY'
"""Stand-in for torchaudio in doctune's CPU-only LLaMA-Factory check venv.

LLaMA-Factory imports torchaudio at start-up; the CUDA wheel it pulls cannot load against a CPU
torch, and text datasets never call it. Anything that uses it fails loudly here (an
AttributeError, so `hasattr` probes still answer False).
"""

__version__ = "0.0.0+doctune-standin"


def __getattr__(name):
    raise AttributeError(f"torchaudio.{name} is not available (doctune CPU stand-in)")
PY
}

if [[ $# -eq 1 && "$1" == "--setup" ]]; then
    setup_venv
    exit 0
fi
[[ $# -ge 2 && $# -le 3 ]] || usage
for dir in "$1" "$2"; do
    [[ -d "$dir" ]] || { echo "FAIL: $dir is not a folder" >&2; exit 2; }
done
EXPORT_DIR="$(cd "$1" && pwd)"
MODEL_DIR="$(cd "$2" && pwd)"
TEMPLATE="${3:-qwen}"
[[ -f "$EXPORT_DIR/dataset_info.json" ]] || { echo "FAIL: no dataset_info.json in $EXPORT_DIR" >&2; exit 2; }

setup_venv
# Offline: the model, tokenizer and data are all local; nothing may reach a hub.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export DISABLE_VERSION_CHECK=1 WANDB_DISABLED=true
exec "$VENV/bin/python" "$ROOT/scripts/llamafactory_load.py" "$EXPORT_DIR" "$MODEL_DIR" "$TEMPLATE"
