"""Dual-EELS acquisition settings: microscope, spectrometer, dwell times and dose.

Dual EELS records a low-loss and a core-loss spectrum at every probe position with one
spectrometer setting (same dispersion and channel count), the core-loss shifted by a
drift-tube offset and exposed much longer; both therefore carry the same energy drift.

Defaults: 300 kV, convergence semi-angle α = 20 mrad, collection semi-angle β = 30 mrad,
0.5 eV/channel, 1024 channels, low-loss −20 … 491.5 eV (0 eV at channel 40), core-loss
400 … 911.5 eV (O K 532 eV to past Ni L2 872 eV), beam current 0.2 nA, dwell 0.1 ms
(low-loss) and 20 ms (core-loss): 1.25e5 and 2.5e7 incident electrons per pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration

ELEMENTARY_CHARGE_C = 1.602176634e-19


@dataclass(frozen=True)
class DualEELSAcquisition:
    """Settings of a simulated dual-EELS spectrum-image acquisition."""

    beam_energy_keV: float = 300.0
    convergence_mrad: float = 20.0
    collection_mrad: float = 30.0
    dispersion_eV: float = 0.5
    n_channels: int = 1024
    low_loss_offset_eV: float = -20.0
    core_loss_offset_eV: float = 400.0
    beam_current_nA: float = 0.2
    low_loss_dwell_s: float = 1e-4
    core_loss_dwell_s: float = 20e-3

    def __post_init__(self):
        positive = ("beam_energy_keV", "collection_mrad", "dispersion_eV", "beam_current_nA",
                    "low_loss_dwell_s", "core_loss_dwell_s")
        for name in positive:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.convergence_mrad < 0 or self.n_channels < 64:
            raise ValueError("convergence_mrad must be >= 0 and n_channels >= 64")
        m = -self.low_loss_offset_eV / self.dispersion_eV
        if abs(m - round(m)) > 1e-9 or not 10 <= round(m) < self.n_channels // 2:
            raise ValueError("low_loss_offset_eV must be a negative whole number of channels "
                             "(at least 10, less than half the axis)")
        if self.core_loss_offset_eV <= self.low_loss_offset_eV + self.n_channels * self.dispersion_eV / 2:
            raise ValueError("core-loss window must start well above the low-loss window")

    @property
    def zero_loss_index(self) -> int:
        """Low-loss channel of 0 eV energy loss."""
        return int(round(-self.low_loss_offset_eV / self.dispersion_eV))

    def low_loss_axis(self) -> AxisCalibration:
        """Energy-loss axis of the low-loss spectra."""
        return AxisCalibration("Energy loss", "eV", self.dispersion_eV, self.low_loss_offset_eV,
                               self.n_channels, navigate=False)

    def core_loss_axis(self) -> AxisCalibration:
        """Energy-loss axis of the core-loss spectra."""
        return AxisCalibration("Energy loss", "eV", self.dispersion_eV, self.core_loss_offset_eV,
                               self.n_channels, navigate=False)

    def microscope_parameters(self) -> dict:
        """``beam_energy_keV``, ``convergence_mrad``, ``collection_mrad`` (cross-section inputs)."""
        return {"beam_energy_keV": self.beam_energy_keV,
                "convergence_mrad": self.convergence_mrad,
                "collection_mrad": self.collection_mrad}

    def electrons_per_pixel(self, dwell_s: float) -> float:
        """Incident electrons in one dwell: beam current × dwell / e."""
        return self.beam_current_nA * 1e-9 * dwell_s / ELEMENTARY_CHARGE_C

    def metadata(self, kind: str, *, pixel_size_nm: float) -> dict:
        """Acquisition metadata of the ``"low_loss"`` or ``"core_loss"`` signal.

        Keys are from :data:`~.specimen.ACQUISITION_KEYS`.
        """
        if kind not in ("low_loss", "core_loss"):
            raise ValueError(f"kind must be 'low_loss' or 'core_loss', got {kind!r}")
        dwell = self.low_loss_dwell_s if kind == "low_loss" else self.core_loss_dwell_s
        dose = self.electrons_per_pixel(dwell)
        return {
            "beam_energy_keV": self.beam_energy_keV,
            "convergence_angle_mrad": self.convergence_mrad,
            "collection_angle_mrad": self.collection_mrad,
            "dwell_time_s": dwell,
            "beam_current_nA": self.beam_current_nA,
            "dose_e_per_pixel": dose,
            "dose_e_per_A2": dose / (pixel_size_nm * 10.0) ** 2,
            "instrument": "simulated 300 kV STEM, Schottky FEG",
            "detector": "simulated electron-counting EELS camera",
            "acquisition_mode": f"dual EELS spectrum image ({kind.replace('_', '-')})",
        }
