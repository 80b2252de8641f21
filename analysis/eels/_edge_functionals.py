"""Linear functionals of background-subtracted counts, with propagated covariance.

Private helpers shared by :mod:`.white_lines`, :mod:`.oxygen_prepeak` and :mod:`.lithium_k`.

Every quantity these modules integrate (a window sum, a window sum minus an extrapolated
continuum step, …) is, for one pixel, a linear functional ``q_a = Σ_i w_ai (y_i − b_i)`` of
the recorded counts ``y`` and of the extrapolated background ``b``. To first order its
covariance is therefore exact::

    cov(q_a, q_b) = Σ_i w_ai w_bi max(y_i, 0)          (Poisson noise of the counts)
                  + (w_a J) C (w_b J)ᵀ                  (background-fit uncertainty)

with ``J = ∂b/∂θ`` (channels × fit parameters) and ``C`` the fit covariance of the
:class:`~.background.BackgroundFit`. The background extrapolated under two windows is
correlated (one fit), and the second term keeps that correlation.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..calibration import AxisCalibration
from .background import BackgroundFit, _check_axis


def check_spectra(spectra, energy_axis: AxisCalibration) -> np.ndarray:
    """``spectra`` as a real array whose last axis matches ``energy_axis`` (ValueError if not)."""
    spectra = _check_axis(spectra, energy_axis)
    if spectra.size == 0:
        raise ValueError(f"spectra of shape {spectra.shape} hold no spectrum")
    return spectra


def channel_slice(axis: AxisCalibration, lo: float, hi: float, what: str,
                  *, min_channels: int = 3) -> slice:
    """Channels whose centres lie in [lo, hi] eV; ValueError if off the axis or too few."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or not hi > lo:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV: need finite lo < hi")
    half = axis.scale / 2
    if lo < axis.offset - half or hi > axis.high + half:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV lies outside the energy axis "
                         f"[{axis.offset - half:g}, {axis.high + half:g}] eV")
    i0 = max(int(np.ceil(axis.index_of(lo) - 1e-9)), 0)
    i1 = min(int(np.floor(axis.index_of(hi) + 1e-9)) + 1, axis.size)
    if i1 - i0 < min_channels:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV holds {max(i1 - i0, 0)} channels; "
                         f"at least {min_channels} are needed")
    return slice(i0, i1)


def check_background(background, spectra: np.ndarray, axis: AxisCalibration, lo: float):
    """Validate a BackgroundFit (or None) against ``spectra``; its windows must end below ``lo``."""
    if background is None:
        return None
    if not isinstance(background, BackgroundFit):
        raise ValueError("background must be a BackgroundFit from fit_background (or None for "
                         f"spectra that hold no background), got {type(background).__name__}")
    if background.parameters.shape[:-1] != spectra.shape[:-1]:
        raise ValueError(f"background fit of shape {background.parameters.shape[:-1]} does not "
                         f"match spectra {spectra.shape[:-1]}")
    top = max(w[1] for w in background.windows)
    if top > lo + 1e-9:
        raise ValueError(f"the background fit window reaches {top:g} eV, inside the analysed "
                         f"range that starts at {lo:g} eV")
    return background


def subtracted_block(spectra, axis: AxisCalibration, background, sl: slice):
    """Flat (p, m) float64 raw counts, background-subtracted counts, Jacobian and covariance.

    Without a background the Jacobian and covariance are None and the subtracted counts
    equal the raw counts.
    """
    raw = np.asarray(spectra[..., sl], dtype=np.float64).reshape(-1, sl.stop - sl.start)
    if background is None:
        return raw, raw, None, None, np.zeros(raw.shape[0], bool)
    e = axis.values()[sl]
    k = background.parameters.shape[-1]
    b = background.evaluate(e).reshape(raw.shape)
    jac = np.broadcast_to(background._jacobian(e), background.parameters.shape[:-1]
                          + (e.size, k)).reshape(raw.shape + (k,))
    cov = background.covariance.reshape(-1, k, k)
    return raw, raw - b, jac, cov, background.failed.reshape(-1)


def functionals(raw, subtracted, jac, cov, weights):
    """Values (p, q) and covariance (p, q, q) of ``q = weights · subtracted``.

    ``weights`` is (q, m), shared by all pixels, or (p, q, m), one set per pixel.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _functionals(raw, subtracted, jac, cov, weights)


def _functionals(raw, subtracted, jac, cov, weights):
    if weights.ndim == 2:
        values = subtracted @ weights.T
        poisson = np.einsum("am,bm,pm->pab", weights, weights, np.maximum(raw, 0.0))
    else:  # per-pixel weights: pairwise products (einsum over three operands is slow)
        values = np.einsum("pqm,pm->pq", weights, subtracted, optimize=True)
        counts = np.maximum(raw, 0.0)
        nq = weights.shape[1]
        poisson = np.empty((raw.shape[0], nq, nq))
        for a in range(nq):
            wc = weights[:, a, :] * counts
            for b in range(a, nq):
                poisson[:, a, b] = poisson[:, b, a] = np.sum(wc * weights[:, b, :], axis=1)
    if jac is None:
        return values, poisson
    if weights.ndim == 2:
        g = np.einsum("qm,pmk->pqk", weights, jac)
    else:
        g = weights @ jac
    with np.errstate(invalid="ignore", over="ignore"):
        extra = np.einsum("pak,pkl,pbl->pab", g, cov, g)
    return values, poisson + extra


def ratio_with_error(num, den, var_num, var_den, cov_nd):
    """``num/den`` and its first-order standard error (NaN where ``den`` <= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
        var = r ** 2 * (var_num / num ** 2 + var_den / den ** 2 - 2 * cov_nd / (num * den))
        # num = 0 makes the relative form 0/0: use the direct form then
        var = np.where(num == 0, var_num / den ** 2, var)
    bad = ~(den > 0) | ~np.isfinite(r)
    return np.where(bad, np.nan, r), np.where(bad, np.nan, np.sqrt(np.maximum(var, 0.0)))


def flatten_fit(fit, n_pix):
    """A function giving the BackgroundFit of pixels [start, stop) of the flattened block."""
    if fit is None:
        return None
    k = fit.parameters.shape[-1]
    p = fit.parameters.reshape(n_pix, k)
    c = fit.covariance.reshape(n_pix, k, k)
    f = fit.failed.reshape(n_pix)
    q = fit.fit_quality.reshape(n_pix)
    return lambda a, b: replace(fit, parameters=p[a:b], covariance=c[a:b], failed=f[a:b],
                                fit_quality=q[a:b])
