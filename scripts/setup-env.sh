#!/usr/bin/env bash
# Set up BatteryScope in ./.venv from pyproject.toml, exactly as a new user does.
#   scripts/setup-env.sh          the application
#   scripts/setup-env.sh test     the application plus the test tools
# Also installs the Debian/Ubuntu system libraries Qt needs, when they are missing and
# this user may install them (root, or password-less sudo); otherwise it names them.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"BatteryScope needs Python >= 3.10, found {sys.version.split()[0]}")
PY

scripts/install-system-libs.sh

if [ ! -x .venv/bin/python ]; then
    echo "Creating virtual environment .venv"
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[$extras]"
echo "Installing BatteryScope ($spec) into .venv"
.venv/bin/python -m pip install --quiet "$spec"
