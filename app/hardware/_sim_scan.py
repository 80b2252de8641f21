"""Simulated STEM scan unit (HAADF / ABF / BF) and EELS spectrometer.

Each probe position receives ``N = I · dwell / e`` electrons (0 when blanked); a detector
counts a Poisson draw of ``N × efficiency × fraction`` (the specimen's detector-fraction
map at that position, damaged as far as the local cumulative dose says) plus Gaussian
read noise. Scan imperfections: specimen drift during the frame (rows acquired later are
displaced more), and per-row jitter of the fast scan. Every position scanned adds its
electrons to the specimen's dose map, including frames the reader skipped.

Timing follows a virtual clock, as for the camera: frame ``n`` ends at
``t_start + (n + 1) · frame_time``; a spectrum-image row ends ``cols × dwell`` after the
previous one.
"""
from __future__ import annotations

import time

import numpy as np

from ._sim_column import REFERENCE_SCAN_PIXELS, FaultInjection, SimulatedColumn
from ._sim_eels import eels_basis, eels_weights
from .interfaces import (DETECTOR_NAMES, ELEMENTARY_CHARGE_C, DeviceError, DeviceState,
                         FrameMeta, ScanDevice, ScanSettings, SettingError, Spectrometer,
                         SpectrumImageSettings, check_range)

FLYBACK_S = 20e-6
_EFFICIENCY = {"HAADF": 0.8, "ABF": 0.9, "BF": 0.9}


class SimulatedSpectrometer(FaultInjection, Spectrometer):
    DISPERSIONS_EV = (0.05, 0.1, 0.25, 0.5, 1.0)
    OFFSET_RANGE_EV = (-200.0, 3000.0)
    CHANNELS = 2048

    def __init__(self, name: str, column: SimulatedColumn, seed: int = 0):
        super().__init__(name)
        self._column = column
        self._dispersion = 0.25
        self._offset = 400.0
        self._rng = np.random.default_rng(seed)

    @property
    def channels(self) -> int:
        return self.CHANNELS

    @property
    def dispersion_eV(self) -> float:
        return self._dispersion

    @property
    def offset_eV(self) -> float:
        return self._offset

    @property
    def allowed_dispersions_eV(self) -> tuple[float, ...]:
        return self.DISPERSIONS_EV

    def set_dispersion(self, dispersion_eV: float) -> None:
        self._guard()
        if not any(abs(float(dispersion_eV) - d) < 1e-9 for d in self.DISPERSIONS_EV):
            raise SettingError("dispersion_eV", dispersion_eV,
                               ", ".join(f"{d:g}" for d in self.DISPERSIONS_EV) + " eV/channel",
                               self.label)
        self._dispersion = float(dispersion_eV)

    def set_offset(self, offset_eV: float) -> None:
        self._guard()
        self._offset = check_range("offset_eV", offset_eV, *self.OFFSET_RANGE_EV, "eV",
                                   device=self.label)

    def expected_spectra(self, x_A, y_A, electrons: float, energy: np.ndarray) -> np.ndarray:
        """Expected counts (n, channels) at specimen positions; deposits no dose."""
        spec = self._column.specimen
        w = eels_weights(spec.iron_fraction(x_A, y_A), spec.damage(x_A, y_A))
        return (w @ eels_basis(energy)) * np.float32(electrons)

    def read_spectrum(self, out: np.ndarray, exposure_s: float, timeout_s: float = 10.0) -> FrameMeta:
        self._guard()
        exposure_s = check_range("exposure_s", exposure_s, 1e-5, 60.0, "s", device=self.label)
        if out.shape != (self.CHANNELS,) or out.dtype != np.float32:
            raise ValueError(f"{self.label}: buffer must be ({self.CHANNELS},) float32")
        if exposure_s > timeout_s:
            time.sleep(timeout_s)
            raise TimeoutError(f"{self.label}: exposure {exposure_s:g} s exceeds timeout {timeout_s:g} s")
        time.sleep(exposure_s)
        x, y = self._column.field_centre_A()
        dx, dy = self._column.specimen.drift_A(time.monotonic())
        electrons = self._column.current_A(None) * exposure_s / ELEMENTARY_CHARGE_C
        lam = self.expected_spectra(np.array([x - dx]), np.array([y - dy]), electrons,
                                    self.energy_axis())[0]
        out[:] = self._rng.poisson(lam)
        self._column.specimen.deposit(np.array([x - dx]), np.array([y - dy]), electrons)
        wall, mono = time.time(), time.monotonic()
        return FrameMeta(index=0, timestamp_s=wall, monotonic_s=mono, exposure_s=exposure_s,
                         electrons=electrons, device=self.name,
                         settings={"dispersion_eV": self._dispersion, "offset_eV": self._offset})

    def _close(self) -> None:
        pass


