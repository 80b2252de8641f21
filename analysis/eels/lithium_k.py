"""Li K quantification next to overlapping transition-metal M2,3 edges, per pixel.

The Li K edge (onset ≈ 55 eV) sits on the M2,3 edges of the 3d transition metals of every
cathode (Mn ≈ 48, Fe ≈ 54, Co ≈ 60, Ni ≈ 68 eV), which are broad, delayed and overlap it
completely, and on a steep background. A window integral therefore mixes Li and TM signal.
Here the two are separated by fitting reference shapes:

1. a power law (or another :func:`~.background.fit_background` model) is fitted in a
   pre-edge window below the first edge (≈ 35–45 eV) and extrapolated under the edges;
2. the background-subtracted spectrum over ``fit_range`` is fitted, per pixel, by a linear
   combination of a Li K reference and one TM M2,3 reference per metal (measured standards,
   e.g. LiF or Li2CO3 for Li and the TM oxides for M2,3, or computed shapes), with channel
   weights ``1 / max(model + background, 1)`` (Poisson variance of the recorded counts);
   optional polynomial terms absorb a background-extrapolation error.

If every reference is the spectrum of *one atom* of its element (counts per atom for the
same dose, collection angle and thickness regime — i.e. measured standards divided by
their atom counts, or cross-section-shaped references in counts per atom) the fitted
coefficients are atom numbers, and ``li_to_tm = a_Li / Σ a_TM`` is the atomic Li/TM ratio.

Uncertainty: the covariance of the coefficients is the weighted-LSQ covariance plus the
propagated covariance of the extrapolated background (``P J C Jᵀ Pᵀ`` with ``P`` the
per-pixel LSQ operator, ``J`` the background Jacobian and ``C`` its fit covariance); the
Li/TM error keeps the Li–TM correlation, which is strong because the shapes overlap.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from . import _edge_functionals as _fx
from . import _mlls_solver as _solver
from .background import fit_background
from .mlls import design_matrix

FLAG_BACKGROUND = 1     # background fit failed or non-finite counts: values NaN
FLAG_BAD_FIT = 2        # reduced χ² above the limit
FLAG_NONPOSITIVE = 4    # Σ TM <= 0: ratio undefined (NaN)
FLAG_NEGATIVE = 8       # a coefficient below −3σ
_CHUNK = 4096


@dataclass(frozen=True)
class LithiumK:
    """Per-pixel Li K / TM M2,3 fit (arrays of leading shape ``(...)``).

    ``names`` = ("Li", *TM names); ``coefficients``, ``coefficient_std`` (..., n);
    ``covariance`` (..., n, n); ``li_to_tm``, ``li_to_tm_std``; ``reduced_chi2``;
    ``flags`` uint8; ``background_fit`` the pre-edge fit.
    """

    names: tuple
    coefficients: np.ndarray
    coefficient_std: np.ndarray
    covariance: np.ndarray
    li_to_tm: np.ndarray
    li_to_tm_std: np.ndarray
    reduced_chi2: np.ndarray
    flags: np.ndarray
    background_fit: object
    chi2_limit: float


def lithium_k_quantification(spectra, energy_axis: AxisCalibration, *, li_reference,
                             tm_references: Mapping, background_window=(35.0, 45.0),
                             fit_range=(45.0, 85.0), background_model: str = "power_law",
                             background_method: str | None = None, n_polynomial: int = 0,
                             chi2_limit: float | None = None) -> LithiumK:
    """Separate Li K from TM M2,3 counts by fitting references; Li/TM with uncertainty.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Recorded counts (background included).
    energy_axis : AxisCalibration
    li_reference : ndarray of shape (n_channels,)
        Li K reference (per Li atom for an atomic ratio).
    tm_references : dict of str to ndarray of shape (n_channels,)
        M2,3 reference per transition metal (per atom), e.g. {"Mn": ..., "Co": ...}.
    background_window : (lo, hi)
        Pre-edge window (eV), below ``fit_range``.
    fit_range : (lo, hi)
        Range of the reference fit (eV).
    background_model, background_method : str
        Model and method of :func:`~.background.fit_background` for the pre-edge fit
        (method None: that function's default for the model).
    n_polynomial : int
        Extra polynomial terms (0–3) fitted with the references.
    chi2_limit : float, optional
        Reduced χ² above which the pixel is flagged (default ``1 + 5√(2/dof)``).

    Returns
    -------
    LithiumK
    """
    spectra = _fx.check_spectra(spectra, energy_axis)
    if not isinstance(tm_references, Mapping) or not tm_references:
        raise ValueError("tm_references must be a non-empty dict {element: M2,3 reference}")
    if "Li" in tm_references:
        raise ValueError("'Li' cannot be a transition-metal reference")
    if not 0 <= n_polynomial <= 3:
        raise ValueError(f"n_polynomial must be 0 to 3, got {n_polynomial}")
    bw, fr = tuple(map(float, background_window)), tuple(map(float, fit_range))
    if not bw[1] <= fr[0]:
        raise ValueError(f"background_window {bw} must end at or below the start of "
                         f"fit_range {fr} eV")
    refs = {"Li": li_reference, **tm_references}
    x, _, sl = design_matrix(refs, energy_axis, fit_range=fr,
                             background="polynomial" if n_polynomial else "none",
                             n_background=max(n_polynomial, 1))
    n = len(refs)
    m, k = x.shape
    dof = m - k
    limit = float(chi2_limit) if chi2_limit is not None else 1.0 + 5.0 * np.sqrt(2.0 / dof)
    extra = {} if background_method is None else {"method": background_method}
    fit = fit_background(spectra, energy_axis, windows=bw, model=background_model, **extra)
    lead = spectra.shape[:-1]
    n_pix = int(np.prod(lead))
    flat = spectra.reshape(n_pix, spectra.shape[-1])
    fits = _fx.flatten_fit(fit, n_pix)
    theta = np.empty((n_pix, k))
    cov = np.empty((n_pix, k, k))
    chi2 = np.empty(n_pix)
    flags = np.zeros(n_pix, np.uint8)
    for start in range(0, n_pix, _CHUNK):
        stop = min(start + _CHUNK, n_pix)
        raw, sub, jac, cbg, failed = _fx.subtracted_block(flat[start:stop], energy_axis,
                                                          fits(start, stop), sl)
        th, cv, c2, bad = _fit_block(raw, sub, jac, cbg, x, dof)
        theta[start:stop], cov[start:stop], chi2[start:stop] = th, cv, c2
        flags[start:stop] |= np.where(bad | failed, FLAG_BACKGROUND, 0).astype(np.uint8)
    return _result(tuple(refs), theta, cov, chi2, flags, n, lead, fit, limit)


def _fit_block(raw, sub, jac, cbg, x, dof):
    finite = np.all(np.isfinite(raw), axis=1) & np.all(np.isfinite(sub), axis=1)
    sub = np.where(finite[:, None], sub, 0.0)
    raw = np.where(finite[:, None], raw, 0.0)
    bg = raw - sub
    th, _, model = _solver.solve_uniform(sub, x, with_covariance=False)
    variance = np.maximum(model + bg, 1.0)
    th, cv, model = _solver.solve_weighted(sub, x, variance, th)
    variance = np.maximum(model + bg, 1.0)          # one refinement of the weights
    th, cv, model = _solver.solve_weighted(sub, x, variance, th)
    # background extrapolation: θ = P (y − b) → ∂θ/∂θ_bg = −P J
    p_op = np.einsum("pkl,ml,pm->pkm", cv, x, 1.0 / variance)
    g = p_op @ jac
    with np.errstate(invalid="ignore", over="ignore"):
        cv = cv + np.einsum("pkj,pji,pli->pkl", g, cbg, g)
    c2 = np.sum((sub - model) ** 2 / variance, axis=1) / dof
    bad = ~finite | ~np.all(np.isfinite(th), axis=1) | ~np.all(np.isfinite(cv), axis=(1, 2))
    th[bad], cv[bad], c2[bad] = np.nan, np.nan, np.nan
    return th, cv, c2, bad


def _result(names, theta, cov, chi2, flags, n, lead, fit, limit):
    failed = (flags & FLAG_BACKGROUND) != 0        # no trustworthy background: no numbers
    theta[failed], cov[failed], chi2[failed] = np.nan, np.nan, np.nan
    a, c = theta[:, :n], cov[:, :n, :n]
    std = np.sqrt(np.maximum(np.einsum("pii->pi", c), 0.0))
    tm = a[:, 1:].sum(axis=1)
    var_tm = c[:, 1:, 1:].sum(axis=(1, 2))
    cov_li_tm = c[:, 0, 1:].sum(axis=1)
    ratio, ratio_std = _fx.ratio_with_error(a[:, 0], tm, c[:, 0, 0], var_tm, cov_li_tm)
    with np.errstate(invalid="ignore"):
        flags |= np.where(chi2 > limit, FLAG_BAD_FIT, 0).astype(np.uint8)
        flags |= np.where(~(tm > 0) & np.isfinite(tm), FLAG_NONPOSITIVE, 0).astype(np.uint8)
        flags |= np.where(np.any(a < -3 * std, axis=1), FLAG_NEGATIVE, 0).astype(np.uint8)
    rs = lambda arr, *tail: arr.reshape(lead + tail)  # noqa: E731
    return LithiumK(names, rs(a, n), rs(std, n), rs(c, n, n), rs(ratio), rs(ratio_std),
                    rs(chi2), rs(flags), fit, limit)
