"""Values exchanged with devices: errors, validated settings, frame metadata, readings.

Re-exported by :mod:`.interfaces`; import them from there.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import UserFacingError

ELEMENTARY_CHARGE_C = 1.602176634e-19
DETECTOR_NAMES = ("HAADF", "ABF", "BF")
BIAS_MODES = ("current", "voltage")


# ----------------------------------------------------------------------------- errors
class DeviceError(UserFacingError):
    """A device failed, timed out in a way that cannot be retried, or disconnected.

    ``DeviceError("camera 'sim'", "cable unplugged")`` reads
    ``camera 'sim': cable unplugged``; a single argument is used as the whole message.
    """

    def __init__(self, device: str, reason: str | None = None):
        self.device = device if reason is not None else ""
        self.reason = " ".join(str(reason if reason is not None else device).split())
        super().__init__(f"{device}: {self.reason}" if reason is not None else self.reason)


class SettingError(UserFacingError, ValueError):
    """A setting outside its allowed range: the message names setting, value and range.

    ``SettingError("dwell_s", 1e-9, "1e-07 … 0.1 s")`` reads
    ``dwell_s = 1e-09 is not allowed (allowed: 1e-07 … 0.1 s)``.
    """

    def __init__(self, setting: str, value: Any = None, allowed: str | None = None,
                 device: str | None = None):
        self.setting, self.value, self.allowed, self.device = setting, value, allowed, device
        if allowed is None and value is None:
            message = setting
        else:
            message = f"{setting} = {value!r} is not allowed (allowed: {allowed})"
        if device:
            message = f"{device}: {message}"
        super().__init__(message)


def check_range(name: str, value, low: float | None, high: float | None, unit: str = "",
                *, device: str | None = None) -> float:
    """Return ``float(value)`` if ``low <= value <= high`` (finite), else raise SettingError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    allowed = f"{'-∞' if low is None else f'{low:g}'} … {'∞' if high is None else f'{high:g}'}"
    allowed += f" {unit}" if unit else ""
    if (not math.isfinite(number) or (low is not None and number < low)
            or (high is not None and number > high)):
        raise SettingError(name, value, allowed, device)
    return number


def _check_shape(name: str, shape, low: int, high: int) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
        ok = all(float(s) == int(s) for s in shape)
    except (TypeError, ValueError):
        raise SettingError(name, shape, f"(height, width) with each {low} … {high}") from None
    if not ok or not (low <= h <= high and low <= w <= high):
        raise SettingError(name, shape, f"(height, width) with each {low} … {high}")
    return h, w


