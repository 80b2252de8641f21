"""Sums, maps and line scans of a spectrum image.

A spectrum image ``data`` has shape ``(ny, nx, n_energy)``: navigation rows and columns
(y, x), then energy channels; C-contiguous float32/float64 or integer counts are read by
numba kernels in place, anything else (strided views, float16) through numpy.
Accumulation is float64 whatever the input dtype.

Every function takes a plain numpy array, so it works on a whole in-memory dataset or
on one sub-block of a lazy (dask) one: the caller slices the block the region touches,
computes it, and calls the same function (see :func:`line_pixels` and
:func:`mean_spectra_at` for the line-scan case).

NaN policy: sums follow ``numpy.sum`` - a channel is NaN when any summed pixel is NaN
in that channel (use ``numpy.nan_to_num`` first to ignore them).
"""
from __future__ import annotations

import math

import numpy as np

from .calibration import AxisCalibration
from .roi_geometry import LineROI
from .spectrum_sums import (block_sum, channel_window_sum, check_spectrum_image,
                            gather_mean, pixel_list_sum)

__all__ = ["rectangle_sum", "RectangleSumTracker", "masked_sum", "energy_channel_slice",
           "energy_window_map", "line_pixels", "mean_spectra_at", "line_scan"]


def _bounds(index: slice, size: int, what: str) -> tuple[int, int]:
    """[start, stop) of a step-1 slice clipped to ``size`` (stop >= start)."""
    if not isinstance(index, slice):
        raise ValueError(f"{what} must be a slice, got {type(index).__name__}")
    start, stop, step = index.indices(size)
    if step != 1:
        raise ValueError(f"{what} must have step 1, got step {step}")
    return start, max(start, stop)


def rectangle_sum(data, rows: slice, cols: slice) -> np.ndarray:
    """Sum of the spectra in a rectangle of navigation pixels.

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
        Spectrum image, float or integer.
    rows, cols : slice
        Navigation rows and columns of the rectangle (step 1; clipped like numpy).

    Returns
    -------
    ndarray of shape (n_energy,), float64
        Equal to ``data[rows, cols].sum(axis=(0, 1), dtype=np.float64)``; zeros for an
        empty rectangle.
    """
    data = check_spectrum_image(data)
    r0, r1 = _bounds(rows, data.shape[0], "rows")
    c0, c1 = _bounds(cols, data.shape[1], "cols")
    return block_sum(data, r0, r1, c0, c1)


def masked_sum(data, mask) -> np.ndarray:
    """Sum of the spectra of the navigation pixels where ``mask`` is True.

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
    mask : bool ndarray of shape (ny, nx)
        For example ``EllipseROI.mask(y_axis, x_axis)``.

    Returns
    -------
    ndarray of shape (n_energy,), float64
        Equal to ``data[mask].sum(axis=0, dtype=np.float64)``.
    """
    data = check_spectrum_image(data)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != data.shape[:2]:
        raise ValueError(f"mask of shape {mask.shape} does not match the navigation shape "
                         f"{data.shape[:2]}")
    rows, cols = np.nonzero(mask)
    return pixel_list_sum(data, rows, cols)


def energy_channel_slice(energy_axis: AxisCalibration, lo: float, hi: float) -> slice:
    """Channels whose centres lie in the window [lo, hi] (either order).

    Raises
    ------
    ValueError
        If the window lies outside the axis or contains no channel centre.
    """
    lo, hi = sorted((float(lo), float(hi)))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"energy window [{lo}, {hi}] must be finite")
    first, last = sorted((energy_axis.offset, energy_axis.high))
    if hi < first or lo > last:
        raise ValueError(f"energy window [{lo:g}, {hi:g}] {energy_axis.units} is outside the "
                         f"axis [{first:g}, {last:g}] {energy_axis.units}")
    a, b = sorted((energy_axis.index_of(lo), energy_axis.index_of(hi)))
    start = max(0, math.ceil(a - 1e-9))
    stop = min(energy_axis.size, math.floor(b + 1e-9) + 1)
    if stop <= start:
        raise ValueError(f"energy window [{lo:g}, {hi:g}] {energy_axis.units} contains no "
                         f"channel centre (channel width {abs(energy_axis.scale):g})")
    return slice(start, stop)


