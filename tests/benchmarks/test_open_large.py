"""Open → first image for 2 GiB files, ours vs HyperSpy's lazy ``load`` + ``plot``.

Two files of 2 GiB each (generated once into $BATTERYSCOPE_BENCH_DIR, default
/tmp/batteryscope-bench): a 256×256×8192 float32 EELS spectrum image and a
512×1024×1024 float32 image stack, HDF5 (.hspy) chunked the way HyperSpy writes them.
Before every measurement the file's pages are dropped from the OS cache
(posix_fadvise DONTNEED), so both tools read from disk.

Ours: ``MainWindow.open_files`` → the first image is on screen (``documentsOpened``),
and → the file has been read in the background (navigator complete, data in memory:
``documentReady``). HyperSpy: ``hs.load(lazy=True)`` + ``s.plot()`` with the Agg backend
(it computes the navigator — a full pass — before the first image appears).
Physical limit: file size / sequential read bandwidth of the disk, measured with
``dd``-style reads of the same file.

Run: ``python -m pytest tests/benchmarks/test_open_large.py -s``.
"""
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(os.environ.get("BATTERYSCOPE_BENCH_DIR", "/tmp/batteryscope-bench"))
REPEATS = 3


def _drop_cache(path: Path) -> None:
    for f in ([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]):
        with open(f, "rb") as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _make(path: Path, shape, chunks, signal_dim: int) -> Path:
    if path.exists():
        return path
    import dask.array as da
    import hyperspy.api as hs

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    data = da.random.default_rng(0).poisson(20.0, size=shape, chunks=chunks).astype(np.float32)  # uncompressed below: a 2 GiB file
    s = (hs.signals.Signal1D if signal_dim == 1 else hs.signals.Signal2D)(data).as_lazy()
    for i, axis in enumerate(s.axes_manager._axes):
        axis.scale, axis.units = (0.5, "eV") if (signal_dim == 1 and not axis.navigate) else (0.2, "nm")
    tmp = path.with_suffix(".partial.hspy")
    s.save(str(tmp), overwrite=True, chunks=chunks, compression=None, show_progressbar=False)
    tmp.rename(path)
    return path


@pytest.fixture(scope="module")
def files():
    si = _make(BENCH_DIR / "si_256x256x8192_f32.hspy", (256, 256, 8192), (16, 16, 8192), 1)
    stack = _make(BENCH_DIR / "stack_512x1024x1024_f32.hspy", (512, 1024, 1024), (4, 1024, 1024), 2)
    return {"spectrum image 256×256×8192": si, "stack 512×1024²": stack}


def _disk_read_seconds(path: Path) -> float:
    _drop_cache(path)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(64 * 2**20):
            pass
    return time.perf_counter() - t0


def _ours(qtbot, path: Path):
    from batteryscope.app.main_window import MainWindow

    window = MainWindow(show_dialogs=False)
    qtbot.addWidget(window)
    window.show()
    try:
        _drop_cache(path)
        t0 = time.perf_counter()
        with qtbot.waitSignal(window.documentsOpened, timeout=600_000):
            window.open_files([path])
        first = time.perf_counter() - t0
        with qtbot.waitSignal(window.documentReady, timeout=600_000):
            pass
        ready = time.perf_counter() - t0
    finally:
        window.runner.stop_all(30)
        window.close()
    return first, ready


def _hyperspy(path: Path) -> float:
    import matplotlib

    matplotlib.use("Agg")
    import hyperspy.api as hs
    import matplotlib.pyplot as plt

    _drop_cache(path)
    t0 = time.perf_counter()
    s = hs.load(str(path), lazy=True)
    s.plot()
    plt.gcf().canvas.draw()
    elapsed = time.perf_counter() - t0
    plt.close("all")
    return elapsed


def test_open_to_first_image(qtbot, files):
    rows = []
    for name, path in files.items():
        size = path.stat().st_size
        ours = [_ours(qtbot, path) for _ in range(REPEATS)]
        hyperspy = statistics.median(_hyperspy(path) for _ in range(REPEATS))
        disk = statistics.median(_disk_read_seconds(path) for _ in range(REPEATS))
        first = statistics.median(o[0] for o in ours)
        ready = statistics.median(o[1] for o in ours)
        rows.append((name, size, first, ready, hyperspy, disk))
    print("\nopen → first image, 2 GiB lazily opened files (cold page cache, medians of "
          f"{REPEATS})")
    print(f"{'file':30s} {'GiB':>5s} {'ours first':>11s} {'ours ready':>11s} {'HyperSpy plot':>14s}"
          f" {'disk read':>10s} {'HS/ours first':>14s}")
    for name, size, first, ready, hyperspy, disk in rows:
        print(f"{name:30s} {size / 2**30:5.2f} {first:10.2f}s {ready:10.2f}s {hyperspy:13.2f}s"
              f" {disk:9.2f}s {hyperspy / first:13.1f}×")
        assert first > 0 and ready >= first
