#!/usr/bin/env bash
# The project's test command: lint, type-check, test. Run from the checkout's top.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check .
python -m ruff format --check . >/dev/null 2>&1 || echo "note: ruff format would reformat some files"
python -m mypy --strict
python -m pytest
