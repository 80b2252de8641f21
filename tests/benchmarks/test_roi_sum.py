"""ROI dragging on a spectrum image: ms per update of the summed spectrum.

A 256 × 256 × 2048 float32 spectrum image (512 MiB, in memory). A 64 × 64 and a
128 × 128 rectangle are dragged along the same path of ~100 moves of 1-3 pixels; each
method computes the ROI-sum spectrum at every position:

* BatteryScope ``RectangleSumTracker.update`` (incremental: adds and subtracts strips);
* BatteryScope ``rectangle_sum`` (numba, float64 accumulation, re-reads the whole ROI);
* numpy ``data[r0:r1, c0:c1].sum(axis=(0, 1))``, what a script does;
* HyperSpy ``s.inav[c0:c1, r0:r1].sum()`` and ``hs.roi.RectangularROI(...)(s).sum()``,
  what a notebook does (HyperSpy is imported here only);
* the memory-bandwidth bound: bytes of the ROI / memcpy bandwidth (``np.copyto`` of a
  256 MiB array, median of several). A memcpy moves every byte twice (read + write), so
  a pure read can beat this bound by up to ~2×; the incremental tracker reads only strips.

Run with ``python -m pytest tests/benchmarks/test_roi_sum.py -s``. The machine is small
(2 cores) and noisy: medians are printed, only results are asserted, never times.
"""
import statistics
import time

import numpy as np
import pytest

from batteryscope.analysis.spectrum_image import RectangleSumTracker, rectangle_sum

SHAPE = (256, 256, 2048)
N_MOVES = 100
N_MOVES_HYPERSPY = 30            # HyperSpy is slow; fewer moves give the same median
TARGET_MS = 30.0


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random(SHAPE, dtype=np.float32) * 100.0


def drag_path(size: int, n: int, seed: int = 1) -> list[tuple[slice, slice]]:
    """Rectangles of ``size`` × ``size`` pixels along a random walk of 1-3 pixel moves."""
    rng = np.random.default_rng(seed)
    r, c = (SHAPE[0] - size) // 2, (SHAPE[1] - size) // 2
    path = []
    for _ in range(n):
        while True:
            dr, dc = rng.integers(-3, 4, 2)
            if (dr, dc) != (0, 0):
                break
        r = int(np.clip(r + dr, 0, SHAPE[0] - size))
        c = int(np.clip(c + dc, 0, SHAPE[1] - size))
        path.append((slice(r, r + size), slice(c, c + size)))
    return path


def time_each(function, path) -> tuple[list[float], list]:
    times, results = [], []
    for rows, cols in path:
        t0 = time.perf_counter()
        results.append(function(rows, cols))
        times.append(time.perf_counter() - t0)
    return times, results


def memcpy_bandwidth(n_bytes: int = 256 * 2**20, repeats: int = 7) -> float:
    """Bytes per second of ``np.copyto`` between two ``n_bytes`` arrays (median)."""
    src = np.ones(n_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return n_bytes / statistics.median(times)


def strip_pixels(path, size) -> float:
    """Mean pixels newly covered plus uncovered per move (what the tracker reads)."""
    moved = []
    for (r_a, c_a), (r_b, c_b) in zip(path[:-1], path[1:]):
        dr, dc = abs(r_b.start - r_a.start), abs(c_b.start - c_a.start)
        moved.append(2 * (size * size - (size - dr) * (size - dc)))
    return float(np.mean(moved))


@pytest.mark.parametrize("size", [64, 128])
def test_roi_sum_while_dragging(data, size):
    import hyperspy.api as hs

    hs.set_log_level("ERROR")
    path = drag_path(size, N_MOVES)
    bandwidth = memcpy_bandwidth()
    roi_bytes = size * size * SHAPE[2] * data.itemsize

    rectangle_sum(data, slice(0, 2), slice(0, 2))                 # compile / load the kernels
    tracker = RectangleSumTracker(data)
    tracker.update(slice(0, size), slice(0, size))
    tracker.update(*path[0])                                     # start of the drag (full)
    t_tracker, r_tracker = time_each(tracker.update, path[1:])
    t_kernel, r_kernel = time_each(lambda r, c: rectangle_sum(data, r, c), path[1:])
    t_numpy, r_numpy = time_each(lambda r, c: data[r, c].sum(axis=(0, 1)), path[1:])

    s = hs.signals.Signal1D(data)
    hs_path = path[1:1 + N_MOVES_HYPERSPY]
    t_inav, r_inav = time_each(lambda r, c: s.inav[c.start:c.stop, r.start:r.stop].sum().data,
                               hs_path)
    xa, ya = s.axes_manager.navigation_axes                      # HyperSpy order: x, y

    def hyperspy_roi(r, c):      # HyperSpy's ROI takes [left, right) in axis values
        roi = hs.roi.RectangularROI(left=xa.index2value(c.start), top=ya.index2value(r.start),
                                    right=xa.index2value(c.stop), bottom=ya.index2value(r.stop))
        return roi(s).sum().data

    t_roi, r_roi = time_each(hyperspy_roi, hs_path)

    # sanity: every method computes the same spectra
    for k in (0, len(hs_path) // 2, len(hs_path) - 1):
        reference = data[path[1 + k]].sum(axis=(0, 1), dtype=np.float64)
        np.testing.assert_allclose(r_tracker[k], reference, rtol=1e-9)
        np.testing.assert_allclose(r_kernel[k], reference, rtol=1e-12)
        for other in (r_numpy[k], r_inav[k], r_roi[k]):
            np.testing.assert_allclose(other, reference, rtol=1e-4)
    np.testing.assert_allclose(r_tracker[-1], data[path[-1]].sum(axis=(0, 1), dtype=np.float64),
                               rtol=1e-9)

    ms = {name: 1e3 * statistics.median(t) for name, t in [
        ("tracker", t_tracker), ("rectangle_sum", t_kernel), ("numpy", t_numpy),
        ("hyperspy inav", t_inav), ("hyperspy ROI", t_roi)]}
    bound_ms = 1e3 * roi_bytes / bandwidth
    strip_bound_ms = 1e3 * strip_pixels(path, size) * SHAPE[2] * data.itemsize / bandwidth
    best_hs = min(ms["hyperspy inav"], ms["hyperspy ROI"])
    print(f"\nROI {size}×{size} on {SHAPE} float32 ({roi_bytes / 2**20:.0f} MiB per ROI), "
          f"{len(path) - 1} moves of 1-3 px; memcpy {bandwidth / 1e9:.1f} GB/s; "
          f"tracker: {tracker.n_incremental} incremental / {tracker.n_full} full updates")
    print(f"{'method':<16}{'median ms':>10}{'numpy/x':>9}{'HyperSpy/x':>12}{'x/bound':>9}")
    for name, value in ms.items():
        print(f"{name:<16}{value:>10.2f}{ms['numpy'] / value:>9.1f}{best_hs / value:>12.1f}"
              f"{value / bound_ms:>9.2f}")
    print(f"{'bound (ROI)':<16}{bound_ms:>10.2f}   (strips read per move: {strip_bound_ms:.2f} ms)")
    print(f"target ≤ {TARGET_MS:.0f} ms per update: tracker {ms['tracker']:.2f} ms")
