"""Core-loss EELS of the simulated LiFePO4 specimen, per probe position.

Expected counts are ``electrons × Σ_k w_k(position) B_k(E)``: a power-law background plus
edge components built from the Foundation line shapes (Li-K 55 eV, P-L2,3 132 eV, O-K with
its fine structure at 532 eV, Fe-L2,3 white lines at 708/721 eV). Beam damage oxidises
Fe (Fe²⁺ → Fe³⁺: L3 moves up by 1.5 eV, L3/L2 rises) and removes Li, so a dose series
shows the chemistry changing as well as the image.
"""
from __future__ import annotations

import numpy as np

from ...analysis.specimens.eels_spectra import o_k_fine_structure, white_lines

# fractions of the incident electrons per eV (order of magnitude of a 30 nm LFP crystal)
_BACKGROUND_AT_500_EV = 1.0e-4
_EDGE_JUMP = {"Li": 6.0e-5, "P": 4.0e-5, "O": 6.0e-5, "Fe": 2.0e-5}
_ONSET_EV = {"Li": 55.0, "P": 132.0, "O": 532.0, "Fe": 708.0}
COMPONENTS = ("background", "Li", "P", "O", "Fe2+", "Fe3+")


def _edge(energy, onset, jump, exponent=3.0, width=1.5):
    e = np.asarray(energy, dtype=np.float64)
    step = 0.5 * (1.0 + np.tanh((e - onset) / width))
    tail = (np.maximum(e, onset) / onset) ** (-exponent)
    return jump * step * tail


def eels_basis(energy: np.ndarray) -> np.ndarray:
    """Basis spectra (len(COMPONENTS), channels), counts per incident electron per channel."""
    e = np.asarray(energy, dtype=np.float64)
    d = float(e[1] - e[0]) if e.size > 1 else 1.0
    background = _BACKGROUND_AT_500_EV * (np.maximum(e, 20.0) / 500.0) ** (-3.0) * d
    li = _edge(e, _ONSET_EV["Li"], _EDGE_JUMP["Li"]) * d
    p = _edge(e, _ONSET_EV["P"], _EDGE_JUMP["P"], exponent=2.0, width=3.0) * d
    o = _edge(e, _ONSET_EV["O"], _EDGE_JUMP["O"]) * d
    o = o + o_k_fine_structure(e, continuum_area=50.0 * _EDGE_JUMP["O"], pre_peak_strength=0.3)
    fe_cont = _edge(e, _ONSET_EV["Fe"], _EDGE_JUMP["Fe"], exponent=2.5) * d
    area = 12.0 * _EDGE_JUMP["Fe"]
    fe2 = fe_cont + white_lines(e, l3_eV=708.5, l2_eV=721.5, area=area, l3_l2_ratio=4.0,
                                l3_fwhm_eV=2.0, l2_fwhm_eV=2.5)
    fe3 = fe_cont + white_lines(e, l3_eV=710.0, l2_eV=723.0, area=area, l3_l2_ratio=5.5,
                                l3_fwhm_eV=2.0, l2_fwhm_eV=2.5)
    return np.stack([background, li, p, o, fe2, fe3]).astype(np.float32)


def eels_weights(iron: np.ndarray, damage: np.ndarray) -> np.ndarray:
    """Component weights (n, len(COMPONENTS)) from relative Fe signal and damaged fraction."""
    iron = np.asarray(iron, dtype=np.float32)
    damage = np.broadcast_to(np.asarray(damage, dtype=np.float32), iron.shape)
    w = np.empty(iron.shape + (len(COMPONENTS),), dtype=np.float32)
    w[..., 0] = 1.0
    w[..., 1] = 1.0 - 0.6 * damage            # Li is knocked out first
    w[..., 2] = 1.0
    w[..., 3] = 1.0
    w[..., 4] = iron * (1.0 - damage)
    w[..., 5] = iron * damage
    return w
