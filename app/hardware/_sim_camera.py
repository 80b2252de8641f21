"""Simulated TEM camera: up to 1024×1024 uint16 frames at hundreds of frames per second.

A frame costs one pass over memory: when the settings change, a pool of ``pool_size``
Poisson-noisy canvases of the bright-field image (tiled specimen, slightly larger than
the frame) is drawn once; each frame then copies a window of one canvas, displaced by
the specimen drift, through a numba lookup-table kernel that applies the damage contrast loss.
Noise realisations therefore repeat after ``pool_size`` frames at the same drift offset.

Timing follows a virtual clock: frame ``n`` ends at ``t_start + (n + 1) × interval``.
A reader faster than the camera waits; a reader more than ``buffer_frames`` behind
loses the oldest frames, and the skipped indices show in ``FrameMeta.index``.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from ._sim_column import FaultInjection, SimulatedColumn
from .interfaces import (Camera, CameraSettings, DeviceError, DeviceState, FrameMeta, SettingError,
                         check_range, ELEMENTARY_CHARGE_C)



@numba.njit(cache=True, nogil=True)
def _window_through_lut(canvas, y0, x0, out, lut):
    """out = lut[canvas[y0:y0+h, x0:x0+w]] (a 64k-entry uint16 lookup table: damage contrast)."""
    h, w = out.shape
    for i in range(h):
        row = canvas[y0 + i]
        for j in range(w):
            out[i, j] = lut[row[x0 + j]]


def _contrast_lut(mean: float, gain: float, size: int) -> np.ndarray:
    """Lookup table (``size`` entries) of ``mean + gain · (v - mean)``, rounded, clipped to uint16."""
    v = np.arange(size, dtype=np.float64)
    return np.clip(np.rint(mean + gain * (v - mean)), 0, 65535).astype(np.uint16)


class SimulatedCamera(FaultInjection, Camera):
    MAX_SIZE = (1024, 1024)
    MIN_EXPOSURE_S = 1e-4
    SPECIMEN_PIXELS_PER_CAMERA_PIXEL = 2   # unbinned camera pixel = 2 specimen-map pixels
    EFFICIENCY = 0.8

    def __init__(self, name: str, column: SimulatedColumn, *, pool_size: int = 8,
                 buffer_frames: int = 64, seed: int = 0):
        super().__init__(name)
        self._column = column
        self._pool_size = int(pool_size)
        self._buffer_frames = int(buffer_frames)
        self._rng = np.random.default_rng(seed)
        self._settings = CameraSettings()
        self._pool: np.ndarray | None = None
        self._pool_key = None
        self._mean = 0.0
        self._lut = None
        self._lut_gain = None
        self._lut_size = 1
        self._next = 0
        self._t_start = 0.0

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self._settings.frame_shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    def configure(self, settings: CameraSettings) -> None:
        self._guard()
        if self.state is DeviceState.RUNNING:
            raise SettingError(f"{self.label}: stop the camera before changing its settings")
        h, w = settings.size
        if h > self.MAX_SIZE[0] or w > self.MAX_SIZE[1]:
            raise SettingError("size", settings.size,
                               f"up to {self.MAX_SIZE[0]}×{self.MAX_SIZE[1]}", self.label)
        check_range("exposure_s", settings.exposure_s, self.MIN_EXPOSURE_S, 10.0, "s",
                    device=self.label)
        self._settings = settings

    # ------------------------------------------------------------------ pool
    def _electrons_per_pixel(self) -> float:
        s = self._settings
        current = self._column.flood_current_A(s.beam_current_A)
        h, w = s.frame_shape
        return current * s.exposure_s / ELEMENTARY_CHARGE_C / (h * w)

    def _build_pool(self) -> None:
        s = self._settings
        e_px = self._electrons_per_pixel()
        key = (s, e_px, self._column.blanked)
        if key == self._pool_key:
            return
        h, w = s.frame_shape
        spec = self._column.specimen
        step = self._step_A()
        py, px = self._period_px()
        ys = np.arange(h + py) * step
        xs = np.arange(w + px) * step
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        expected = spec.sample("BF", xx, yy) * (e_px * self.EFFICIENCY)
        pool = np.empty((self._pool_size,) + expected.shape, np.uint16)
        for k in range(self._pool_size):
            pool[k] = np.minimum(self._rng.poisson(expected), 65535)
        self._pool, self._pool_key = pool, key
        self._mean = float(expected.mean())
        self._lut_gain = None
        self._lut_size = int(pool.max()) + 1

    def _step_A(self) -> float:
        """Specimen length seen by one (binned) camera pixel."""
        spec = self._column.specimen
        return spec.pixel_size_A * self.SPECIMEN_PIXELS_PER_CAMERA_PIXEL * self._settings.binning

    def _period_px(self) -> tuple[int, int]:
        """The specimen repeats every this many camera pixels (canvas margin for drift)."""
        spec = self._column.specimen
        k = self.SPECIMEN_PIXELS_PER_CAMERA_PIXEL * self._settings.binning
        return spec.shape[0] // k, spec.shape[1] // k

    # ------------------------------------------------------------------ acquisition
    def start(self) -> None:
        self._guard()
        self._build_pool()
        _window_through_lut(self._pool[0], 0, 0, np.empty((1, 1), np.uint16),
                            np.zeros(self._lut_size, np.uint16))   # compile / load the kernel now
        self._next = 0
        self._t_start = time.monotonic()
        self._state = DeviceState.RUNNING

    def stop(self) -> None:
        if self.state is DeviceState.RUNNING:
            self._state = DeviceState.IDLE

    def read_frame(self, out: np.ndarray, timeout_s: float = 1.0) -> FrameMeta:
        self._guard()
        if self.state is not DeviceState.RUNNING:
            raise DeviceError(self.label, "not started (call start() first)")
        self.check_buffer(out)
        s = self._settings
        interval = s.frame_interval_s
        now = time.monotonic()
        newest = int((now - self._t_start) / interval) - 1     # last completed frame
        index = max(self._next, newest - self._buffer_frames + 1)
        t_end = self._t_start + (index + 1) * interval
        if t_end > now:
            if t_end - now > timeout_s:
                time.sleep(max(timeout_s, 0.0))
                raise TimeoutError(f"{self.label}: no frame within {timeout_s:g} s")
            time.sleep(t_end - now)
        try:
            spec = self._column.specimen
            dx, dy = spec.drift_A(t_end)
            step = self._step_A()
            py, px = self._period_px()
            oy = int(round(float(dy) / step)) % py          # the canvas is periodic
            ox = int(round(float(dx) / step)) % px
            damage = float(spec.damage())
            gain = round(1.0 - 0.7 * damage, 3)          # LUT rebuilt per 0.1 % contrast step
            canvas = self._pool[index % self._pool_size]
            if gain >= 1.0:
                np.copyto(out, canvas[oy:oy + out.shape[0], ox:ox + out.shape[1]])
            else:
                if self._lut_gain != gain:
                    self._lut = _contrast_lut(self._mean, gain, self._lut_size)
                    self._lut_gain = gain
                _window_through_lut(canvas, oy, ox, out, self._lut)
            e_px = self._electrons_per_pixel()
            area = self._step_A() ** 2
            spec.deposit_uniform(e_px / area * (index + 1 - self._next))
        except Exception as exc:   # a bug in the simulation must still end the run cleanly
            raise self.fail(f"frame generation failed: {type(exc).__name__}: {exc}") from exc
        self._next = index + 1
        wall = time.time() - (time.monotonic() - t_end)
        h, w = s.frame_shape
        return FrameMeta(index=index, timestamp_s=wall, monotonic_s=t_end, exposure_s=s.exposure_s,
                         dose_e_per_A2=e_px / area, electrons=e_px * h * w, device=self.name,
                         settings={"exposure_s": s.exposure_s, "binning": s.binning,
                                   "frame_shape": [h, w], "frame_interval_s": interval,
                                   "drift_A": [float(dx), float(dy)],
                                   "damage": damage})

    def _close(self) -> None:
        self._pool = None
