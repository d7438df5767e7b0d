#!/usr/bin/env bash
# The test command: set up (idempotent), lint, check the layers contract (pyproject.toml,
# [tool.importlinter]), then the whole suite (slow tests included).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast ones only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck disable=SC1091
. "${DOCTUNE_VENV:-.venv}/bin/activate"
ruff check src tests benchmarks scripts
ruff format --check src tests benchmarks scripts
lint-imports
python -m pytest "$@"
