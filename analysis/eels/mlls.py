"""Multiple-linear-least-squares (MLLS) fitting of reference spectra, per pixel.

Each spectrum over ``fit_range`` is modelled as

    y(E) = Σ_i a_i R_i(E) + Σ_j d_i R_i'(E) + Σ_l b_l B_l(E)

with ``R_i`` the reference spectra (phases or compounds: LiFePO4 vs FePO4 from the Fe L2,3
or O K fine structure; layered vs spinel vs rock-salt from the O K edge), optional
first-derivative terms ``R_i' = dR_i/dE`` that absorb small energy shifts (a_i R_i(E − δ_i)
≈ a_i R_i − a_i δ_i R_i', so ``δ_i = −d_i / a_i``), and optional background terms ``B_l``
(fixed-exponent power laws ``E^−r``, r from 2 to 5, or a polynomial) for a background that
is not removed beforehand. The design matrix is the same for every pixel, so the OLS
operator ``(XᵀX)⁻¹Xᵀ`` comes from one QR for the whole spectrum image; the default
``weighting="poisson"`` then re-weights each channel by the inverse of its modelled count,
per pixel, in one streaming numba pass (:mod:`._mlls_kernels`); ``"uniform"`` and the
non-negative fit use shared numpy matrix products (:mod:`._mlls_solver`).

Phase fractions ``f_i = a_i / Σ_j a_j`` are meaningful when the references are on a common
per-atom scale — e.g. spectra of equal amounts of the element, or references normalised to
the same post-edge continuum (``normalization_window``: each reference divided by its sum
over that window, well above the near-edge structure). Their standard errors come from the
full covariance of the coefficients (fractions are anti-correlated).

Flags (uint8 bits of ``MLLSResult.flags``): non-finite input or singular fit; reduced χ²
above ``chi2_limit`` (default ``1 + 5·√(2/dof)``, a 5σ excess for Poisson counts); a
reference coefficient below −3σ (unphysical, with ``nonnegative=False``); a non-negativity
constraint active; total reference signal <= 0 (fractions undefined).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from . import _edge_functionals as _fx
from . import _mlls_kernels as _kernels
from . import _mlls_solver as _solver

FLAG_INVALID = 1
FLAG_BAD_FIT = 2
FLAG_NEGATIVE = 4
FLAG_AT_BOUND = 8
FLAG_NO_SIGNAL = 16
_CHUNK = 4096


@dataclass(frozen=True)
class MLLSResult:
    """Per-pixel MLLS fit; arrays have the leading shape ``(...)`` of the spectra.

    ``coefficients``, ``coefficient_std`` (..., n_ref): amplitude of each reference;
    ``covariance`` (..., n_ref, n_ref); ``fractions``, ``fraction_std`` (..., n_ref);
    ``shifts_eV``, ``shift_std_eV`` (..., n_ref) when derivative terms were fitted, else
    None; ``background`` (..., n_bg) coefficients of the background terms;
    ``reduced_chi2`` (...); ``residuals`` (..., m) float32 over ``fit_energy`` (None unless
    asked); ``flags`` (...) uint8.
    """

    names: tuple
    coefficients: np.ndarray
    coefficient_std: np.ndarray
    covariance: np.ndarray
    fractions: np.ndarray
    fraction_std: np.ndarray
    shifts_eV: np.ndarray | None
    shift_std_eV: np.ndarray | None
    background: np.ndarray
    reduced_chi2: np.ndarray
    residuals: np.ndarray | None
    flags: np.ndarray
    fit_energy: np.ndarray
    chi2_limit: float


def _references(references, energy_axis, sl, normalization_window):
    if not isinstance(references, Mapping) or len(references) == 0:
        raise ValueError("references must be a non-empty dict {name: spectrum}")
    names = tuple(references)
    refs = []
    for name in names:
        r = np.asarray(references[name])
        if r.dtype.kind not in "iuf" or r.shape != (energy_axis.size,):
            raise ValueError(f"reference {name!r} must be a real spectrum of shape "
                             f"({energy_axis.size},) on the energy axis, got {r.shape} {r.dtype}")
        r = r.astype(np.float64)
        if not np.all(np.isfinite(r[sl])):
            raise ValueError(f"reference {name!r} holds non-finite values in the fit range")
        if normalization_window is not None:
            nsl = _fx.channel_slice(energy_axis, *normalization_window, "normalization_window")
            total = r[nsl].sum()
            if not total > 0:
                raise ValueError(f"reference {name!r} sums to {total:g} <= 0 over the "
                                 "normalization window")
            r = r / total
        if not np.any(r[sl] != 0):
            raise ValueError(f"reference {name!r} is zero over the fit range")
        refs.append(r)
    return names, np.stack(refs)


def _background_columns(e, kind, n):
    if kind == "none":
        return np.zeros((e.size, 0))
    if not 1 <= n <= 5:
        raise ValueError(f"n_background must be 1 to 5, got {n}")
    if kind == "power_law":
        if e[0] <= 0:
            raise ValueError("power-law background terms need positive energies")
        r = np.linspace(2.0, 5.0, n) if n > 1 else np.array([3.0])
        return (e[:, None] / e[0]) ** -r
    if kind == "polynomial":
        t = (e - (e[0] + e[-1]) / 2) / max((e[-1] - e[0]) / 2, 1e-12)
        return t[:, None] ** np.arange(n)
    raise ValueError(f"background must be 'none', 'power_law' or 'polynomial', got {kind!r}")


def design_matrix(references, energy_axis: AxisCalibration, *, fit_range, background="none",
                  n_background=2, derivatives=False, normalization_window=None):
    """The shared design matrix (m, k), its column names, and the fit channels (a slice)."""
    sl = _fx.channel_slice(energy_axis, *fit_range, "fit_range")
    names, refs = _references(references, energy_axis, sl, normalization_window)
    e = energy_axis.values()[sl]
    cols, labels = [refs[:, sl].T], list(names)
    if derivatives:
        deriv = np.gradient(refs, energy_axis.scale, axis=1)[:, sl].T
        cols.append(deriv)
        labels += [f"d/dE {n}" for n in names]
    bg = _background_columns(e, background, n_background)
    cols.append(bg)
    labels += [f"{background} {j}" for j in range(bg.shape[1])]
    x = np.concatenate(cols, axis=1)
    if x.shape[0] <= x.shape[1]:
        raise ValueError(f"fit_range holds {x.shape[0]} channels for {x.shape[1]} parameters")
    return x, tuple(labels), sl


def mlls_fit(spectra, energy_axis: AxisCalibration, references, *, fit_range,
             background: str = "none", n_background: int = 2, derivatives: bool = False,
             weighting: str = "poisson", nonnegative: bool = False,
             normalization_window=None, chi2_limit: float | None = None,
             return_residuals: bool = False, progress=None) -> MLLSResult:
    """Fit every spectrum by a linear combination of reference spectra.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Counts (background already removed unless background terms are fitted).
    energy_axis : AxisCalibration
    references : dict of str to ndarray of shape (n_channels,)
        Reference spectra on the same axis (measured standards or computed).
    fit_range : (lo, hi)
        Energy range of the fit (eV).
    background : {"none", "power_law", "polynomial"}
        Extra background terms, ``n_background`` of them.
    derivatives : bool
        Add dR/dE terms for small energy shifts (``shifts_eV`` in the result).
    weighting : {"poisson", "uniform"}
        Model-weighted (Poisson) or ordinary least squares.
    nonnegative : bool
        Constrain reference amplitudes to >= 0 (per-pixel bounded solve where needed).
    normalization_window : (lo, hi) or None
        Divide each reference by its sum over this window before fitting.
    chi2_limit : float, optional
        Reduced χ² above which a pixel is flagged as a bad fit.
    return_residuals : bool
        Keep the residual spectra (float32, (..., m)).
    progress : callable(float), optional
        Called with the fraction done after each block of pixels.

    Returns
    -------
    MLLSResult
    """
    spectra = _fx.check_spectra(spectra, energy_axis)
    if weighting not in ("poisson", "uniform"):
        raise ValueError(f"weighting must be 'poisson' or 'uniform', got {weighting!r}")
    if nonnegative and derivatives:
        raise ValueError("nonnegative=True cannot be combined with derivative terms "
                         "(their amplitudes may have either sign, and a bound on a_i would "
                         "leave the shift undefined)")
    x, labels, sl = design_matrix(references, energy_axis, fit_range=fit_range,
                                  background=background, n_background=n_background,
                                  derivatives=derivatives,
                                  normalization_window=normalization_window)
    n_ref = len(references)
    m, k = x.shape
    dof = m - k
    limit = float(chi2_limit) if chi2_limit is not None else 1.0 + 5.0 * np.sqrt(2.0 / dof)
    lead = spectra.shape[:-1]
    n_pix = int(np.prod(lead))
    flat = spectra.reshape(n_pix, spectra.shape[-1])
    theta = np.empty((n_pix, k))
    cov = np.empty((n_pix, k, k))
    chi2 = np.empty(n_pix)
    flags = np.zeros(n_pix, np.uint8)
    residuals = np.empty((n_pix, m), np.float32) if return_residuals else None
    constrained = np.zeros(k, bool)
    constrained[:n_ref] = True
    a_ols = _solver.ols_operator(x)                  # checks the design once
    fast = weighting == "poisson" and not nonnegative
    for start in range(0, n_pix, _CHUNK):
        stop = min(start + _CHUNK, n_pix)
        if fast:
            th, cv, c2 = np.empty((stop - start, k)), np.empty((stop - start, k, k)), \
                np.empty(stop - start)
            ok = np.empty(stop - start, np.bool_)
            # one compiled specialisation: float64, C order (a cheap copy of the fit range)
            block = np.ascontiguousarray(flat[start:stop, sl], dtype=np.float64)
            _kernels.poisson_mlls(block, 0, x, a_ols, th, cv, c2, ok)
            c2 /= dof
            bad = ~ok
            th[bad], cv[bad], c2[bad] = np.nan, np.nan, np.nan
            theta[start:stop], cov[start:stop], chi2[start:stop] = th, cv, c2
            if residuals is not None:
                residuals[start:stop] = flat[start:stop, sl] - th @ x.T
            flags[start:stop] |= np.where(bad, FLAG_INVALID, 0).astype(np.uint8)
            if progress is not None:
                progress(stop / n_pix)
            continue
        y = np.asarray(flat[start:stop, sl], dtype=np.float64)
        finite = np.all(np.isfinite(y), axis=1)
        y = np.where(finite[:, None], y, 0.0)
        solve = _solver.solve_poisson if weighting == "poisson" else _solver.solve_uniform
        th, cv, model = solve(y, x)
        if nonnegative:
            th, cv, at_bound = _solver.enforce_nonnegative(y, x, th, cv, constrained,
                                                           np.maximum(model, 1.0))
            model = th @ x.T
            flags[start:stop] |= np.where(at_bound, FLAG_AT_BOUND, 0).astype(np.uint8)
        resid = y - model
        c2 = np.sum(resid ** 2 / np.maximum(model, 1.0), axis=1) / dof
        bad = ~finite | ~np.all(np.isfinite(th), axis=1) | ~np.all(np.isfinite(cv), axis=(1, 2))
        th[bad], cv[bad], c2[bad] = np.nan, np.nan, np.nan
        theta[start:stop], cov[start:stop], chi2[start:stop] = th, cv, c2
        if residuals is not None:
            residuals[start:stop] = np.where(bad[:, None], np.nan, resid)
        flags[start:stop] |= np.where(bad, FLAG_INVALID, 0).astype(np.uint8)
        if progress is not None:
            progress(stop / n_pix)
    return _result(labels[:n_ref], theta, cov, chi2, flags, residuals, n_ref, derivatives,
                   lead, energy_axis.values()[sl], limit)


def _fractions(a, c):
    total = a.sum(axis=1)
    n = a.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = a / total[:, None]
        jac = (np.eye(n)[None] * total[:, None, None] - a[:, :, None]) / total[:, None, None] ** 2
        var = np.einsum("pij,pjk,pik->pi", jac, c, jac)
    return f, np.sqrt(np.maximum(var, 0.0)), total


def _result(names, theta, cov, chi2, flags, residuals, n_ref, derivatives, lead, e, limit):
    a = theta[:, :n_ref]
    ca = cov[:, :n_ref, :n_ref]
    std = np.sqrt(np.maximum(np.einsum("pii->pi", ca), 0.0))
    f, f_std, total = _fractions(a, ca)
    with np.errstate(invalid="ignore"):
        flags |= np.where(chi2 > limit, FLAG_BAD_FIT, 0).astype(np.uint8)
        flags |= np.where(np.any(a < -3 * std, axis=1), FLAG_NEGATIVE, 0).astype(np.uint8)
        no_signal = ~(total > 0)
    flags |= np.where(no_signal & ((flags & FLAG_INVALID) == 0), FLAG_NO_SIGNAL, 0).astype(np.uint8)
    f[no_signal], f_std[no_signal] = np.nan, np.nan
    shifts = shift_std = None
    if derivatives:
        d = theta[:, n_ref:2 * n_ref]
        idx = np.arange(n_ref)
        v_aa, v_dd = cov[:, idx, idx], cov[:, n_ref + idx, n_ref + idx]
        v_ad = cov[:, idx, n_ref + idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            shifts = -d / a
            shift_std = np.sqrt(np.maximum(
                (v_dd + shifts ** 2 * v_aa + 2 * shifts * v_ad) / a ** 2, 0.0))
        shifts, shift_std = shifts.reshape(lead + (n_ref,)), shift_std.reshape(lead + (n_ref,))
    nb = theta.shape[1] - n_ref * (2 if derivatives else 1)
    rs = lambda arr, *tail: arr.reshape(lead + tail)  # noqa: E731
    return MLLSResult(
        names=tuple(names), coefficients=rs(a, n_ref), coefficient_std=rs(std, n_ref),
        covariance=rs(ca, n_ref, n_ref), fractions=rs(f, n_ref), fraction_std=rs(f_std, n_ref),
        shifts_eV=shifts, shift_std_eV=shift_std,
        background=rs(theta[:, theta.shape[1] - nb:], nb), reduced_chi2=rs(chi2),
        residuals=None if residuals is None else rs(residuals, e.size), flags=rs(flags),
        fit_energy=e, chi2_limit=limit)