class SimulatedScan(FaultInjection, ScanDevice):
    MAX_SHAPE = (4096, 4096)

    def __init__(self, name: str, column: SimulatedColumn, spectrometer: SimulatedSpectrometer,
                 *, row_jitter_px: float = 0.05, read_noise: float = 0.5, buffer_frames: int = 4,
                 seed: int = 0):
        super().__init__(name)
        self._column = column
        self._spectrometer = spectrometer
        self.row_jitter_px = float(row_jitter_px)
        self.read_noise = float(read_noise)
        self._buffer_frames = int(buffer_frames)
        self._rng = np.random.default_rng(seed)
        self._settings = ScanSettings()
        self._si: SpectrumImageSettings | None = None
        self._next = 0
        self._t_start = 0.0

    @property
    def detectors(self) -> tuple[str, ...]:
        return DETECTOR_NAMES

    @property
    def settings(self) -> ScanSettings:
        return self._settings

    def configure(self, settings: ScanSettings) -> None:
        self._guard()
        if self.state is DeviceState.RUNNING:
            raise SettingError(f"{self.label}: stop the scan before changing its settings")
        if settings.shape[0] > self.MAX_SHAPE[0] or settings.shape[1] > self.MAX_SHAPE[1]:
            raise SettingError("shape", settings.shape, "up to 4096×4096", self.label)
        self._settings = settings

    # ------------------------------------------------------------------ geometry
    def _pixel_size_A(self, settings) -> float:
        if settings.pixel_size_A is not None:
            return settings.pixel_size_A
        return self._column.pixel_size_A * REFERENCE_SCAN_PIXELS / settings.shape[1]

    def _positions(self, rows, nx, ny, pixel_A, rotation_deg, times):
        """Specimen coordinates (Å) of the probe for the given rows, shape (len(rows), nx)."""
        rows = np.asarray(rows, dtype=np.float64)
        u = (np.arange(nx) - nx / 2 + 0.5)[None, :] * pixel_A
        v = (rows - ny / 2 + 0.5)[:, None] * pixel_A
        if self.row_jitter_px > 0:
            u = u + self._rng.normal(0.0, self.row_jitter_px, (rows.size, 1)) * pixel_A
        th = np.deg2rad(rotation_deg)
        cx, cy = self._column.field_centre_A()
        dx, dy = self._column.specimen.drift_A(np.asarray(times))
        x = cx + np.cos(th) * u - np.sin(th) * v - np.asarray(dx)[:, None]
        y = cy + np.sin(th) * u + np.cos(th) * v - np.asarray(dy)[:, None]
        return x, y

    def _detect(self, detector, x, y, damage, electrons) -> np.ndarray:
        lam = self._column.specimen.sample(detector, x, y, damage) * (electrons * _EFFICIENCY[detector])
        counts = self._rng.poisson(np.maximum(lam, 0.0)).astype(np.float32)
        if self.read_noise > 0:
            counts += self._rng.normal(0.0, self.read_noise, counts.shape).astype(np.float32)
        return counts

    # ------------------------------------------------------------------ imaging
    def _frame_time(self) -> float:
        ny, nx = self._settings.shape
        return ny * (nx * self._settings.dwell_s + FLYBACK_S)

    def start(self) -> None:
        self._guard()
        self._si = None
        self._next = 0
        self._t_start = time.monotonic()
        self._state = DeviceState.RUNNING

    def stop(self) -> None:
        self._si = None
        if self.state is DeviceState.RUNNING:
            self._state = DeviceState.IDLE

    def _wait_until(self, t_end: float, timeout_s: float) -> None:
        now = time.monotonic()
        if t_end - now > timeout_s:
            time.sleep(max(timeout_s, 0.0))
            raise TimeoutError(f"{self.label}: no data within {timeout_s:g} s")
        if t_end > now:
            time.sleep(t_end - now)

    def read_frame(self, out, timeout_s: float = 5.0) -> FrameMeta:
        self._guard()
        if self.state is not DeviceState.RUNNING or self._si is not None:
            raise DeviceError(self.label, "no scan running (call start() first)")
        s = self._settings
        views = self._check_scan_out(out, s)
        frame_time = self._frame_time()
        newest = int((time.monotonic() - self._t_start) / frame_time) - 1
        index = max(self._next, newest - self._buffer_frames + 1)
        t_end = self._t_start + (index + 1) * frame_time
        self._wait_until(t_end, timeout_s)
        try:
            ny, nx = s.shape
            pixel_A = self._pixel_size_A(s)
            line_time = nx * s.dwell_s + FLYBACK_S
            times = t_end - frame_time + (np.arange(ny) + 0.5) * line_time
            x, y = self._positions(np.arange(ny), nx, ny, pixel_A, s.rotation_deg, times)
            spec = self._column.specimen
            damage = spec.damage(x, y)
            electrons = self._column.current_A(s.beam_current_A) * s.dwell_s / ELEMENTARY_CHARGE_C
            for det, view in views.items():
                view[...] = self._detect(det, x, y, damage, electrons)
            spec.deposit(x, y, electrons, repeats=index + 1 - self._next)
        except Exception as exc:
            raise self.fail(f"scan simulation failed: {type(exc).__name__}: {exc}") from exc
        self._next = index + 1
        return FrameMeta(index=index, timestamp_s=time.time() - (time.monotonic() - t_end),
                         monotonic_s=t_end, exposure_s=frame_time,
                         dose_e_per_A2=electrons / pixel_A ** 2, electrons=electrons * ny * nx,
                         device=self.name,
                         settings={"shape": [ny, nx], "dwell_s": s.dwell_s, "pixel_size_A": pixel_A,
                                   "detectors": list(s.detectors), "rotation_deg": s.rotation_deg,
                                   "beam_current_A": self._column.current_A(s.beam_current_A),
                                   "mean_damage": float(np.mean(damage))})

    # ------------------------------------------------------------------ spectrum image
    def start_spectrum_image(self, settings: SpectrumImageSettings) -> None:
        self._guard()
        if self.state is DeviceState.RUNNING:
            raise SettingError(f"{self.label}: stop the scan before starting a spectrum image")
        if settings.channels > self._spectrometer.channels:
            raise SettingError("channels", settings.channels,
                               f"up to {self._spectrometer.channels}", self.label)
        self._spectrometer.set_dispersion(settings.dispersion_eV)
        self._spectrometer.set_offset(settings.offset_eV)
        self._si = settings
        self._si_energy = settings.energy_axis()
        self._si_basis = eels_basis(self._si_energy)
        self._next = 0
        self._t_start = time.monotonic()
        self._state = DeviceState.RUNNING

    def read_si_row(self, out_spectra: np.ndarray, out_haadf: np.ndarray | None = None,
                    timeout_s: float = 10.0) -> FrameMeta:
        self._guard()
        si = self._si
        if si is None or self.state is not DeviceState.RUNNING:
            raise DeviceError(self.label, "no spectrum image in progress")
        ny, nx = si.shape
        if out_spectra.shape != (nx, si.channels) or out_spectra.dtype != np.float32:
            raise ValueError(f"{self.label}: spectra buffer must be ({nx}, {si.channels}) float32")
        if out_haadf is not None and (out_haadf.shape != (nx,) or out_haadf.dtype != np.float32):
            raise ValueError(f"{self.label}: HAADF buffer must be ({nx},) float32")
        row = self._next
        row_time = nx * si.dwell_s + FLYBACK_S
        t_end = self._t_start + (row + 1) * row_time
        self._wait_until(t_end, timeout_s)
        try:
            pixel_A = self._pixel_size_A(si)
            x, y = self._positions([row], nx, ny, pixel_A, 0.0, [t_end - row_time / 2])
            spec = self._column.specimen
            damage = spec.damage(x, y)
            electrons = self._column.current_A(si.beam_current_A) * si.dwell_s / ELEMENTARY_CHARGE_C
            w = eels_weights(spec.iron_fraction(x[0], y[0]), damage[0])
            out_spectra[...] = self._rng.poisson((w @ self._si_basis) * np.float32(electrons))
            if out_haadf is not None:
                out_haadf[...] = self._detect("HAADF", x, y, damage, electrons)[0]
            spec.deposit(x, y, electrons)
        except Exception as exc:
            raise self.fail(f"spectrum-image simulation failed: {type(exc).__name__}: {exc}") from exc
        self._next = row + 1
        if self._next >= ny:
            self._si = None
            self._state = DeviceState.IDLE
        return FrameMeta(index=row, timestamp_s=time.time() - (time.monotonic() - t_end),
                         monotonic_s=t_end, exposure_s=si.dwell_s,
                         dose_e_per_A2=electrons / pixel_A ** 2, electrons=electrons * nx,
                         device=self.name,
                         settings={"shape": [ny, nx], "dwell_s": si.dwell_s, "channels": si.channels,
                                   "dispersion_eV": si.dispersion_eV, "offset_eV": si.offset_eV,
                                   "pixel_size_A": pixel_A, "row": row, "last_row": self._next >= ny})

    def _reconnect(self) -> None:
        super()._reconnect()
        self._si = None

    def _close(self) -> None:
        self._si = None