def energy_window_map(data, energy_axis: AxisCalibration, lo: float, hi: float) -> np.ndarray:
    """Image of the counts in an energy window: per pixel, the sum of the channels
    whose centres lie in [lo, hi].

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
    energy_axis : AxisCalibration
        Calibration of the last axis (size ``n_energy``).
    lo, hi : float
        Window limits in the axis units (either order).

    Returns
    -------
    ndarray of shape (ny, nx), float32 (accumulated in float64)
    """
    data = check_spectrum_image(data)
    if energy_axis.size != data.shape[2]:
        raise ValueError(f"energy axis of size {energy_axis.size} does not match "
                         f"{data.shape[2]} channels")
    window = energy_channel_slice(energy_axis, lo, hi)
    return channel_window_sum(data, window.start, window.stop)


def line_pixels(y_axis: AxisCalibration, x_axis: AxisCalibration, line: LineROI):
    """Pixels sampled along a line, one pixel apart, and across its width.

    Samples start at (x0, y0) and step one pixel (in index space) towards (x1, y1).
    Across the line, ``round(width / pixel)`` samples (at least one) one pixel apart
    are centred on it; ``width`` 0 is a single pixel. Each sample takes the nearest
    pixel.

    Returns
    -------
    position_axis : AxisCalibration
        "Position" along the line from its start, in the units of ``x_axis``.
    rows, cols : int64 ndarray of shape (n_positions, n_across)
        Pixel indices; -1 (in both) where a sample falls outside the image.
    """
    start = np.array([y_axis.index_of(line.y0), x_axis.index_of(line.x0)])
    end = np.array([y_axis.index_of(line.y1), x_axis.index_of(line.x1)])
    length_px = float(np.hypot(*(end - start)))
    n_pos = int(math.floor(length_px + 1e-9)) + 1
    t = np.arange(n_pos) / length_px if length_px > 0 else np.zeros(1)
    step = line.length / length_px if length_px > 0 else abs(x_axis.scale)
    along = start[None, :] + t[:, None] * (end - start)[None, :]            # (n_pos, 2)
    if line.length > 0:   # unit normal in calibrated space, then in index space
        normal = np.array([line.x1 - line.x0, -(line.y1 - line.y0)]) / line.length
    else:
        normal = np.array([1.0, 0.0])
    normal = normal / np.array([y_axis.scale, x_axis.scale])
    px_per_unit = float(np.hypot(*normal))
    n_across = max(1, int(round(line.width * px_per_unit))) if line.width > 0 else 1
    offsets = np.arange(n_across) - (n_across - 1) / 2.0
    points = along[:, None, :] + offsets[None, :, None] * (normal / px_per_unit)[None, None, :]
    idx = np.floor(points + 0.5).astype(np.int64)
    rows, cols = idx[..., 0], idx[..., 1]
    outside = (rows < 0) | (rows >= y_axis.size) | (cols < 0) | (cols >= x_axis.size)
    rows[outside] = -1
    cols[outside] = -1
    position_axis = AxisCalibration("Position", x_axis.units, step, 0.0, n_pos, navigate=True)
    return position_axis, rows, cols


def mean_spectra_at(data, rows, cols) -> np.ndarray:
    """Mean spectrum over each row of a table of pixels.

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
    rows, cols : int ndarray of shape (n, m)
        Pixel indices into ``data``; -1 marks a missing sample (left out of the mean).

    Returns
    -------
    ndarray of shape (n, n_energy), float32; NaN where a row has no valid pixel.
    """
    data = check_spectrum_image(data)
    rows, cols = np.asarray(rows), np.asarray(cols)
    if rows.ndim != 2 or rows.shape != cols.shape:
        raise ValueError(f"rows and cols must be 2-D of one shape; got {rows.shape}, {cols.shape}")
    valid = (rows >= 0) & (cols >= 0)
    if np.any(rows[valid] >= data.shape[0]) or np.any(cols[valid] >= data.shape[1]):
        raise ValueError(f"pixel indices outside the navigation shape {data.shape[:2]}")
    return gather_mean(data, np.where(valid, rows, -1), np.where(valid, cols, -1))


