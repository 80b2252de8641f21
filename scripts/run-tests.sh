#!/usr/bin/env bash
# Set up BatteryScope with its test tools in ./.venv and run the test suite (headless).
# Extra arguments go to pytest, e.g. scripts/run-tests.sh -k io -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh test
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
