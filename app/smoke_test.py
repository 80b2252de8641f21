"""``batteryscope smoke-test --out DIR``: prove an installed (or frozen) BatteryScope works.

Runs the real program end to end, offscreen, and exits 0 only if every step passes:

1. ``launch``: the QApplication and the main window start; the time from process start
   to the window being shown is measured (``--launch-only`` stops here, for timing runs);
2. ``demo_files``: the demo specimens are written to ``DIR/demo`` (HyperSpy, rosettasciio);
3. ``open_documents``: all of them are opened in the main window through the normal
   loading jobs, and every document page is shown once;
4. ``eels_quantification``: O, Mn, Co, Ni atomic % of the demo dual-EELS core-loss spectrum
   image (:func:`~batteryscope.app.eels_quantify.quantify_file`, exspy cross-sections);
5. ``numba_kernels``: the spectrum-image kernels compile (or load from numba's cache) and
   agree with numpy on the demo spectrum image;
6. ``column_finding``: atom columns found on the demo HAADF image lie on the true columns
   (the 50 brightest within 1.5 px; skipped when this build has no
   ``batteryscope.analysis.columns.find``);
7. ``screenshot``: the window is rendered to ``DIR/screenshot.png`` and is not blank.

A JSON summary is printed on stdout and written to ``DIR/smoke-test.json``. Settings go to
``DIR/config`` so the user's own settings and recent files are left alone. It is used on
the frozen executable (``packaging/smoke.sh``) and on the dev install (the tests).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_IMPORTED_AT = time.monotonic()
EELS_ELEMENTS = ("O", "Mn", "Co", "Ni")


class StepFailed(Exception):
    """A smoke-test step ran but its result is wrong."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope smoke-test",
                                description="Start the app offscreen, open the demo documents, "
                                            "run an EELS quantification, the numba kernels and "
                                            "a column finding, write a screenshot; exit 0 if "
                                            "every step passes.")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--launch-only", action="store_true",
                   help="only measure the time from launch to the window shown, then exit")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="give up a step after this many seconds (default 600)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def seconds_since_process_start() -> tuple[float, str]:
    """Seconds since this process started, and how that was measured."""
    try:  # Linux: start time in clock ticks since boot (field 22 of /proc/self/stat)
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK"), "process start"
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return time.time() - psutil.Process().create_time(), "process start"
    except Exception:  # noqa: BLE001 - psutil is optional
        return time.monotonic() - _IMPORTED_AT, "smoke-test module import"


# ------------------------------------------------------------------------------ helpers

def _pump(app, predicate, timeout: float, what: str) -> None:
    """Process Qt events until ``predicate()`` is true (StepFailed after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def _in_worker(app, timeout: float, function, *args, **kwargs):
    """Run ``function`` in a worker thread while the GUI keeps processing events."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(function, *args, **kwargs)
        _pump(app, future.done, timeout, function.__name__)
        return future.result()


def _one(paths: list[Path], token: str) -> Path:
    found = [p for p in paths if token in p.name]
    if len(found) != 1:
        raise StepFailed(f"expected one demo file named *{token}*, found {[p.name for p in found]}")
    return found[0]


# -------------------------------------------------------------------------------- steps

def step_launch(state: dict) -> dict:
    from .gui_app import show_main_window

    app, window = show_main_window(show_dialogs=False)   # the program's own start-up path
    _pump(app, lambda: window.windowHandle() is not None and window.windowHandle().isExposed(),
          30.0, "the main window to be shown")
    shown, source = seconds_since_process_start()
    state.update(app=app, window=window, errors=[], opened=[])
    window.loadFailed.connect(state["errors"].append)
    window.documentsOpened.connect(state["opened"].extend)
    return {"launch_to_window_s": round(shown, 3), "measured_from": source,
            "in_process_s": round(time.monotonic() - _IMPORTED_AT, 3),
            "qt_platform": app.platformName(), "frozen": bool(getattr(sys, "frozen", False))}


def step_demo_files(state: dict) -> dict:
    from .demo_files import write_demo

    out = state["out"] / "demo"
    written = _in_worker(state["app"], state["timeout"], write_demo, out)
    signals = sorted(p for p in written if p.suffix == ".hspy")
    if len(signals) < 4:
        raise StepFailed(f"only {len(signals)} demo .hspy files written")
    state["demo"] = signals
    return {"folder": str(out), "files": [p.name for p in signals]}


