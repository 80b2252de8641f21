#!/usr/bin/env bash
# Smoke-test the built executable headless:  packaging/smoke.sh [OUT_DIR]
#
# Runs packaging/dist/batteryscope/batteryscope smoke-test offscreen (start, open the demo
# documents, EELS quantification, numba kernels, column finding, screenshot), checks the
# exit status and the outputs, then measures launch -> window shown twice more
# (--launch-only) and prints the median of the three, and the bundle size.
# Environment: BUNDLE (default packaging/dist/batteryscope), SMOKE_TIMEOUT (s per step).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUNDLE="${BUNDLE:-$HERE/dist/batteryscope}"
EXE="$BUNDLE/batteryscope"
OUT="${1:-$HERE/build/smoke}"
[ -x "$EXE" ] || { echo "smoke.sh: no executable at $EXE (run packaging/build.sh first)" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
export QT_QPA_PLATFORM=offscreen
# a fresh numba cache and config: the test proves the frozen app compiles and caches
export XDG_CACHE_HOME="$OUT/cache" XDG_CONFIG_HOME="$OUT/config"
unset NUMBA_CACHE_DIR

echo "== full smoke test (output in $OUT/run)"
status=0
"$EXE" smoke-test --out "$OUT/run" --timeout "${SMOKE_TIMEOUT:-600}" > "$OUT/run.json" 2> "$OUT/run.stderr" || status=$?
cat "$OUT/run.json"
if [ "$status" -ne 0 ]; then
    echo "smoke.sh: FAILED: the smoke test exited with status $status; stderr:" >&2
    tail -n 40 "$OUT/run.stderr" >&2
    exit 1
fi

# outputs the test promises
for f in run/smoke-test.json run/screenshot.png run/demo/layered_oxide_core_loss.hspy; do
    [ -s "$OUT/$f" ] || { echo "smoke.sh: FAILED: $OUT/$f missing or empty" >&2; exit 1; }
done
ls "$OUT"/cache/batteryscope/numba/*/*.nbi > /dev/null 2>&1 \
    || { echo "smoke.sh: FAILED: numba wrote no cache to $OUT/cache/batteryscope/numba" >&2; exit 1; }

echo "== launch -> window shown, 2 more runs"
for i in 2 3; do
    "$EXE" smoke-test --launch-only --out "$OUT/launch$i" > "$OUT/launch$i.json" 2>> "$OUT/run.stderr"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = [json.loads((out / name).read_text()) for name in ("run.json", "launch2.json", "launch3.json")]
times = [r["steps"]["launch"]["launch_to_window_s"] for r in runs]
steps = runs[0]["steps"]
print("steps:", ", ".join(f"{k} {v['status']} ({v['seconds']:.1f} s)" for k, v in steps.items()))
print(f"launch -> window shown: median {statistics.median(times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
PY
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1)"
echo "smoke.sh: PASSED"
