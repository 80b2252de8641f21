"""Synthetic EELS reference spectra for the tests of the battery EELS analyses.

Deliberately built from *other* line shapes than the demo generator
(:mod:`batteryscope.analysis.specimens.eels_spectra` uses bin-integrated pseudo-Voigt lines on
hydrogenic continua): here lines are true Voigt profiles (``scipy.special.voigt_profile``,
integrated over each channel by 16-fold oversampling), continuum steps are error functions
(Gaussian-broadened, not arctangents), edges decay as ``(E/E_onset)^-p`` and the M2,3 edges are
delayed gamma-like shapes. Energies and relative intensities are physically sensible
(Fe2+/Fe3+ L3 positions of LiFePO4/FePO4, O K pre-peaks of layered, spinel and rock-salt
oxides, Li K exciton at ~58 eV over the Mn/Co M2,3 edges), not fits to data.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf, voigt_profile

from batteryscope.analysis.calibration import AxisCalibration

OVERSAMPLE = 16


def axis(lo, hi, step):
    n = int(round((hi - lo) / step)) + 1
    return AxisCalibration("Energy loss", "eV", step, lo, n)


def _fine(energy):
    e = np.asarray(energy, dtype=np.float64)
    d = e[1] - e[0]
    sub = (np.arange(OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5
    return (e[:, None] + d * sub[None, :]).ravel(), d


def _bin(values_fine, n):
    return values_fine.reshape(n, OVERSAMPLE).mean(axis=1)


def voigt(energy, centre, area, *, sigma, gamma):
    """Voigt line of given area, integrated over each channel (counts per channel)."""
    ef, d = _fine(energy)
    return area * d * _bin(voigt_profile(ef - centre, sigma, gamma), len(energy))


def erf_step(energy, position, *, sigma, height=1.0, decay=0.0):
    """Height × Gaussian-broadened step at ``position``, × (E/position)^-decay above it."""
    ef, _ = _fine(energy)
    step = 0.5 * (1.0 + erf((ef - position) / (np.sqrt(2.0) * sigma)))
    fall = (np.maximum(ef, position) / position) ** -decay
    return height * _bin(step * fall, len(energy))


def gamma_edge(energy, onset, area, *, scale, shape=2.0, tail=0.0):
    """Delayed edge ``x^shape exp(−x/scale)`` (x = E − onset) of given area, plus a slow
    tail that is 0 below the onset."""
    ef, d = _fine(energy)
    x = np.maximum(ef - onset, 0.0)
    from scipy.special import gamma as gamma_fn
    g = x ** shape * np.exp(-x / scale) / (gamma_fn(shape + 1) * scale ** (shape + 1))
    t = tail * (-np.expm1(-x / (2.0 * scale))) ** 2 * np.exp(-x / 60.0)
    return area * d * _bin(g, len(energy)) + _bin(t, len(energy))


def power_law(energy, a, r):
    return a * np.asarray(energy, dtype=np.float64) ** -r


# --------------------------------------------------------------------------- L2,3 edges

def l23_edge(energy, *, l3_eV, spin_orbit_eV, l3_area, l2_area, continuum, step_sigma=0.6,
             sigma=0.5, gamma3=0.15, gamma2=0.25, decay=0.0):
    """White lines (Voigt) on a 2:1 erf-step continuum at the line maxima.

    ``continuum`` is the step height per channel reached above L2 (before ``decay``).
    """
    lines = (voigt(energy, l3_eV, l3_area, sigma=sigma, gamma=gamma3)
             + voigt(energy, l3_eV + spin_orbit_eV, l2_area, sigma=sigma, gamma=gamma2))
    cont = (erf_step(energy, l3_eV, sigma=step_sigma, height=2 * continuum / 3, decay=decay)
            + erf_step(energy, l3_eV + spin_orbit_eV, sigma=step_sigma, height=continuum / 3,
                       decay=decay))
    return lines, cont


def fe_l_phase_references(energy):
    """Fe L2,3 of LiFePO4 (Fe2+) and FePO4 (Fe3+), per Fe atom (same continuum)."""
    def phase(l3_parts, l2_parts):
        s = erf_step(energy, 708.5, sigma=0.8, height=2.0, decay=2.0) \
            + erf_step(energy, 721.5, sigma=0.8, height=1.0, decay=2.0)
        for c, a, w in l3_parts + l2_parts:
            s = s + voigt(energy, c, a, sigma=w, gamma=0.2)
        return s
    lfp = phase([(707.8, 30.0, 0.6), (709.9, 9.0, 0.7)], [(720.6, 9.0, 0.9), (722.3, 5.0, 0.9)])
    fp = phase([(708.1, 7.0, 0.6), (709.7, 28.0, 0.7)], [(721.0, 4.0, 0.9), (722.8, 10.0, 0.9)])
    return {"LiFePO4": lfp, "FePO4": fp}


def o_k_phase_references(energy):
    """O K of layered, spinel and rock-salt TM oxides, per O atom (same continuum)."""
    def phase(peaks):
        s = erf_step(energy, 534.5, sigma=1.2, height=1.0, decay=2.5)
        for c, a, w in peaks:
            s = s + voigt(energy, c, a, sigma=w, gamma=0.2)
        return s
    return {
        "layered": phase([(529.7, 2.4, 0.55), (541.5, 6.0, 2.2), (547.0, 3.0, 3.0)]),
        "spinel": phase([(529.9, 1.2, 0.6), (531.4, 0.5, 0.6), (539.0, 5.0, 2.0),
                         (544.5, 3.0, 2.6)]),
        "rock_salt": phase([(532.0, 0.35, 0.7), (536.8, 4.0, 1.3), (541.0, 3.0, 1.8),
                            (550.0, 2.5, 3.5)]),
    }


def o_k_with_prepeak(energy, *, pre_peak_eV, pre_peak_area, main_eV=540.5, main_area=20.0,
                     continuum=3.0):
    """O K edge with one pre-peak (Voigt) before an erf-step edge and a broad main peak."""
    pre = voigt(energy, pre_peak_eV, pre_peak_area, sigma=0.55, gamma=0.15)
    rest = (erf_step(energy, 534.5, sigma=1.0, height=continuum, decay=2.0)
            + voigt(energy, main_eV, main_area, sigma=2.2, gamma=0.4))
    return pre, rest


# --------------------------------------------------------------------------- Li K / M2,3

def li_k_and_m23_references(energy):
    """Per-atom Li K and Mn, Co M2,3 references (arbitrary common scale)."""
    li = (erf_step(energy, 56.0, sigma=0.7, height=0.8, decay=3.0)
          + voigt(energy, 58.2, 3.0, sigma=0.6, gamma=0.3)
          + voigt(energy, 62.5, 2.5, sigma=1.8, gamma=0.3))
    mn = gamma_edge(energy, 47.0, 60.0, scale=2.5, shape=1.6, tail=0.8)
    co = gamma_edge(energy, 58.5, 55.0, scale=2.8, shape=1.6, tail=0.8)
    return {"Li": li, "Mn": mn, "Co": co}


# --------------------------------------------------------------------------- demo SI input

def demo_cross_sections(energy):
    """Simple hydrogenic-like continua for the demo generator (as its own tests use)."""
    e_axis = np.asarray(energy, dtype=np.float64)

    def sigma(onset, peak, exponent, rise_eV):
        e = np.maximum(e_axis, onset)
        s = peak * (onset / e) ** exponent * -np.expm1(-(e - onset) / rise_eV)
        return np.where(e_axis >= onset, s, 0.0)

    return {"O_K": sigma(532.0, 23.0, 3.0, 1e-3), "Mn_L3": sigma(640.0, 32.0, 2.5, 12.0),
            "Co_L3": sigma(779.0, 19.0, 2.5, 12.0), "Ni_L3": sigma(855.0, 14.0, 2.5, 12.0)}
