#!/usr/bin/env bash
# Build the one-folder BatteryScope desktop executable:  packaging/build.sh
#
# Creates its own venv (packaging/.build-venv), installs BatteryScope from a copy of the
# source tree (so the checkout gets no build/ or *.egg-info) together with PyInstaller,
# runs PyInstaller on packaging/batteryscope.spec and prints the bundle size.
# Output: packaging/dist/batteryscope/batteryscope  (smoke-test it with packaging/smoke.sh)
#
# Environment: PYTHON (interpreter for the venv, default python3),
#              BUILD_VENV (venv folder, default packaging/.build-venv; reused if present),
#              SLIM_LLVMLITE (auto|1|0: rebuild llvmlite for this CPU only, see slim_llvmlite.py).
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

# numba's LLVM for this CPU family only (160 MB -> 53 MB; see slim_llvmlite.py).
# SLIM_LLVMLITE=auto (default: when LLVM's static libraries are installed), 1 (required), 0 (off)
case "${SLIM_LLVMLITE:-auto}" in
    0|off|no) echo "== llvmlite from PyPI (SLIM_LLVMLITE=0)" ;;
    1|on|yes) echo "== llvmlite for this CPU only"; "$VPY" "$HERE/slim_llvmlite.py" --workdir "$HERE/build/llvmlite" --required ;;
    *) echo "== llvmlite for this CPU only (if LLVM's static libraries are installed)"
       "$VPY" "$HERE/slim_llvmlite.py" --workdir "$HERE/build/llvmlite" ;;
esac

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

# Every ELF binary must still be loadable after stripping (slim_binaries.py refuses the
# stripped copy where strip broke the segment layout; this re-checks the bundle as built).
if [ -d "$BUNDLE/_internal" ]; then
    "$VPY" - "$BUNDLE" "$HERE" <<'PY' || { echo "build.sh: a bundled binary cannot be loaded" >&2; exit 1; }
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from slim_binaries import is_elf, loadable_segments
bad = [p for p in Path(sys.argv[1]).rglob("*") if p.is_file() and not p.is_symlink()
       and is_elf(p) and not loadable_segments(p)]
for p in bad:
    print(f"  not loadable (PT_LOAD misaligned): {p}")
sys.exit(1 if bad else 0)
PY
fi

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
