"""The specimen inside the simulated microscope: LiFePO4 [010] with antisites, drift, beam damage.

The crystal comes from the Foundation generator
(:func:`~batteryscope.analysis.specimens.lfp_antisite.lfp_antisite_pair`, noise off, unit
dose), turned into *fractions of the incident electrons* that reach each detector
(HAADF, ABF; BF is the bright-field disc, the complement of what scatters out of it).
The map is periodic (it tiles the plane), so any field of view and stage position works.

Beam damage grows with the cumulative dose ``d`` (e/Å²) kept on a coarse dose map over the
specimen: the damaged fraction is ``D = 1 - exp(-d / critical_dose)`` and the signal is
``(1 - D) · crystal + D · amorphous``, where ``amorphous`` is the crystal blurred over
``amorphous_blur_A`` (loss of lattice contrast) and slightly thinned (mass loss).

Drift: the specimen moves with a constant velocity (random direction) plus a slow
wander; positions are functions of the monotonic clock, so a scan that takes time is
distorted by it like a real one.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from scipy import ndimage

from ...analysis.specimens.lfp_antisite import lfp_antisite_pair

_BF_SCATTER_GAIN = 12.0     # BF loses ~12× the electrons the HAADF annulus gains
_DOSE_BIN_PX = 8            # dose map resolution, specimen pixels per bin


class SimSpecimen:
    """Detector-fraction maps of the specimen, its dose history and its drift."""

    def __init__(self, *, seed: int = 0, map_shape=(512, 512), pixel_size_A: float = 0.12,
                 critical_dose_e_per_A2: float = 2.0e6, amorphous_blur_A: float = 0.8,
                 drift_A_per_s: float = 0.5, clock=None):
        import time

        self.seed = int(seed)
        self.pixel_size_A = float(pixel_size_A)
        self.critical_dose_e_per_A2 = float(critical_dose_e_per_A2)
        self.drift_A_per_s = float(drift_A_per_s)
        self.clock = clock or time.monotonic
        self._t0 = self.clock()
        self._lock = threading.Lock()
        spec = lfp_antisite_pair(seed=seed, shape=tuple(map_shape), pixel_size_A=pixel_size_A,
                                 noise=False, dose_e_per_A2=1.0, rotation_deg=0.0)
        e_px = pixel_size_A ** 2                       # electrons per pixel at unit dose
        haadf = spec.signals[0].data.astype(np.float32) / e_px
        abf = spec.signals[1].data.astype(np.float32) / e_px
        bf = np.clip(0.85 - _BF_SCATTER_GAIN * haadf, 0.05, 1.0).astype(np.float32)
        self.crystal = {"HAADF": haadf, "ABF": abf, "BF": bf}
        sigma = amorphous_blur_A / pixel_size_A
        self.amorphous = {k: (ndimage.gaussian_filter(v, sigma, mode="wrap") *
                              (0.85 if k == "HAADF" else 1.0)).astype(np.float32)
                          for k, v in self.crystal.items()}
        self.shape = haadf.shape
        self.dose_map = np.zeros((-(-self.shape[0] // _DOSE_BIN_PX),
                                  -(-self.shape[1] // _DOSE_BIN_PX)), dtype=np.float64)
        self.field_A = (self.shape[0] * pixel_size_A, self.shape[1] * pixel_size_A)
        rng = np.random.default_rng(seed)
        angle = rng.uniform(0, 2 * np.pi)
        self._drift_dir = np.array([math.cos(angle), math.sin(angle)])
        self._wander = rng.uniform(0, 2 * np.pi, 4)

    # ------------------------------------------------------------------ drift and dose
    def elapsed_s(self, t=None) -> float:
        return (self.clock() if t is None else t) - self._t0

    def drift_A(self, t) -> tuple[np.ndarray, np.ndarray]:
        """Specimen displacement (x, y) in Å at monotonic time(s) ``t``."""
        s = np.asarray(t, dtype=np.float64) - self._t0
        v = self.drift_A_per_s
        w = self._wander
        wander_x = 0.2 * v * (np.sin(0.7 * s + w[0]) - np.sin(w[0]) + np.sin(0.23 * s + w[1]) - np.sin(w[1]))
        wander_y = 0.2 * v * (np.sin(0.5 * s + w[2]) - np.sin(w[2]) + np.sin(0.31 * s + w[3]) - np.sin(w[3]))
        return v * s * self._drift_dir[0] + wander_x, v * s * self._drift_dir[1] + wander_y

    def _bins(self, x_A, y_A):
        ix = np.floor(np.asarray(x_A) / (self.pixel_size_A * _DOSE_BIN_PX)).astype(np.int64)
        iy = np.floor(np.asarray(y_A) / (self.pixel_size_A * _DOSE_BIN_PX)).astype(np.int64)
        return iy % self.dose_map.shape[0], ix % self.dose_map.shape[1]

    def deposit(self, x_A, y_A, electrons_per_position: float, repeats: int = 1) -> None:
        """Add the dose of probe positions (specimen coordinates, Å) to the dose map."""
        if electrons_per_position <= 0 or repeats <= 0:
            return
        iy, ix = self._bins(x_A, y_A)
        flat = np.bincount((iy * self.dose_map.shape[1] + ix).ravel(),
                           minlength=self.dose_map.size).reshape(self.dose_map.shape)
        bin_area = (self.pixel_size_A * _DOSE_BIN_PX) ** 2
        with self._lock:
            self.dose_map += flat * (electrons_per_position * repeats / bin_area)

    def deposit_uniform(self, dose_e_per_A2: float) -> None:
        """Flood illumination (TEM camera): the same dose everywhere."""
        if dose_e_per_A2 > 0:
            with self._lock:
                self.dose_map += dose_e_per_A2

    def damage(self, x_A=None, y_A=None) -> np.ndarray | float:
        """Damaged fraction at positions (or the mean over the specimen without arguments)."""
        if not math.isfinite(self.critical_dose_e_per_A2):
            return 0.0 if x_A is None else np.zeros(np.shape(x_A), np.float32)
        if x_A is None:
            return float(np.mean(1.0 - np.exp(-self.dose_map / self.critical_dose_e_per_A2)))
        iy, ix = self._bins(x_A, y_A)
        return (1.0 - np.exp(-self.dose_map[iy, ix] / self.critical_dose_e_per_A2)).astype(np.float32)

    def mean_dose_e_per_A2(self) -> float:
        return float(self.dose_map.mean())

    # ------------------------------------------------------------------ sampling
    def sample(self, detector: str, x_A: np.ndarray, y_A: np.ndarray,
               damage: np.ndarray | None = None) -> np.ndarray:
        """Fraction of incident electrons reaching ``detector`` at specimen positions (Å)."""
        coords = np.stack([np.asarray(y_A) / self.pixel_size_A, np.asarray(x_A) / self.pixel_size_A])
        crystal = ndimage.map_coordinates(self.crystal[detector], coords, order=1,
                                          mode="grid-wrap", output=np.float32)
        if damage is None or not np.any(damage):
            return crystal
        amorphous = ndimage.map_coordinates(self.amorphous[detector], coords, order=1,
                                            mode="grid-wrap", output=np.float32)
        return crystal + damage * (amorphous - crystal)

    def iron_fraction(self, x_A, y_A) -> np.ndarray:
        """Relative Fe signal (HAADF above its minimum, normalised to its mean), for EELS."""
        h = self.crystal["HAADF"]
        coords = np.stack([np.asarray(y_A) / self.pixel_size_A, np.asarray(x_A) / self.pixel_size_A])
        blurred = ndimage.map_coordinates(self.amorphous["HAADF"], coords, order=1, mode="grid-wrap")
        return np.clip(blurred / float(h.mean()), 0.0, None).astype(np.float32)
