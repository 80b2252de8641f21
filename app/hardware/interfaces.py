"""Device interfaces of the hardware abstraction layer (no Qt).

Every driver implements some of these abstract classes and hands them out as a
:class:`DeviceSet` from :meth:`Driver.open`. The contract shared by all devices:

* settings are frozen dataclasses validated on construction (:class:`SettingError`
  names the setting, the value and the allowed range); a device refuses, again with
  :class:`SettingError`, a valid setting that is outside *its* limits;
* readers fill a buffer the caller preallocated (no allocation per frame) and return a
  :class:`FrameMeta`; they raise :class:`TimeoutError` when nothing arrived in time and
  :class:`DeviceError` when the device failed or disconnected;
* a failure puts the device in :attr:`DeviceState.ERROR`; every later call raises
  :class:`DeviceError` until :meth:`Device.reconnect` (or :meth:`Driver.reconnect`)
  clears it. Nothing ever requires restarting the program.

Units are SI except where the name says otherwise (``pixel_size_A`` in ångström,
``dose_e_per_A2`` in electrons per Å², energies in eV).
"""
from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np

from .device_settings import (BIAS_MODES, DETECTOR_NAMES, ELEMENTARY_CHARGE_C, BiasReading,
                              BiasSettings, CameraSettings, DeviceError, FrameMeta, ScanSettings,
                              SettingError, SpectrumImageSettings, StagePosition, check_range,
                              electrons_per_pixel, now)

__all__ = [
    "BIAS_MODES", "DETECTOR_NAMES", "ELEMENTARY_CHARGE_C", "BiasReading", "BiasSettings",
    "CameraSettings", "DeviceError", "FrameMeta", "ScanSettings", "SettingError",
    "SpectrumImageSettings", "StagePosition", "check_range", "electrons_per_pixel", "now",
    "DeviceState", "Device", "Camera", "ScanDevice", "Spectrometer", "Microscope", "Stage",
    "BiasSource", "DeviceSet", "Driver",
]


# ----------------------------------------------------------------------------- devices
class DeviceState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    ERROR = "error"
    CLOSED = "closed"


class Device(ABC):
    """Common life cycle: IDLE ⇄ RUNNING, → ERROR on a failure (cleared by reconnect), → CLOSED."""

    kind: ClassVar[str] = "device"

    def __init__(self, name: str):
        self.name = name
        self._state = DeviceState.IDLE
        self._error: str | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._state.value}>"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def error(self) -> str | None:
        """Why the device is in the ERROR state (None otherwise)."""
        return self._error

    def fail(self, reason: str) -> DeviceError:
        """Enter the ERROR state and return the DeviceError to raise."""
        with self._lock:
            self._state = DeviceState.ERROR
            self._error = " ".join(str(reason).split())
            return DeviceError(self.label, self._error)

    def check_usable(self) -> None:
        """Raise DeviceError if closed or in the error state."""
        if self._state is DeviceState.CLOSED:
            raise DeviceError(self.label, "closed")
        if self._state is DeviceState.ERROR:
            raise DeviceError(self.label, f"in error state ({self._error}); reconnect first")

    def reconnect(self) -> None:
        """Re-establish the link and clear the error state; raises DeviceError if that fails."""
        with self._lock:
            if self._state is DeviceState.CLOSED:
                raise DeviceError(self.label, "closed")
            try:
                self._reconnect()
            except DeviceError:
                raise
            except Exception as exc:
                raise self.fail(f"reconnect failed: {type(exc).__name__}: {exc}") from exc
            self._state, self._error = DeviceState.IDLE, None

    def close(self) -> None:
        """Release the device (idempotent)."""
        with self._lock:
            if self._state is not DeviceState.CLOSED:
                try:
                    self._close()
                finally:
                    self._state = DeviceState.CLOSED

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @abstractmethod
    def _reconnect(self) -> None:
        """Driver-specific: reopen the link (called by reconnect)."""

    @abstractmethod
    def _close(self) -> None:
        """Driver-specific: release resources (called once by close)."""


