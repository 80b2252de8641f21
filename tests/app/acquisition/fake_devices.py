"""A tiny, test-only camera: each frame's pixels encode its index, so every frame can be checked."""
from __future__ import annotations

import time

import numpy as np

from batteryscope.app.hardware.interfaces import Camera, CameraSettings, DeviceState, FrameMeta


def expected_frame(index: int, shape) -> np.ndarray:
    """The frame FakeCamera gives with device index ``index``."""
    h, w = shape
    return ((np.arange(h * w, dtype=np.uint32).reshape(h, w) + 1009 * index) % 65521).astype(np.uint16)


class FakeCamera(Camera):
    """Frames at ``fps`` (None: as fast as read), failing at frame ``fail_at`` if given.

    ``skip_every``: every this many frames the device index jumps by one (a frame the
    camera lost), to check that drops are counted.
    """

    def __init__(self, shape=(32, 24), fps: float | None = None, fail_at: int | None = None,
                 skip_every: int | None = None, dose: float | None = 2.0):
        super().__init__("fake")
        self.shape, self.fps, self.fail_at, self.skip_every = tuple(shape), fps, fail_at, skip_every
        self.dose = dose
        self._settings = CameraSettings(exposure_s=0.001, size=self.shape)
        self._n = 0
        self._index = 0
        self._t0 = 0.0
        self.reconnects = 0

    frame_shape = property(lambda self: self.shape)
    dtype = property(lambda self: np.dtype(np.uint16))
    settings = property(lambda self: self._settings)

    def configure(self, settings: CameraSettings) -> None:
        self._settings = settings

    def start(self) -> None:
        self.check_usable()
        self._n, self._index, self._t0 = 0, 0, time.monotonic()
        self._state = DeviceState.RUNNING

    def stop(self) -> None:
        if self._state is DeviceState.RUNNING:
            self._state = DeviceState.IDLE

    def read_frame(self, out: np.ndarray, timeout_s: float = 1.0) -> FrameMeta:
        self.check_usable()
        if self.fail_at is not None and self._n >= self.fail_at:
            raise self.fail("cable unplugged (test)")
        if self.fps:
            wait = self._t0 + (self._n + 1) / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        out[...] = expected_frame(self._index, self.shape)
        meta = FrameMeta(index=self._index, timestamp_s=time.time(), monotonic_s=time.monotonic(),
                         exposure_s=0.001, dose_e_per_A2=self.dose, device=self.name)
        self._n += 1
        self._index += 2 if self.skip_every and self._n % self.skip_every == 0 else 1
        return meta

    def _reconnect(self) -> None:
        self.reconnects += 1
        self.fail_at = None

    def _close(self) -> None:
        pass
