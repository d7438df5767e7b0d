#!/usr/bin/env bash
# Train with a doctune-exported LLaMA-Factory config through `llamafactory-cli train`, offline on
# the CPU, and check that it finishes and writes an adapter (or a model, for full fine-tuning).
#
#   scripts/check_llamafactory_train.sh CONFIG_YAML MODEL_DIR   # train a few steps
#   scripts/check_llamafactory_train.sh --parse CONFIG_YAML...  # only parse, as `train` does
#
# CONFIG_YAML comes from `doctune export PROJECT --format llamafactory`
# (out/export/llamafactory/<experiment id>.yaml). The file is used as it is; only what a CPU smoke
# run must change is overridden on the command line, the way LLaMA-Factory merges `key=value`
# arguments over a YAML: model_name_or_path=MODEL_DIR (a local model, e.g. from
# `doctune make-tiny-model DIR`), output_dir (a temporary folder), max_steps (LLAMAFACTORY_MAX_STEPS,
# default 2), bf16/fp16 off and quantization_bit unset (no bitsandbytes on a CPU). Template,
# datasets, LoRA settings, cutoff length and learning rate stay as exported.
# --parse runs LLaMA-Factory's own argument parser (`get_train_args`) on each file: an unknown
# key or an inconsistent combination fails there. Environment: LLAMAFACTORY_VENV (default
# .venv-llamafactory; created by scripts/check_llamafactory.sh --setup when missing),
# KEEP_OUTPUT=1 keeps the run's output folder. Exit status: 0 PASS, 1 FAIL, 2 usage error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LLAMAFACTORY_VENV:-$ROOT/.venv-llamafactory}"
MAX_STEPS="${LLAMAFACTORY_MAX_STEPS:-2}"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# Offline: the model, tokenizer and data are all local; nothing may reach a hub.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export DISABLE_VERSION_CHECK=1 WANDB_DISABLED=true CUDA_VISIBLE_DEVICES=""
LLAMAFACTORY_VENV="$VENV" "$ROOT/scripts/check_llamafactory.sh" --setup

if [[ $# -ge 2 && "$1" == "--parse" ]]; then
    shift
    exec "$VENV/bin/python" - "$@" <<'PY'
import sys
from pathlib import Path

from omegaconf import OmegaConf
from llamafactory.hparams import get_train_args

failed = 0
for name in sys.argv[1:]:
    try:
        get_train_args(OmegaConf.to_container(OmegaConf.load(Path(name).absolute())))
        print(f"PASS  {name}: parsed by LLaMA-Factory's get_train_args")
    except Exception as exc:  # any parser refusal is this file's FAIL, not a crash
        failed += 1
        print(f"FAIL  {name}: {type(exc).__name__}: {exc}")
print(f"{'PASS' if not failed else 'FAIL'}: {len(sys.argv) - 1 - failed}/{len(sys.argv) - 1} configs parse")
sys.exit(1 if failed else 0)
PY
fi

[[ $# -eq 2 ]] || usage
CONFIG="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -f "$CONFIG" ]] || { echo "FAIL: $1 is not a file" >&2; exit 2; }
[[ -d "$2" ]] || { echo "FAIL: $2 is not a folder" >&2; exit 2; }
MODEL_DIR="$(cd "$2" && pwd)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/doctune-lf-train.XXXXXX")"
[[ "${KEEP_OUTPUT:-0}" == "1" ]] || trap 'rm -rf "$WORK"' EXIT
OUTPUT="$WORK/output"
# A private datasets cache: nothing from an earlier export can be read back by mistake.
export HF_DATASETS_CACHE="$WORK/datasets-cache"

start=$SECONDS
set +e
"$VENV/bin/llamafactory-cli" train "$CONFIG" \
    "model_name_or_path=$MODEL_DIR" "output_dir=$OUTPUT" "max_steps=$MAX_STEPS" \
    logging_steps=1 bf16=false fp16=false quantization_bit=null >"$WORK/train.log" 2>&1
status=$?
set -e
elapsed=$((SECONDS - start))

finetuning="$(grep -E '^finetuning_type:' "$CONFIG" | awk '{print $2}')"
weights="adapter_model.safetensors"
[[ "$finetuning" == "full" ]] && weights="model.safetensors"
if [[ $status -ne 0 || ! -s "$OUTPUT/$weights" || ! -s "$OUTPUT/trainer_log.jsonl" ]]; then
    tail -n 40 "$WORK/train.log"
    echo "FAIL: llamafactory-cli train exited $status after ${elapsed} s; $weights in output: $([[ -s "$OUTPUT/$weights" ]] && echo yes || echo no)"
    exit 1
fi
# A weights file can exist and hold nothing (a known PEFT/DeepSpeed pitfall): count its tensors.
tensors="$("$VENV/bin/python" -c '
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], "pt") as f:
    print(len(list(f.keys())))
' "$OUTPUT/$weights")"
if [[ "$tensors" -eq 0 ]]; then
    echo "FAIL: $OUTPUT/$weights holds no tensors"
    exit 1
fi
steps="$(grep -c '"loss"' "$OUTPUT/trainer_log.jsonl" || true)"
echo "output: $OUTPUT"
echo "PASS: llamafactory-cli train ran $(basename "$CONFIG") as exported ($finetuning, $steps steps logged) in ${elapsed} s and wrote $weights ($tensors tensors)"
