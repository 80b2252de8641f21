"""Axis calibration: the value type every layer uses to describe one array axis."""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np


@dataclass(frozen=True)
class AxisCalibration:
    """Linear calibration of one array axis: ``value = offset + scale * index``.

    Parameters
    ----------
    name : str
        What the axis is, in the microscopist's words ("x", "y", "Energy loss", "Time").
    units : str
        Physical units of ``scale`` and ``offset`` ("nm", "Å", "eV", "s"); "" if uncalibrated.
    scale : float
        Step between neighbouring samples, in ``units``.
    offset : float
        Value at index 0, in ``units``.
    size : int
        Number of samples.
    navigate : bool
        True for navigation axes (scan positions, frames), False for signal axes
        (image pixels of one frame, energy channels of one spectrum).
    """

    name: str
    units: str
    scale: float
    offset: float
    size: int
    navigate: bool = False

    def __post_init__(self):
        if self.size < 0:
            raise ValueError(f"axis {self.name!r}: size must be >= 0, got {self.size}")
        if not np.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"axis {self.name!r}: scale must be finite and non-zero, got {self.scale}")
        if not np.isfinite(self.offset):
            raise ValueError(f"axis {self.name!r}: offset must be finite, got {self.offset}")

    def values(self) -> np.ndarray:
        """Calibrated coordinate of every sample (float64 array of length ``size``)."""
        return self.offset + self.scale * np.arange(self.size, dtype=np.float64)

    def index_of(self, value: float) -> float:
        """Fractional index of a calibrated ``value`` (no clipping)."""
        return (value - self.offset) / self.scale

    @property
    def high(self) -> float:
        """Calibrated value of the last sample."""
        return self.offset + self.scale * (self.size - 1)

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable dictionary."""
        d = asdict(self)
        d["scale"] = float(d["scale"])
        d["offset"] = float(d["offset"])
        d["size"] = int(d["size"])
        return d


def check_calibrated_image(image, y_axis: AxisCalibration, x_axis: AxisCalibration, *,
                           what: str) -> np.ndarray:
    """``image`` as an ndarray after checking it is a real 2-D array of shape (y.size, x.size).

    ``what`` names the caller in the message ("line_profile needs a 2-D image, …").
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{what} needs a 2-D image, got shape {image.shape}")
    if image.shape != (y_axis.size, x_axis.size):
        raise ValueError(f"image of shape {image.shape} does not match axes "
                         f"({y_axis.size}, {x_axis.size})")
    if np.iscomplexobj(image) or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"{what} needs a real-valued image, got dtype {image.dtype}")
    return image