def line_scan(data, y_axis: AxisCalibration, x_axis: AxisCalibration, line: LineROI):
    """Spectra along a line, one pixel apart, averaged across its width.

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
    y_axis, x_axis : AxisCalibration
        Navigation calibrations (sizes ny, nx).
    line : LineROI
        In the calibrated units of the axes; see :func:`line_pixels` for the sampling.

    Returns
    -------
    position_axis : AxisCalibration
    spectra : ndarray of shape (n_positions, n_energy), float32
        NaN at positions entirely outside the image.
    """
    data = check_spectrum_image(data)
    if data.shape[:2] != (y_axis.size, x_axis.size):
        raise ValueError(f"navigation shape {data.shape[:2]} does not match axes "
                         f"({y_axis.size}, {x_axis.size})")
    position_axis, rows, cols = line_pixels(y_axis, x_axis, line)
    return position_axis, gather_mean(data, rows, cols)


class RectangleSumTracker:
    """Sum of the spectra in a rectangle that is being dragged, updated incrementally.

    When the new rectangle overlaps the previous one, only the strips that it newly
    covers are added and the strips it left are subtracted; a full sum is read instead
    when that reads fewer pixels (big jumps, big resizes). Accumulators are float64;
    every ``recompute_every`` incremental updates, and whenever the result is not
    finite (NaN or inf pixels cannot be subtracted back out), the sum is recomputed
    from scratch. Integer data give exact sums.

    Parameters
    ----------
    data : ndarray of shape (ny, nx, n_energy)
    recompute_every : int, keyword-only
        Incremental updates between full recomputes (bounds rounding drift).

    Attributes
    ----------
    n_full, n_incremental : int
        How many updates were full sums and incremental ones.
    """

    def __init__(self, data, *, recompute_every: int = 256):
        if recompute_every < 1:
            raise ValueError(f"recompute_every must be >= 1, got {recompute_every}")
        self._data = check_spectrum_image(data)
        self._every = int(recompute_every)
        self._box: tuple[int, int, int, int] | None = None
        self._acc = np.zeros(self._data.shape[2], dtype=np.float64)
        self._since_full = 0
        self.n_full = 0
        self.n_incremental = 0

    @property
    def region(self) -> tuple[slice, slice] | None:
        """(rows, cols) of the current rectangle, None before the first update."""
        if self._box is None:
            return None
        r0, r1, c0, c1 = self._box
        return slice(r0, r1), slice(c0, c1)

    def update(self, rows: slice, cols: slice) -> np.ndarray:
        """Move the rectangle to (rows, cols); return its float64 sum (a copy)."""
        ny, nx = self._data.shape[:2]
        box = (*_bounds(rows, ny, "rows"), *_bounds(cols, nx, "cols"))
        if box == self._box:
            return self._acc.copy()
        old, self._box = self._box, box
        if old is None or self._since_full >= self._every or not self._incremental(old, box):
            return self.full_recompute()
        self.n_incremental += 1
        self._since_full += 1
        if not np.isfinite(self._acc).all():
            return self.full_recompute()
        return self._acc.copy()

    def full_recompute(self) -> np.ndarray:
        """Sum the current rectangle from scratch; return it (a copy)."""
        if self._box is None:
            return self._acc.copy()
        self._acc = block_sum(self._data, *self._box)
        self._since_full = 0
        self.n_full += 1
        return self._acc.copy()

    def _incremental(self, old, new) -> bool:
        """Apply new - old by strips if that reads fewer pixels than a full sum."""
        inter = (max(old[0], new[0]), min(old[1], new[1]), max(old[2], new[2]), min(old[3], new[3]))
        if inter[1] <= inter[0] or inter[3] <= inter[2]:
            return False
        added, removed = _strips(new, inter), _strips(old, inter)
        cost = sum(_area(b) for b in added) + sum(_area(b) for b in removed)
        if cost >= _area(new):
            return False
        for b in added:
            self._acc += block_sum(self._data, *b)
        for b in removed:
            self._acc -= block_sum(self._data, *b)
        return True


def _area(box) -> int:
    return max(0, box[1] - box[0]) * max(0, box[3] - box[2])


def _strips(box, inner):
    """Up to four boxes (r0, r1, c0, c1) covering ``box`` minus ``inner`` (inside it)."""
    r0, r1, c0, c1 = box
    i0, i1, j0, j1 = inner
    parts = [(r0, i0, c0, c1), (i1, r1, c0, c1), (i0, i1, c0, j0), (i0, i1, j1, c1)]
    return [b for b in parts if _area(b) > 0]
