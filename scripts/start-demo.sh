#!/usr/bin/env bash
# Set up BatteryScope in ./.venv and start it on its built-in demo specimens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
exec .venv/bin/batteryscope --demo "$@"
