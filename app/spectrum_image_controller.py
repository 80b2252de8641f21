"""Connects a :class:`SpectrumImageNavigator` to the data of one spectrum-image document.

The navigator reports what the user points at (pixel, rectangle, energy window, line);
this controller computes the spectra and maps and hands them back for display.

* In-memory (numpy) data: computed on the GUI thread with the numba kernels; a
  rectangle being dragged is summed incrementally by a :class:`RectangleSumTracker`.
  Requests are coalesced by a 60 Hz timer, so a burst of mouse moves costs one update.
  Work that would read more than :attr:`GUI_THREAD_BYTES` (a wide energy window on a
  big dataset) runs in the job runner instead.
* Lazy (dask) data: never read on the GUI thread. Each request runs in the
  :class:`JobRunner`, reading only the chunks it needs; at most one job of a kind runs,
  newer requests replace the queued one (latest wins), and results that arrive after a
  newer one was shown are dropped by sequence number.

dask is never imported here: a lazy array is anything with ``compute`` and ``chunks``.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import LineROI, RectangleROI
from batteryscope.analysis.spectrum_image import (RectangleSumTracker, energy_channel_slice,
                                                  energy_window_map, line_pixels, line_scan,
                                                  mean_spectra_at, rectangle_sum)

CURSOR_TRACE = "Cursor"
ROI_TRACE = "ROI sum"


def is_lazy(data) -> bool:
    """True for a dask (or dask-like) array."""
    return hasattr(data, "compute") and hasattr(data, "chunks")


# ------------------------------------------------------------ computations (any thread)

def pixel_spectrum(data, row: int, col: int) -> np.ndarray:
    """float64 spectrum of one navigation pixel."""
    s = data[row, col]
    return np.asarray(s.compute() if is_lazy(s) else s, dtype=np.float64)


def rectangle_spectrum(data, rows: slice, cols: slice) -> np.ndarray:
    """float64 sum of a rectangle; on dask, a reduction over the touched chunks only."""
    if is_lazy(data):
        return np.asarray(data[rows, cols].sum(axis=(0, 1), dtype=np.float64).compute())
    return rectangle_sum(data, rows, cols)


def window_map(data, energy_axis: AxisCalibration, lo: float, hi: float, *, progress=None):
    """float32 energy-window map; on dask, one block of chunk rows at a time, reading
    only the window's channels. ``progress(fraction)`` is called after each block."""
    if not is_lazy(data):
        return energy_window_map(data, energy_axis, lo, hi)
    channels = energy_channel_slice(energy_axis, lo, hi)
    out = np.empty(data.shape[:2], dtype=np.float32)
    edges = np.cumsum((0,) + tuple(data.chunks[0]))
    for k, (r0, r1) in enumerate(zip(edges[:-1], edges[1:])):
        block = np.asarray(data[r0:r1, :, channels].compute())
        out[r0:r1] = block.sum(axis=2, dtype=np.float64)
        if progress is not None:
            progress((k + 1) / (len(edges) - 1))
    return out


def line_spectra(data, y_axis, x_axis, line: LineROI):
    """(position_axis, float32 spectra) along ``line``; on dask, only the sampled pixels
    are gathered (``vindex``), then averaged with the same kernel as in memory."""
    if not is_lazy(data):
        return line_scan(data, y_axis, x_axis, line)
    position_axis, rows, cols = line_pixels(y_axis, x_axis, line)
    valid = rows >= 0
    pixels, index = np.unique(np.stack([rows[valid], cols[valid]], axis=1), axis=0,
                              return_inverse=True)
    table = np.full(rows.shape, -1, dtype=np.int64)
    table[valid] = index.ravel()
    if len(pixels):
        points = np.asarray(data.vindex[pixels[:, 0], pixels[:, 1]].compute())
    else:
        points = np.zeros((0, data.shape[2]), dtype=np.float32)
    zeros = np.where(table >= 0, 0, -1)
    return position_axis, mean_spectra_at(points[:, None, :], table, zeros)


# ------------------------------------------------------------ latest-wins job slot