def electrons_per_pixel(beam_current_A: float, dwell_s: float) -> float:
    """Mean number of electrons delivered in one dwell at the given probe current."""
    return beam_current_A * dwell_s / ELEMENTARY_CHARGE_C


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class CameraSettings:
    """Camera acquisition settings; ``frame_shape`` is ``size // binning``.

    ``frame_rate_hz=None`` runs as fast as the exposure allows (``1 / exposure_s``).
    """

    exposure_s: float = 0.0025
    frame_rate_hz: float | None = None
    size: tuple[int, int] = (1024, 1024)
    binning: int = 1
    beam_current_A: float | None = None   # simulated camera: None = the microscope's TEM current

    def __post_init__(self):
        check_range("exposure_s", self.exposure_s, 1e-6, 60.0, "s")
        object.__setattr__(self, "size", _check_shape("size", self.size, 1, 8192))
        if isinstance(self.binning, bool) or not isinstance(self.binning, (int, np.integer)) \
                or self.binning not in (1, 2, 4, 8):
            raise SettingError("binning", self.binning, "1, 2, 4 or 8")
        object.__setattr__(self, "binning", int(self.binning))
        if self.size[0] % self.binning or self.size[1] % self.binning:
            raise SettingError("binning", self.binning,
                               f"a divisor of the size {self.size[0]}×{self.size[1]}")
        if self.frame_rate_hz is not None:
            check_range("frame_rate_hz", self.frame_rate_hz, 1e-3, 1.0 / self.exposure_s, "Hz")
        if self.beam_current_A is not None:
            check_range("beam_current_A", self.beam_current_A, 0.0, 1e-6, "A")

    @property
    def frame_shape(self) -> tuple[int, int]:
        return (self.size[0] // self.binning, self.size[1] // self.binning)

    @property
    def frame_interval_s(self) -> float:
        return 1.0 / self.frame_rate_hz if self.frame_rate_hz else self.exposure_s


@dataclass(frozen=True)
class ScanSettings:
    """STEM scan: ``shape`` is (rows, columns); ``pixel_size_A=None`` uses the microscope's."""

    shape: tuple[int, int] = (256, 256)
    dwell_s: float = 2e-6
    pixel_size_A: float | None = None
    detectors: tuple[str, ...] = ("HAADF",)
    rotation_deg: float = 0.0
    beam_current_A: float | None = None   # None: the microscope's current

    def __post_init__(self):
        object.__setattr__(self, "shape", _check_shape("shape", self.shape, 1, 8192))
        check_range("dwell_s", self.dwell_s, 1e-7, 0.1, "s")
        if self.pixel_size_A is not None:
            check_range("pixel_size_A", self.pixel_size_A, 0.005, 1e5, "Å")
        dets = (self.detectors,) if isinstance(self.detectors, str) else tuple(self.detectors)
        if not dets or len(set(dets)) != len(dets) or any(d not in DETECTOR_NAMES for d in dets):
            raise SettingError("detectors", self.detectors,
                               f"one or more distinct of {', '.join(DETECTOR_NAMES)}")
        object.__setattr__(self, "detectors", dets)
        check_range("rotation_deg", self.rotation_deg, -360.0, 360.0, "°")
        if self.beam_current_A is not None:
            check_range("beam_current_A", self.beam_current_A, 0.0, 1e-6, "A")


@dataclass(frozen=True)
class SpectrumImageSettings:
    """EELS spectrum image: a HAADF value and a spectrum of ``channels`` per probe position."""

    shape: tuple[int, int] = (64, 64)
    dwell_s: float = 0.01
    channels: int = 2048
    dispersion_eV: float = 0.25
    offset_eV: float = 400.0
    pixel_size_A: float | None = None
    beam_current_A: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", _check_shape("shape", self.shape, 1, 4096))
        check_range("dwell_s", self.dwell_s, 1e-5, 10.0, "s")
        if (isinstance(self.channels, bool) or not isinstance(self.channels, (int, np.integer))
                or not 16 <= self.channels <= 16384):
            raise SettingError("channels", self.channels, "an integer 16 … 16384")
        object.__setattr__(self, "channels", int(self.channels))
        check_range("dispersion_eV", self.dispersion_eV, 0.005, 5.0, "eV/channel")
        check_range("offset_eV", self.offset_eV, -200.0, 3000.0, "eV")
        if self.pixel_size_A is not None:
            check_range("pixel_size_A", self.pixel_size_A, 0.005, 1e5, "Å")
        if self.beam_current_A is not None:
            check_range("beam_current_A", self.beam_current_A, 0.0, 1e-6, "A")

    def energy_axis(self) -> np.ndarray:
        return (self.offset_eV + self.dispersion_eV * np.arange(self.channels)).astype(np.float32)


@dataclass(frozen=True)
class BiasSettings:
    """Source-measure unit: source ``setpoint`` (A in current mode, V in voltage mode).

    ``compliance`` limits the other quantity (V in current mode, A in voltage mode).
    ``cutoff_low_V``/``cutoff_high_V`` are cell cut-offs: crossing one switches the output off.
    """

    mode: str = "current"
    setpoint: float = 0.0
    compliance: float = 5.0
    cutoff_low_V: float | None = None
    cutoff_high_V: float | None = None

    def __post_init__(self):
        if self.mode not in BIAS_MODES:
            raise SettingError("mode", self.mode, " or ".join(map(repr, BIAS_MODES)))
        if self.mode == "current":
            check_range("setpoint", self.setpoint, -1.05, 1.05, "A")
            check_range("compliance", self.compliance, 0.02, 210.0, "V")
        else:
            check_range("setpoint", self.setpoint, -210.0, 210.0, "V")
            check_range("compliance", self.compliance, 1e-9, 1.05, "A")
        for name in ("cutoff_low_V", "cutoff_high_V"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), -210.0, 210.0, "V")
        if (self.cutoff_low_V is not None and self.cutoff_high_V is not None
                and self.cutoff_low_V >= self.cutoff_high_V):
            raise SettingError("cutoff_low_V", self.cutoff_low_V,
                               f"below cutoff_high_V = {self.cutoff_high_V:g} V")


@dataclass(frozen=True)
class StagePosition:
    """Stage coordinates: x, y, z in µm, tilts alpha, beta in degrees."""

    x_um: float = 0.0
    y_um: float = 0.0
    z_um: float = 0.0
    alpha_deg: float = 0.0
    beta_deg: float = 0.0


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FrameMeta:
    """What came with one frame (or one spectrum-image row: ``index`` is then the row).

    ``timestamp_s`` is wall-clock (``time.time()``), ``monotonic_s`` is
    ``time.monotonic()`` at the end of the exposure; ``dose_e_per_A2`` and ``electrons``
    are this frame's alone (None when the device cannot know).
    """

    index: int
    timestamp_s: float
    monotonic_s: float
    exposure_s: float
    dose_e_per_A2: float | None = None
    electrons: float | None = None
    device: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["settings"] = dict(self.settings)
        return d


@dataclass(frozen=True)
class BiasReading:
    """One source-measure reading; ``output_on`` False after a cut-off or output off."""

    voltage_V: float
    current_A: float
    timestamp_s: float
    compliance_hit: bool = False
    monotonic_s: float = 0.0
    output_on: bool = True
    cutoff_hit: bool = False


def now() -> tuple[float, float]:
    """(wall-clock, monotonic) time in seconds, for FrameMeta/BiasReading."""
    return time.time(), time.monotonic()
