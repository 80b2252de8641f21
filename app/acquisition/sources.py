"""Frame sources: what the engine's producer thread reads from a device, one item at a time.

A source names the arrays one item consists of (``fields``), fills preallocated views of
them in place (``read``) and returns the device's
:class:`~batteryscope.app.hardware.interfaces.FrameMeta`. A camera gives frames
(``{"frame": (h, w)}``); a spectrum image gives scan rows (``{"spectra": (cols, channels),
"haadf": (cols,)}``) and ends after the last row.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict
from typing import Any

import numpy as np


class FrameSource(ABC):
    """One device as seen by the acquisition engine."""

    #: items in one run (None: until stopped)
    n_items: int | None = None

    @property
    @abstractmethod
    def label(self) -> str:
        """The device, as error messages name it ("camera 'sim'")."""

    @property
    @abstractmethod
    def fields(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Name → (shape, dtype) of the arrays of one item."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def read(self, out: dict[str, np.ndarray], timeout_s: float):
        """Fill ``out`` in place; return the FrameMeta. TimeoutError: nothing yet."""

    @abstractmethod
    def reconnect(self) -> None: ...

    def settings(self) -> dict[str, Any]:
        """Device settings of this run, for the file's metadata."""
        return {}


class CameraSource(FrameSource):
    """Frames from a :class:`~batteryscope.app.hardware.interfaces.Camera`."""

    def __init__(self, camera):
        self.camera = camera

    @property
    def label(self) -> str:
        return self.camera.label

    @property
    def fields(self):
        return {"frame": (tuple(self.camera.frame_shape), np.dtype(self.camera.dtype))}

    def start(self) -> None:
        self.camera.start()

    def stop(self) -> None:
        self.camera.stop()

    def read(self, out, timeout_s):
        return self.camera.read_frame(out["frame"], timeout_s)

    def reconnect(self) -> None:
        self.camera.reconnect()

    def settings(self):
        s = asdict(self.camera.settings)
        s["size"] = list(s["size"])
        return {k: v for k, v in s.items() if v is not None}


class SpectrumImageSource(FrameSource):
    """Rows of an EELS spectrum image from a :class:`ScanDevice` (ends after the last row)."""

    def __init__(self, scan, si_settings):
        self.scan = scan
        self.si = si_settings
        self.n_items = int(si_settings.shape[0])

    @property
    def label(self) -> str:
        return self.scan.label

    @property
    def fields(self):
        cols = int(self.si.shape[1])
        return {"spectra": ((cols, int(self.si.channels)), np.dtype(np.float32)),
                "haadf": ((cols,), np.dtype(np.float32))}

    def start(self) -> None:
        self.scan.start_spectrum_image(self.si)

    def stop(self) -> None:
        self.scan.stop()

    def read(self, out, timeout_s):
        return self.scan.read_si_row(out["spectra"], out["haadf"], timeout_s)

    def reconnect(self) -> None:
        self.scan.reconnect()

    def settings(self):
        s = asdict(self.si)
        s["shape"] = list(s["shape"])
        return {k: v for k, v in s.items() if v is not None}
