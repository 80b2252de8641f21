#!/usr/bin/env bash
# Install the shared libraries Qt 6 (PySide6) needs on Debian/Ubuntu, if any are missing.
# The xcb ones are only needed for a real window; tests run with the offscreen platform.
set -euo pipefail
declare -A libs=(
  [libEGL.so.1]=libegl1 [libGL.so.1]=libgl1 [libfontconfig.so.1]=libfontconfig1
  [libxkbcommon.so.0]=libxkbcommon0 [libdbus-1.so.3]=libdbus-1-3 [libglib-2.0.so.0]=libglib2.0-0
  [libxcb-cursor.so.0]=libxcb-cursor0 [libxkbcommon-x11.so.0]=libxkbcommon-x11-0
  [libxcb-icccm.so.4]=libxcb-icccm4 [libxcb-keysyms.so.1]=libxcb-keysyms1
  [libxcb-image.so.0]=libxcb-image0 [libxcb-render-util.so.0]=libxcb-render-util0
  [libxcb-shape.so.0]=libxcb-shape0 [libxcb-randr.so.0]=libxcb-randr0
  [libxcb-xinerama.so.0]=libxcb-xinerama0
)
command -v ldconfig >/dev/null 2>&1 || exit 0   # not a glibc Linux: nothing to check
have=$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p)
missing=()
for lib in "${!libs[@]}"; do
  grep -q "$lib" <<<"$have" || missing+=("${libs[$lib]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Qt may need these system libraries (Debian names): ${missing[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "Qt needs: sudo apt-get install ${missing[*]}   (run it, then this command again)" >&2
    exit 0
  fi
fi
echo "Installing Qt system libraries: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