def step_open_documents(state: dict) -> dict:
    from .gui_app import install_dask_gc_guard

    app, window, paths = state["app"], state["window"], state["demo"]
    install_dask_gc_guard()   # done after the first frame anyway; make sure before reading
    window.open_files(paths)
    _pump(app, lambda: state["errors"] or (len(window.documents) >= len(paths)
                                            and not window.runner.running),
          state["timeout"], "the demo documents to open")
    if state["errors"]:
        raise StepFailed("; ".join(state["errors"]))
    for row in range(len(window.documents)):  # every kind of page renders once
        window.show_document(row)
        for _ in range(5):
            app.processEvents()
    _pump(app, lambda: not window.runner.running, state["timeout"], "background reading")
    if state["errors"]:
        raise StepFailed("; ".join(state["errors"]))
    return {"documents": [d.name for d in window.documents]}


def step_eels_quantification(state: dict) -> dict:
    from .eels_quantify import quantify_file

    path = _one(state["demo"], "core_loss")
    result = _in_worker(state["app"], state["timeout"], quantify_file, path, list(EELS_ELEMENTS))
    rows = {r["element"]: r for r in result["elements"]}
    failed = [e for e in EELS_ELEMENTS if e not in rows or rows[e]["failed"]]
    if failed:
        raise StepFailed(f"quantification failed for {failed}")
    percent = {e: rows[e]["atomic_percent"] for e in EELS_ELEMENTS}
    if not all(math.isfinite(v) and 0 < v < 100 for v in percent.values()):
        raise StepFailed(f"atomic % out of range: {percent}")
    if abs(sum(percent.values()) - 100.0) > 0.5:
        raise StepFailed(f"atomic % sum to {sum(percent.values()):.2f}, not 100")
    if max(percent, key=percent.get) != "O":
        raise StepFailed(f"oxygen should dominate a layered oxide: {percent}")
    return {"file": path.name, "atomic_percent": {e: round(v, 2) for e, v in percent.items()}}


def _numba_check(path: Path) -> dict:
    import numba
    import numpy as np

    from batteryscope.analysis import spectrum_sums as ss

    from .hyperspy_adapter import load_signals

    data = np.ascontiguousarray(load_signals(path, lazy=False)[0].data, dtype=np.float32)
    if not ss.kernel_ready(data):
        raise StepFailed(f"demo spectrum image not usable by the kernels ({data.dtype}, {data.shape})")
    t0 = time.perf_counter()
    ss.warm_up(data.dtype)
    compile_s = time.perf_counter() - t0
    kernels = [ss._rect_sum_serial, ss._pixel_list_sum, ss._channel_window_sum, ss._gather_mean]
    if ss.parallel_allowed():
        kernels.append(ss._rect_sum_parallel)
    missing = [k.py_func.__name__ for k in kernels if not k.signatures]
    if missing:
        raise StepFailed(f"numba kernels not compiled: {missing}")
    ny, nx, ne = data.shape
    r0, r1, c0, c1 = ny // 4, max(ny // 4 + 1, 3 * ny // 4), nx // 4, max(nx // 4 + 1, 3 * nx // 4)
    got = ss.block_sum(data, r0, r1, c0, c1)
    want = data[r0:r1, c0:c1].astype(np.float64).sum(axis=(0, 1))
    if not np.allclose(got, want, rtol=1e-6, atol=1e-6 * float(np.abs(want).max())):
        raise StepFailed("numba block_sum disagrees with numpy")
    e0, e1 = ne // 3, ne // 2
    window_map = ss.channel_window_sum(data, e0, e1)
    if not np.allclose(window_map, data[:, :, e0:e1].sum(axis=2, dtype=np.float64), rtol=1e-4):
        raise StepFailed("numba channel_window_sum disagrees with numpy")
    cache_dir = os.environ.get("NUMBA_CACHE_DIR") or ""
    cached = sum(1 for _ in Path(cache_dir).rglob("spectrum_sums.*.nbi")) if cache_dir else None
    if cache_dir and not cached:  # the frozen app sets it (runtime hook); so may the user
        raise StepFailed(f"numba cached no spectrum_sums kernel in NUMBA_CACHE_DIR={cache_dir}")
    return {"shape": list(data.shape), "compile_or_load_s": round(compile_s, 3),
            "kernels": [k.py_func.__name__ for k in kernels], "numba": numba.__version__,
            "parallel": ss.parallel_allowed(), "threading_layer": str(numba.config.THREADING_LAYER),
            "cache_dir": cache_dir or "(in-tree __pycache__)", "cache_index_files": cached}


def step_numba_kernels(state: dict) -> dict:
    return _in_worker(state["app"], state["timeout"], _numba_check, _one(state["demo"], "core_loss"))


