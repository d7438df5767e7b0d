#!/usr/bin/env bash
# The main job on the bundled example: every stage, documents -> datasets -> fine-tuned models ->
# evaluation -> report. Extra arguments go to `doctune run` (e.g. --until export).
#
# With OPENAI_API_KEY or OPENAI_BASE_URL set, or a reachable model hub, this is the real run of
# examples/ibuprofen/doctune.yaml. With none of them (a closed machine), it is a SMOKE run of
# smoke.yaml with a tiny random model in every role: every stage runs, nothing is learned.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
. "${DOCTUNE_VENV:-.venv}/bin/activate"
example=examples/ibuprofen

if [ -n "${OPENAI_API_KEY:-}${OPENAI_BASE_URL:-}" ] \
   || python -c "from doctune.models.hub import hub_reachable; raise SystemExit(0 if hub_reachable() else 1)"; then
  echo "example: real run of $example/doctune.yaml"
  doctune run "$example" "$@"
  out="$example/out"
else
  tiny="$PWD/$example/out-smoke/tiny-model"
  echo "example: no endpoint (OPENAI_API_KEY / OPENAI_BASE_URL) and no model hub here:"
  echo "example: SMOKE run of $example/smoke.yaml with a tiny RANDOM model; its scores are noise"
  doctune make-tiny-model "$tiny"
  doctune run "$example" --config "$example/smoke.yaml" \
    --teacher "hf:$tiny" --judge "hf:$tiny" --student "hf:$tiny" "$@"
  out="$example/out-smoke"
fi
[ -f "$out/report/index.html" ] && echo "report: $out/report/index.html (open it from disk)"
echo "outputs: $out (manifest.json lists every artifact)"