class Camera(Device):
    """A frame camera (or pixelated detector) filling caller-owned 2-D buffers."""

    kind = "camera"

    @property
    @abstractmethod
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of frames with the current settings."""

    @property
    @abstractmethod
    def dtype(self) -> np.dtype:
        """dtype of the frames (the buffer passed to read_frame must have it)."""

    @property
    @abstractmethod
    def settings(self) -> CameraSettings:
        """The settings in force."""

    @abstractmethod
    def configure(self, settings: CameraSettings) -> None:
        """Apply settings (only while stopped); SettingError if outside this camera's limits."""

    @abstractmethod
    def start(self) -> None:
        """Start acquiring (frames become readable)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop acquiring (idempotent)."""

    @abstractmethod
    def read_frame(self, out: np.ndarray, timeout_s: float = 1.0) -> FrameMeta:
        """Fill ``out`` (shape ``frame_shape``, ``dtype``) in place with the next frame."""

    def check_buffer(self, out: np.ndarray) -> None:
        if out.shape != tuple(self.frame_shape) or out.dtype != self.dtype:
            raise ValueError(f"{self.label}: buffer must be {self.frame_shape} {self.dtype}, "
                             f"got {out.shape} {out.dtype}")


class ScanDevice(Device):
    """STEM scan generator with integrating detectors, and spectrum-image acquisition.

    ``read_frame`` fills either a dict ``{detector: (rows, cols) float32}`` or an array of
    shape ``(len(detectors), rows, cols)`` in the order of ``settings.detectors``.
    A spectrum image is read row by row after ``start_spectrum_image``; FrameMeta.index is
    the row. Reading past the last row raises DeviceError.
    """

    kind = "scan"
    dtype = np.dtype(np.float32)

    @property
    @abstractmethod
    def detectors(self) -> tuple[str, ...]:
        """Detectors this scan unit has (a subset of DETECTOR_NAMES)."""

    @property
    @abstractmethod
    def settings(self) -> ScanSettings:
        """The scan settings in force."""

    @abstractmethod
    def configure(self, settings: ScanSettings) -> None:
        """Apply scan settings (SettingError if a detector is missing or a limit exceeded)."""

    @abstractmethod
    def start(self) -> None:
        """Start continuous scanning."""

    @abstractmethod
    def stop(self) -> None:
        """Stop scanning or an unfinished spectrum image (idempotent)."""

    @abstractmethod
    def read_frame(self, out: dict[str, np.ndarray] | np.ndarray,
                   timeout_s: float = 5.0) -> FrameMeta:
        """Fill ``out`` with the next full scan frame of every configured detector."""

    @abstractmethod
    def start_spectrum_image(self, settings: SpectrumImageSettings) -> None:
        """Begin a spectrum image (rows are read with read_si_row)."""

    @abstractmethod
    def read_si_row(self, out_spectra: np.ndarray, out_haadf: np.ndarray | None = None,
                    timeout_s: float = 10.0) -> FrameMeta:
        """Fill ``out_spectra`` (cols, channels) float32 and ``out_haadf`` (cols,) float32."""

    def _check_scan_out(self, out, settings: ScanSettings) -> dict[str, np.ndarray]:
        """Normalise ``out`` to a dict of (rows, cols) float32 views; ValueError if unfit."""
        shape = tuple(settings.shape)
        if isinstance(out, np.ndarray):
            if out.shape != (len(settings.detectors),) + shape or out.dtype != self.dtype:
                raise ValueError(f"{self.label}: buffer must be {(len(settings.detectors),) + shape}"
                                 f" float32, got {out.shape} {out.dtype}")
            return {d: out[i] for i, d in enumerate(settings.detectors)}
        for d in settings.detectors:
            if d not in out or out[d].shape != shape or out[d].dtype != self.dtype:
                raise ValueError(f"{self.label}: buffer {d!r} must be {shape} float32")
        return {d: out[d] for d in settings.detectors}


class Spectrometer(Device):
    """EELS spectrometer: dispersion (eV/channel) and energy offset (eV) of the first channel."""

    kind = "spectrometer"

    @property
    @abstractmethod
    def channels(self) -> int:
        """Number of channels of the spectrometer camera."""

    @property
    @abstractmethod
    def dispersion_eV(self) -> float: ...

    @property
    @abstractmethod
    def offset_eV(self) -> float: ...

    @property
    @abstractmethod
    def allowed_dispersions_eV(self) -> tuple[float, ...]: ...

    @abstractmethod
    def set_dispersion(self, dispersion_eV: float) -> None:
        """SettingError unless one of allowed_dispersions_eV."""

    @abstractmethod
    def set_offset(self, offset_eV: float) -> None:
        """SettingError outside the spectrometer's range."""

    @abstractmethod
    def read_spectrum(self, out: np.ndarray, exposure_s: float,
                      timeout_s: float = 10.0) -> FrameMeta:
        """Acquire one spectrum at the current probe position into ``out`` (channels,) float32."""

    def energy_axis(self) -> np.ndarray:
        return (self.offset_eV + self.dispersion_eV * np.arange(self.channels)).astype(np.float32)


