"""Live computations on the newest frame, each on its own thread at its own capped rate.

A processor copies the newest frame from the engine's ring (never blocking the producer),
computes, and hands the result to its subscribers. It skips frames by design: at most
``max_rate_hz`` results per second, so a slow computation costs itself frames, never the
acquisition. Subscribers are called from the processor's thread (a Qt bridge re-emits).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np

from ...analysis.calibration import AxisCalibration
from ...analysis.image_fft import power_spectrum
from ...analysis.roi_geometry import roi_statistics

log = logging.getLogger(__name__)


class LiveProcessor:
    """Base class: override :meth:`process` (frame array, per-frame values) → result."""

    name = "processor"

    def __init__(self, *, max_rate_hz: float = 10.0, field: str | None = None):
        if max_rate_hz <= 0:
            raise ValueError("max_rate_hz must be > 0")
        self.period_s = 1.0 / max_rate_hz
        self.field = field
        self.processed = 0
        self.errors = 0
        self.last_error: str | None = None
        self.latest_result: Any = None
        self._listeners: list[Callable[[Any], None]] = []
        self._engine = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buffers = None
        self._last_seq = -1

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``listener(result)`` for every result; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def attach(self, engine) -> None:
        self._engine = engine
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"live {self.name}", daemon=True)
        self._thread.start()

    def detach(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._engine = None

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self._tick()
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - t0)))

    def _tick(self) -> None:
        engine = self._engine
        ring = engine.ring if engine is not None else None
        if ring is None:
            return
        if self._buffers is None or any(self._buffers[k].shape != v.shape[1:]
                                        for k, v in ring.buffers.items()):
            self._buffers = {k: np.empty(v.shape[1:], v.dtype) for k, v in ring.buffers.items()}
            self._last_seq = -1
        if ring.committed <= self._last_seq:     # a new run restarted the numbering
            self._last_seq = -1
        frame = engine.peek_latest(self._buffers, newer_than=self._last_seq)
        if frame is None:
            return
        self._last_seq = frame.seq
        data = frame.arrays[self.field] if self.field else frame.data
        try:
            result = self.process(data, frame.meta)
        except Exception as exc:  # e.g. an ROI outside the frame: report, keep running
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self.processed += 1
        self.latest_result = result
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:
                log.exception("live %s listener failed", self.name)

    def process(self, data: np.ndarray, meta) -> Any:
        raise NotImplementedError


class FrameAverager(LiveProcessor):
    """Mean of the last ``n_frames`` frames this processor took (float32)."""

    name = "average"

    def __init__(self, n_frames: int = 8, **kwargs):
        super().__init__(**kwargs)
        if n_frames < 1:
            raise ValueError("n_frames must be ≥ 1")
        self.n_frames = n_frames
        self._stack: np.ndarray | None = None
        self._count = 0

    def process(self, data, meta):
        if self._stack is None or self._stack.shape[1:] != data.shape:
            self._stack = np.zeros((self.n_frames,) + data.shape, np.float32)
            self._count = 0
        self._stack[self._count % self.n_frames] = data
        self._count += 1
        return self._stack[:min(self._count, self.n_frames)].mean(axis=0)


class LiveFFT(LiveProcessor):
    """Windowed log power spectrum of the central ``crop`` × ``crop`` pixels."""

    name = "fft"

    def __init__(self, y_axis: AxisCalibration, x_axis: AxisCalibration, *, crop: int = 512,
                 max_rate_hz: float = 5.0, **kwargs):
        super().__init__(max_rate_hz=max_rate_hz, **kwargs)
        self.y_axis, self.x_axis, self.crop = y_axis, x_axis, int(crop)

    def process(self, data, meta):
        h, w = data.shape
        ch, cw = min(self.crop, h), min(self.crop, w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        ya = AxisCalibration(self.y_axis.name, self.y_axis.units, self.y_axis.scale,
                             self.y_axis.offset + y0 * self.y_axis.scale, ch)
        xa = AxisCalibration(self.x_axis.name, self.x_axis.units, self.x_axis.scale,
                             self.x_axis.offset + x0 * self.x_axis.scale, cw)
        return power_spectrum(data[y0:y0 + ch, x0:x0 + cw], ya, xa)


class RoiStatisticsProcessor(LiveProcessor):
    """Mean, std, sum … inside an ROI (analysis.roi_geometry ROIs, calibrated)."""

    name = "roi"

    def __init__(self, roi, y_axis: AxisCalibration, x_axis: AxisCalibration, **kwargs):
        super().__init__(**kwargs)
        self.roi, self.y_axis, self.x_axis = roi, y_axis, x_axis

    def process(self, data, meta):
        return roi_statistics(data, self.roi, self.y_axis, self.x_axis)


class DriftEstimator(LiveProcessor):
    """Shift (dy, dx) in pixels of each frame against the first one, by phase correlation.

    Frames are binned by ``binning`` first (drift is slow and large-scale); the peak is
    refined to sub-pixel by a parabola through its neighbours.
    """

    name = "drift"

    def __init__(self, *, binning: int = 4, max_rate_hz: float = 5.0, **kwargs):
        super().__init__(max_rate_hz=max_rate_hz, **kwargs)
        self.binning = int(binning)
        self._reference_fft: np.ndarray | None = None

    def reset(self) -> None:
        """Take the next frame as the new reference."""
        self._reference_fft = None

    def _binned(self, data):
        b = self.binning
        h, w = (data.shape[0] // b) * b, (data.shape[1] // b) * b
        return data[:h, :w].astype(np.float32).reshape(h // b, b, w // b, b).mean(axis=(1, 3))

    def process(self, data, meta):
        img = windowed_rfft(self._binned(data))
        if self._reference_fft is None or self._reference_fft.shape != img.shape:
            self._reference_fft = img
            return (0.0, 0.0)
        return tuple(float(v) * self.binning for v in phase_correlation_shift(self._reference_fft, img))


def windowed_rfft(image: np.ndarray) -> np.ndarray:
    """rfft2 of the image minus its mean, under a Hann window (no edge streaks)."""
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1])).astype(np.float32)
    return np.fft.rfft2((image - image.mean()) * window)


def phase_correlation_shift(ref_rfft: np.ndarray, img_rfft: np.ndarray) -> tuple[float, float]:
    """(dy, dx) such that image ≈ reference shifted by (dy, dx), from their
    :func:`windowed_rfft`. The whitening is regularised so that frequencies without
    signal do not add noise."""
    cross = img_rfft * np.conj(ref_rfft)
    magnitude = np.abs(cross)
    cross /= magnitude + 1e-3 * max(float(magnitude.max()), 1e-30)
    n_cols = 2 * (ref_rfft.shape[1] - 1)
    corr = np.fft.irfft2(cross, s=(ref_rfft.shape[0], n_cols))
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    shift = []
    for axis, i, n in ((0, iy, corr.shape[0]), (1, ix, corr.shape[1])):
        idx = [iy, ix]
        idx[axis] = (i - 1) % n
        left = corr[tuple(idx)]
        idx[axis] = (i + 1) % n
        right = corr[tuple(idx)]
        centre = corr[iy, ix]
        denom = left - 2 * centre + right
        frac = 0.5 * (left - right) / denom if denom != 0 else 0.0
        s = i + frac
        shift.append(s - n if s > n / 2 else s)
    return shift[0], shift[1]