class _LatestJob:
    """One kind of request: at most one job running, newer requests replace the queued
    one. ``progressive`` slots show results of superseded jobs (a ROI sum while
    dragging); the others cancel superseded jobs and drop their results."""

    def __init__(self, runner, deliver, fail, *, progressive: bool, progress=None):
        self._runner, self._deliver, self._fail = runner, deliver, fail
        self._progressive, self._progress = progressive, progress
        self._running = None            # (Job, seq)
        self._queued = None             # (function, args, seq)
        self._seq = self._shown = 0

    def submit(self, function, *args) -> None:
        self._seq += 1
        self._queued = (function, args, self._seq)
        if self._running is None:
            self._start_queued()
        elif not self._progressive:
            self._running[0].cancel()

    def shown_inline(self) -> int:
        """Mark a result computed on the GUI thread as the newest; older ones are dropped."""
        self._seq += 1
        self._shown, self._queued = self._seq, None
        if self._running is not None and not self._progressive:
            self._running[0].cancel()
        return self._seq

    def stop(self) -> None:
        self._queued = None
        self._deliver = self._fail = None
        if self._running is not None:
            self._running[0].cancel()

    def _start_queued(self) -> None:
        function, args, seq = self._queued
        self._queued = None
        on_progress = (lambda f, _m: self._progress(f)) if self._progress else None
        job = self._runner.start(function, *args, on_progress=on_progress,
                                 on_done=lambda r: self._finished(job.job_id, seq, r, None),
                                 on_error=lambda e, tb: self._finished(job.job_id, seq, None, e),
                                 on_cancelled=lambda: self._finished(job.job_id, seq, None, None))
        self._running = (job, seq)

    def _finished(self, job_id: int, seq: int, result, error) -> None:
        if self._running is None or self._running[0].job_id != job_id:
            return                                   # stale: not the job we are waiting for
        self._running = None
        newest = seq > self._shown and (self._progressive or self._queued is None)
        if self._deliver is not None and newest:
            if error is not None:
                self._fail(error)
            elif result is not None:
                self._shown = seq
                self._deliver(result)
        if self._queued is not None and self._deliver is not None:
            self._start_queued()


# ------------------------------------------------------------ the controller

