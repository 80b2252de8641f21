#!/usr/bin/env bash
# Build the one-folder BatteryScope desktop executable:  packaging/build.sh
#
# Creates its own venv (packaging/.build-venv), installs BatteryScope from a copy of the
# source tree (so the checkout gets no build/ or *.egg-info) together with PyInstaller,
# runs PyInstaller on packaging/batteryscope.spec and prints the bundle size.
# Output: packaging/dist/batteryscope/batteryscope  (smoke-test it with packaging/smoke.sh)
#
# Environment: PYTHON (interpreter for the venv, default python3),
#              BUILD_VENV (venv folder, default packaging/.build-venv; reused if present).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-python3}"
VENV="${BUILD_VENV:-$HERE/.build-venv}"
PYINSTALLER_SPEC="pyinstaller>=6.10,<7"
SRC="$HERE/build/src"
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ] && [ ! -x "$VENV/Scripts/python.exe" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"; [ -x "$VPY" ] || VPY="$VENV/Scripts/python.exe"

echo "== copying the source tree to $SRC"
rm -rf "$SRC"
mkdir -p "$SRC"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$SRC/"
for pkg in app widgets analysis resources; do
    cp -r "$ROOT/$pkg" "$SRC/$pkg"
done
find "$SRC" -name __pycache__ -type d -prune -exec rm -rf {} +

echo "== installing BatteryScope and PyInstaller into $VENV"
"$VPY" -m pip install --upgrade --quiet pip
"$VPY" -m pip install --quiet "$SRC" "$PYINSTALLER_SPEC"
"$VPY" -m PyInstaller --version | sed 's/^/PyInstaller /'

echo "== running PyInstaller"
cd "$HERE"
"$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$HERE/dist" --workpath "$HERE/build/pyinstaller" \
    "$HERE/batteryscope.spec"

BUNDLE="$HERE/dist/batteryscope"
[ -x "$BUNDLE/batteryscope" ] || [ -f "$BUNDLE/batteryscope.exe" ] || {
    echo "build.sh: no executable in $BUNDLE" >&2; exit 1; }
echo "== built $BUNDLE in $(( $(date +%s) - start )) s"
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1)  ($(du -sb "$BUNDLE" | cut -f1) bytes)"

# Report shared libraries no bundled binary can resolve (Linux): a dependency dropped by the
# spec's filters shows up here before it crashes at run time. Expected absent: libtbb (numba's
# optional TBB threading layer) and libwayland-* (Qt's Wayland plugin; every Wayland session
# has them).
if command -v ldd > /dev/null && [ -d "$BUNDLE/_internal" ]; then
    LIBS="$BUNDLE/_internal:$BUNDLE/_internal/PySide6/Qt/lib"
    missing=$(find "$BUNDLE/_internal" -name '*.so*' -type f -print0 \
        | xargs -0 -n 50 env LD_LIBRARY_PATH="$LIBS" ldd 2>/dev/null \
        | grep 'not found' | grep -v -e 'libtbb' -e 'libwayland-' | sort -u || true)
    if [ -n "$missing" ]; then
        echo "build.sh: warning: unresolved shared libraries in the bundle:"; echo "$missing"
    fi
fi