def step_column_finding(state: dict) -> dict:
    import importlib.util

    if importlib.util.find_spec("batteryscope.analysis.columns.find") is None:
        return {"skipped": "batteryscope.analysis.columns.find is not part of this build"}
    path = _one(state["demo"], "lfp_antisite_haadf")
    truth = json.loads(path.with_name(path.name.replace(".hspy", ".truth.json")).read_text())
    return _in_worker(state["app"], state["timeout"], _find_columns_check, path, truth["truth"])


def _find_columns_check(path: Path, truth: dict) -> dict:
    import numpy as np
    from scipy.spatial import cKDTree

    from batteryscope.analysis.columns.find import find_columns

    from .hyperspy_adapter import load_signals

    image = np.asarray(load_signals(path, lazy=False)[0].data, dtype=np.float32)
    t0 = time.perf_counter()
    found = find_columns(image)
    seconds = time.perf_counter() - t0
    xy = _positions_xy(found)
    if len(xy) < 20:
        raise StepFailed(f"only {len(xy)} columns found on the demo HAADF image")
    true_xy = np.column_stack([truth["columns"]["x_px"], truth["columns"]["y_px"]])
    distance, _ = cKDTree(true_xy).query(xy)
    # find_columns orders by decreasing height: the 50 brightest are heavy (Fe, P) columns
    # and must sit on true columns; faint candidates may still be noise before refinement.
    brightest = float(np.mean(distance[:50] < 1.5))
    if brightest < 0.9:
        raise StepFailed(f"only {brightest:.0%} of the 50 brightest columns found lie within "
                         "1.5 px of a true column")
    return {"file": path.name, "columns_found": int(len(xy)), "brightest_50_within_1.5px": brightest,
            "median_error_px": round(float(np.median(distance)), 3), "seconds": round(seconds, 3)}


def _positions_xy(found):
    """(n, 2) x, y pixel positions from what ``find_columns`` returns."""
    import numpy as np

    for xs, ys in (("x", "y"), ("x_px", "y_px")):
        if isinstance(found, dict) and xs in found:
            return np.column_stack([found[xs], found[ys]])
        if hasattr(found, xs) and hasattr(found, ys):
            return np.column_stack([getattr(found, xs), getattr(found, ys)])
    for name in ("positions", "xy"):
        if hasattr(found, name):
            return np.asarray(getattr(found, name), dtype=float).reshape(-1, 2)
    return np.asarray(found, dtype=float).reshape(-1, 2)


def step_screenshot(state: dict) -> dict:
    app, window = state["app"], state["window"]
    names = [d.name for d in window.documents]
    pick = next((i for i, n in enumerate(names) if "core_loss" in n), 0)
    window.show_document(pick)
    for _ in range(10):
        app.processEvents()
    out = state["out"] / "screenshot.png"
    image = window.grab().toImage()
    if not image.save(str(out), "PNG"):
        raise StepFailed(f"cannot write {out}")
    step_x, step_y = max(image.width() // 40, 1), max(image.height() // 40, 1)
    colours = {image.pixel(x, y) for x in range(0, image.width(), step_x)
               for y in range(0, image.height(), step_y)}
    if len(colours) < 16:
        raise StepFailed(f"the screenshot looks blank ({len(colours)} colours)")
    return {"file": str(out), "size": [image.width(), image.height()], "bytes": out.stat().st_size}


STEPS = [("launch", step_launch), ("demo_files", step_demo_files),
         ("open_documents", step_open_documents), ("eels_quantification", step_eels_quantification),
         ("numba_kernels", step_numba_kernels), ("column_finding", step_column_finding),
         ("screenshot", step_screenshot)]


def run(args) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CONFIG_HOME"] = str(out / "config")   # leave the user's settings alone
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    state = {"out": out, "timeout": args.timeout}
    summary = {"passed": False, "frozen": bool(getattr(sys, "frozen", False)), "steps": {}}
    steps = STEPS[:1] if args.launch_only else STEPS
    try:
        for name, step in steps:
            t0 = time.monotonic()
            try:
                detail = step(state)
                status = "skipped" if "skipped" in detail else "passed"
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then we stop
                detail = {"error": f"{type(exc).__name__}: {exc}"}
                if args.debug or not isinstance(exc, StepFailed):
                    detail["traceback"] = traceback.format_exc(limit=-8)
                status = "failed"
            detail.update(status=status, seconds=round(time.monotonic() - t0, 3))
            summary["steps"][name] = detail
            if status == "failed":
                break
        summary["passed"] = all(s["status"] != "failed" for s in summary["steps"].values()) \
            and len(summary["steps"]) == len(steps)
    finally:
        if "window" in state:
            from .gui_app import teardown

            teardown(state["app"], state["window"])
    text = json.dumps(summary, indent=1)
    (out / "smoke-test.json").write_text(text + "\n")
    print(text)
    return 0 if summary["passed"] else 1
