"""Antisite columns: host-site columns (Li) that are significantly brighter than their population.

Statistics
----------
* **Robust z-score** of every host column against its own population: the population
  centre is the median and its spread the median absolute deviation scaled by 1.4826
  (the normal-consistent MAD; Rousseeuw & Croux, J. Am. Stat. Assoc. 88 (1993) 1273).
  A few per cent of antisite columns move neither, so the reference is the normal
  column without having to know which ones are normal. Each column's own measurement
  variance is added in quadrature when it exceeds the population spread (e.g. edge columns).
* **One-sided p-values** ``P(Z > z)`` of the normal, and the **Benjamini–Hochberg**
  step-up procedure (J. R. Stat. Soc. B 57 (1995) 289) at false-discovery rate ``q``:
  among the columns called antisites, the expected fraction of false calls is at most
  ``q``, whatever the number of columns tested.

Fe fraction per column
----------------------
In incoherent HAADF a column's integrated intensity is linear in its atoms'
cross-sections (kinematic sum, E et al., Ultramicroscopy 133 (2013) 109). A host column
of ``N_h`` sites with a fraction ``f`` replaced by the dopant (Fe) reads
``I = (1 - f) I_h + f N_h s_Fe`` with ``s_Fe = I_ref / N_ref`` the intensity per Fe
atom from the reference (Fe-site) columns, hence
``f = (I - I_h) / (N_h s_Fe - I_h)``, ``I_h`` the host median. ``N_h / N_ref`` comes
from the structure (Li: 2 per b, Fe: 1 per b in LiFePO4 [010]). Channelling makes the
real relation only approximately linear: the fractions are estimates, best compared
within one image and thickness.

Concentration over the field: the dopant on the called columns over all host sites,
``sum f_i / n``, with the error from their measurement errors and the Poisson count of
called columns (antisites below the detection limit are not counted: the result is a
lower bound when many columns hold only a few per cent Fe). With nothing called, the
error is the detection limit of one column over ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: normal-consistency factor of the median absolute deviation
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class AntisiteResult:
    """Per host column: ``z``, ``p_value``, ``antisite`` (BH at ``q``), ``fe_fraction`` (+ err);
    field: ``concentration`` ± ``concentration_err`` (dopant fraction of host sites),
    ``n_antisite``, ``host_median``, ``host_sd``, ``reference_per_atom``."""

    z: np.ndarray
    p_value: np.ndarray
    antisite: np.ndarray
    fe_fraction: np.ndarray
    fe_fraction_err: np.ndarray
    concentration: float
    concentration_err: float
    n_antisite: int
    host_median: float
    host_sd: float
    reference_per_atom: float
    q: float

    def summary(self) -> dict:
        return {"n_host_columns": int(self.z.size), "n_antisite": int(self.n_antisite),
                "concentration": float(self.concentration),
                "concentration_err": float(self.concentration_err),
                "false_discovery_rate": float(self.q), "host_median": float(self.host_median),
                "host_sd": float(self.host_sd), "reference_per_atom": float(self.reference_per_atom)}


def robust_z(values, errors=None) -> tuple[np.ndarray, float, float]:
    """Robust z-scores ``(v - median) / s`` with ``s = 1.4826 MAD`` (and per-value errors).

    Returns ``(z, median, s)``. ``errors`` (1-sd) widen ``s`` for values measured worse
    than the population spread.
    """
    v = np.asarray(values, float)
    if v.ndim != 1 or v.size < 5:
        raise ValueError(f"need at least 5 values for robust statistics, got {v.shape}")
    med = float(np.median(v))
    s = MAD_TO_SD * float(np.median(np.abs(v - med)))
    if errors is not None:
        e = np.asarray(errors, float)
        scale = np.sqrt(s ** 2 + np.maximum(e ** 2 - np.median(e) ** 2, 0.0))
    else:
        scale = np.full(v.shape, s)
    scale = np.where(scale > 0, scale, np.finfo(float).tiny)
    return (v - med) / scale, med, s


def benjamini_hochberg(p_values, q: float = 0.05) -> np.ndarray:
    """Boolean mask of discoveries at false-discovery rate ``q`` (Benjamini & Hochberg 1995)."""
    p = np.asarray(p_values, float)
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    n = p.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, n + 1) / n
    out = np.zeros(n, dtype=bool)
    if passed.any():
        out[order[:np.flatnonzero(passed).max() + 1]] = True
    return out


def detect_antisites(host_intensity, reference_intensity, *, host_errors=None,
                     host_atoms: float = 2.0, reference_atoms: float = 1.0,
                     q: float = 0.05) -> AntisiteResult:
    """Antisite host columns and their dopant fraction.

    Parameters
    ----------
    host_intensity : ndarray of shape (n,)
        Background-subtracted integrated intensities of the host-site (Li) columns.
    reference_intensity : ndarray of shape (m,)
        Same measure for the reference (Fe-site) columns.
    host_errors : ndarray of shape (n,), optional
        1-sd measurement errors of the host intensities.
    host_atoms, reference_atoms : float
        Sites per repeat of a host and of a reference column (from the structure).
    q : float
        False-discovery rate of the antisite calls.

    Returns
    -------
    AntisiteResult
    """
    host = np.asarray(host_intensity, float)
    ref = np.asarray(reference_intensity, float)
    if ref.size < 1 or not np.all(np.isfinite(ref)):
        raise ValueError("need finite reference (Fe-site) intensities")
    if not np.all(np.isfinite(host)):
        raise ValueError("host intensities must be finite")
    z, med, s = robust_z(host, host_errors)
    p = stats.norm.sf(z)
    flag = benjamini_hochberg(p, q)
    ref_med = float(np.median(ref))
    ref_err = MAD_TO_SD * float(np.median(np.abs(ref - ref_med))) * np.sqrt(np.pi / 2 / ref.size)
    per_atom = ref_med / reference_atoms
    denom = host_atoms * per_atom - med
    if not denom > 0:
        raise ValueError("reference columns are not brighter than the host columns: "
                         "check the image type (HAADF) and the site assignment")
    frac = (host - med) / denom
    e = np.full(host.shape, s) if host_errors is None else np.sqrt(np.maximum(np.asarray(host_errors, float) ** 2, s ** 2))
    frac_err = np.sqrt(e ** 2 + (frac * host_atoms * ref_err / reference_atoms) ** 2) / denom
    n = host.size
    # field concentration: dopant on the called columns over all host sites; the error from
    # their measurement errors and the Poisson count of called columns
    called = frac[flag]
    mean_f = float(np.sum(called) / n)
    count_err = float(np.sqrt(flag.sum()) * (called.mean() if called.size else 0.0) / n)
    conc_err = float(np.hypot(np.sqrt(np.sum(frac_err[flag] ** 2)) / n, count_err))
    if not called.size:  # nothing called: the upper limit set by the detection threshold
        conc_err = float(stats.norm.isf(q / n) * s / denom / n)
    return AntisiteResult(z, p, flag, frac, frac_err, mean_f, conc_err, int(flag.sum()), med, s,
                          per_atom, float(q))