class Microscope(Device):
    """Column state: high tension, magnification → pixel size, probe current, beam blank."""

    kind = "microscope"

    @property
    @abstractmethod
    def high_tension_V(self) -> float: ...

    @property
    @abstractmethod
    def magnification(self) -> float: ...

    @property
    @abstractmethod
    def pixel_size_A(self) -> float:
        """Scan pixel size at the current magnification for the reference 256-pixel frame."""

    @property
    @abstractmethod
    def beam_current_A(self) -> float: ...

    @property
    @abstractmethod
    def is_blanked(self) -> bool: ...

    @abstractmethod
    def set_high_tension(self, volts: float) -> None: ...

    @abstractmethod
    def set_magnification(self, magnification: float) -> None: ...

    @abstractmethod
    def set_beam_current(self, amps: float) -> None: ...

    @abstractmethod
    def blank(self) -> None: ...

    @abstractmethod
    def unblank(self) -> None: ...


class Stage(Device):
    """Specimen stage; ``limits`` maps each StagePosition field to (low, high)."""

    kind = "stage"

    @property
    @abstractmethod
    def position(self) -> StagePosition: ...

    @property
    @abstractmethod
    def limits(self) -> Mapping[str, tuple[float, float]]: ...

    @abstractmethod
    def move_to(self, position: StagePosition | None = None, **axes: float) -> StagePosition:
        """Move to ``position`` or change the named axes; SettingError outside limits."""

    def validate(self, position: StagePosition) -> StagePosition:
        units = {"x_um": "µm", "y_um": "µm", "z_um": "µm", "alpha_deg": "°", "beta_deg": "°"}
        for name, (low, high) in self.limits.items():
            check_range(name, getattr(position, name), low, high, units.get(name, ""),
                        device=self.label)
        return position


class BiasSource(Device):
    """Source-measure unit for in-situ electrochemistry (constant current or voltage)."""

    kind = "bias"

    @property
    @abstractmethod
    def settings(self) -> BiasSettings: ...

    @property
    @abstractmethod
    def output(self) -> bool:
        """Whether the output is on."""

    @abstractmethod
    def configure(self, settings: BiasSettings) -> None:
        """Apply settings (SettingError outside this instrument's range)."""

    @abstractmethod
    def output_on(self) -> None: ...

    @abstractmethod
    def output_off(self) -> None: ...

    @abstractmethod
    def read(self) -> BiasReading:
        """Measure voltage and current now; applies cut-offs (output off when crossed)."""


# ----------------------------------------------------------------------------- drivers
@dataclass
class DeviceSet:
    """The devices a driver opened; absent kinds are None."""

    camera: Camera | None = None
    scan: ScanDevice | None = None
    spectrometer: Spectrometer | None = None
    microscope: Microscope | None = None
    stage: Stage | None = None
    bias: BiasSource | None = None

    def devices(self) -> Iterator[Device]:
        for name in ("camera", "scan", "spectrometer", "microscope", "stage", "bias"):
            device = getattr(self, name)
            if device is not None:
                yield device

    def close(self) -> None:
        for device in self.devices():
            device.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Driver(ABC):
    """A family of devices behind one connection, found through the entry-point group.

    ``open(**options)`` connects and returns a DeviceSet; ``reconnect()`` closes what it
    opened and opens again with the same options (clearing every error state).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: option name -> one-line help (shown by ``batteryscope devices``)
    options: ClassVar[Mapping[str, str]] = {}

    def __init__(self):
        self._devices: DeviceSet | None = None
        self._options: dict[str, Any] = {}

    @property
    def devices(self) -> DeviceSet | None:
        return self._devices

    def open(self, **options) -> DeviceSet:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise SettingError(f"{self.name}: unknown option(s) {', '.join(unknown)}; "
                               f"known: {', '.join(self.options) or 'none'}")
        if self._devices is not None:
            self._devices.close()
        self._options = dict(options)
        self._devices = self._open(**options)
        return self._devices

    def reconnect(self) -> DeviceSet:
        if self._devices is None:
            raise DeviceError(f"driver {self.name!r}", "not opened yet")
        return self.open(**self._options)

    def close(self) -> None:
        if self._devices is not None:
            self._devices.close()
            self._devices = None

    @abstractmethod
    def _open(self, **options) -> DeviceSet:
        """Driver-specific connection; options were checked against ``options``."""