class SpectrumImageController(QObject):
    """Computes what a :class:`SpectrumImageNavigator` asks for, on numpy or dask data.

    Parameters
    ----------
    navigator : SpectrumImageNavigator
    data : ndarray or dask array of shape (ny, nx, n_energy)
    axes : (AxisCalibration, AxisCalibration, AxisCalibration)
        y, x and energy calibrations.
    runner : JobRunner

    Signals
    -------
    roiSumShown(object, object)
        The RectangleROI and the float64 sum just displayed as "ROI sum".
    pixelSpectrumShown(int, int, object), windowMapShown(float, float, object),
    lineScanShown(object, object, object)
        (row, col, spectrum); (lo, hi, map); (line, position_axis, spectra).
    failed(str)
        A request could not be computed (for example a window outside the axis).
    progress(str, float)
        Kind ("map", "line") and fraction of a lazy computation.
    """

    roiSumShown = Signal(object, object)
    pixelSpectrumShown = Signal(int, int, object)
    windowMapShown = Signal(float, float, object)
    lineScanShown = Signal(object, object, object)
    failed = Signal(str)
    progress = Signal(str, float)

    REFRESH_HZ = 60
    GUI_THREAD_BYTES = 48 * 1024 * 1024

    def __init__(self, navigator, data, axes, runner, parent=None):
        super().__init__(parent)
        y_axis, x_axis, e_axis = axes
        if len(data.shape) != 3 or tuple(data.shape) != (y_axis.size, x_axis.size, e_axis.size):
            raise ValueError(f"data of shape {tuple(data.shape)} does not match axes "
                             f"({y_axis.size}, {x_axis.size}, {e_axis.size})")
        self._nav, self._data, self._axes = navigator, data, (y_axis, x_axis, e_axis)
        self.lazy = is_lazy(data)
        self._tracker = None if self.lazy else RectangleSumTracker(data)
        self._pinned_trace: str | None = None
        self.last_roi_sum: tuple[RectangleROI, np.ndarray] | None = None
        self._pending: dict[str, object] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(1000 // self.REFRESH_HZ)
        self._timer.timeout.connect(self._flush)
        slot = lambda deliver, progressive, kind=None: _LatestJob(  # noqa: E731
            runner, deliver, self._report, progressive=progressive,
            progress=(lambda f: self.progress.emit(kind, f)) if kind else None)
        self._jobs = {"cursor": slot(self._show_cursor, True),
                      "pinned": slot(self._show_pinned, True),
                      "roi": slot(self._show_roi, True),
                      "map": slot(self._show_map, False, "map"),
                      "line": slot(self._show_line, False, "line")}
        navigator.set_energy_axis(e_axis)
        navigator.pixelHovered.connect(lambda r, c: self._request("cursor", (r, c)))
        navigator.pixelSelected.connect(lambda r, c: self._request("pinned", (r, c)))
        navigator.regionChanged.connect(lambda rect: self._request("roi", rect))
        navigator.regionFinished.connect(lambda rect: self._request("roi", rect))
        navigator.energyWindowChanged.connect(lambda lo, hi: self._request("map", (lo, hi)))
        navigator.lineChanged.connect(lambda line: self._request("line", line))
        navigator.destroyed.connect(self.shutdown)

    @property
    def tracker(self) -> RectangleSumTracker | None:
        """The incremental rectangle sum (in-memory data only)."""
        return self._tracker

    # ------------------------------------------------------------------ sync API
    def spectrum_at(self, row: int, col: int) -> np.ndarray:
        """float64 spectrum of pixel (row, col) (computes synchronously)."""
        return pixel_spectrum(self._data, row, col)

    def roi_sum(self, rect: RectangleROI) -> np.ndarray:
        """float64 sum of the pixels whose centres lie in ``rect`` (synchronous)."""
        return rectangle_spectrum(self._data, *rect.pixel_slices(*self._axes[:2]))

    def window_map(self, lo: float, hi: float) -> np.ndarray:
        """float32 map of the counts in the energy window [lo, hi] (synchronous)."""
        return window_map(self._data, self._axes[2], lo, hi)

    def line_scan(self, line: LineROI):
        """(position_axis, float32 spectra) along ``line`` (synchronous)."""
        return line_spectra(self._data, *self._axes[:2], line)

    def set_data(self, data) -> None:
        """Compute from ``data`` from now on (e.g. the in-memory copy of a lazy file)."""
        if tuple(data.shape) != tuple(self._data.shape):
            raise ValueError(f"new data of shape {tuple(data.shape)} does not match "
                             f"{tuple(self._data.shape)}")
        self._data = data
        self.lazy = is_lazy(data)
        self._tracker = None if self.lazy else RectangleSumTracker(data)

    def shutdown(self, *_) -> None:
        """Stop the timer and ignore every result still to come."""
        self._timer.stop()
        self._pending.clear()
        for slot in self._jobs.values():
            slot.stop()

    # ------------------------------------------------------------------ requests
    def _request(self, kind: str, request) -> None:
        self._pending[kind] = request
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for kind, request in pending.items():
            try:
                getattr(self, f"_update_{'pixel' if kind in ('cursor', 'pinned') else kind}")(
                    kind, request)
            except ValueError as exc:
                self._report(exc)

    def _update_pixel(self, kind, pixel) -> None:
        if self.lazy:
            self._jobs[kind].submit(lambda ctx, d, r, c: (r, c, pixel_spectrum(d, r, c)),
                                    self._data, *pixel)
        else:
            self._jobs[kind].shown_inline()
            getattr(self, f"_show_{kind}")((*pixel, pixel_spectrum(self._data, *pixel)))

    def _update_roi(self, kind, rect: RectangleROI) -> None:
        rows, cols = rect.pixel_slices(*self._axes[:2])
        if self.lazy:
            self._jobs["roi"].submit(lambda ctx, d: (rect, rectangle_spectrum(d, rows, cols)),
                                     self._data)
        else:
            self._jobs["roi"].shown_inline()
            self._show_roi((rect, self._tracker.update(rows, cols)))

    def _update_map(self, kind, window) -> None:
        lo, hi = window
        channels = energy_channel_slice(self._axes[2], lo, hi)        # ValueError early
        n_bytes = self._data.shape[0] * self._data.shape[1] * (channels.stop - channels.start) \
            * self._data.dtype.itemsize
        if self.lazy or n_bytes > self.GUI_THREAD_BYTES:
            self._jobs["map"].submit(
                lambda ctx, d, e: (lo, hi, window_map(d, e, lo, hi, progress=ctx.progress)),
                self._data, self._axes[2])
        else:
            self._jobs["map"].shown_inline()
            self._show_map((lo, hi, window_map(self._data, self._axes[2], lo, hi)))

    def _update_line(self, kind, line: LineROI) -> None:
        n_bytes = (line.length / abs(self._axes[1].scale) + 1) * self._data.shape[2] \
            * self._data.dtype.itemsize * max(1.0, line.width / abs(self._axes[1].scale))
        if self.lazy or n_bytes > self.GUI_THREAD_BYTES:
            self._jobs["line"].submit(
                lambda ctx, d, y, x: (line, *line_spectra(d, y, x, line)), self._data,
                *self._axes[:2])
        else:
            self._jobs["line"].shown_inline()
            self._show_line((line, *line_spectra(self._data, *self._axes[:2], line)))

    # ------------------------------------------------------------------ display (GUI thread)
    def _show_cursor(self, result) -> None:
        row, col, spectrum = result
        self._nav.show_spectrum(CURSOR_TRACE, spectrum)
        self.pixelSpectrumShown.emit(row, col, spectrum)

    def _show_pinned(self, result) -> None:
        row, col, spectrum = result
        name = f"Pixel ({row}, {col})"
        if self._pinned_trace not in (None, name):
            self._nav.remove_spectrum(self._pinned_trace)
        self._pinned_trace = name
        self._nav.show_spectrum(name, spectrum)
        self.pixelSpectrumShown.emit(row, col, spectrum)

    def _show_roi(self, result) -> None:
        rect, spectrum = result
        self._nav.show_spectrum(ROI_TRACE, spectrum)
        self.last_roi_sum = (rect, spectrum)
        self.roiSumShown.emit(rect, spectrum)

    def _show_map(self, result) -> None:
        lo, hi, image = result
        units = self._axes[2].units
        self._nav.show_map(image, f"Counts in {lo:.1f}–{hi:.1f} {units}".rstrip())
        self.windowMapShown.emit(lo, hi, image)

    def _show_line(self, result) -> None:
        line, position_axis, spectra = result
        self._nav.show_line_scan(spectra, position_axis)
        self.lineScanShown.emit(line, position_axis, spectra)

    def _report(self, error) -> None:
        self.failed.emit(str(error))
