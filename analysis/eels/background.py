"""EELS pre-edge background: fit in one or two windows, extrapolate, subtract, integrate.

Every function is vectorised over pixels: ``spectra`` has shape (..., n_channels) (one
spectrum, a line, an (ny, nx, n) spectrum image) and the energy of each channel centre comes
from an :class:`~batteryscope.analysis.calibration.AxisCalibration`.

Convention: a background model ``B(E)`` gives the expected counts *per channel* of a channel
centred on ``E``. So ``A`` of a power law ``A·E^-r`` is in counts·eV^r per channel, and a
window sum is ``Σ_i B(E_i) ≈ ∫ B dE / scale`` over the outer channel edges.

Models (``parameters[..., :]``; ``covariance`` is over the parameters in brackets):

``"power_law"``  ``(A, r)``, ``B = A·E^-r`` [ln A, r]. ``method="mle"`` (default): Poisson
    maximum likelihood, from two window sums per pixel (Σc, Σc·ln E) and tables of r
    (:func:`._background_fits.fit_poisson_power_law`): unbiased at any count level, zero
    counts allowed. ``method="lsq"``: weighted linear least squares of ln(counts) on ln(E)
    with weights ``w = counts`` (closed-form 2×2 normal equations per pixel); biased low by
    about 1/(2c) relatively at c counts per channel, which a weak edge feels many times over. ``method="two_area"``: Egerton's two-area closed form,
    the same formula as exspy's ``PowerLaw.estimate_parameters``; it approximates each window
    integral by its geometric-mean value, exact for r = 2 and off by ~u²·r(r-2)/6 relatively
    otherwise (u = half the log-width of a window). ``method="two_area_exact"``: the same two
    window sums, r solved exactly from the ratio of the power-law integrals (Newton, 6 steps
    from the closed form). One window is split in two halves (an odd last channel dropped).
``"exponential"``  ``(A, b)``, ``B = A·exp(-b·E)`` [ln A, b]; weighted LSQ of ln(counts) on E.
``"polynomial"``  ``(c_0 … c_order)``, ``B = Σ c_j t^j`` with ``t = (E - basis[0]) / basis[1]``
    (centre and half-width of the fit range, for conditioning) [c_j]; weights 1/max(counts, 1).
``"power_law_sum"``  ``(A_1 … A_n)``, ``B = Σ A_j E^-r_j`` with fixed exponents
    ``r_j = linspace(2, 5, n_terms)`` ({2, 5} for 2 terms, {2, 3, 4, 5} for 4), the range of
    pre-edge slopes met in core-loss EELS; amplitudes by exact non-negative least squares per
    pixel (weights 1/max(counts, 1)) [A_j].
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..calibration import AxisCalibration
from . import _background_fits as _fits

MODELS = ("power_law", "exponential", "polynomial", "power_law_sum")
POWER_LAW_METHODS = ("mle", "lsq", "two_area", "two_area_exact")


@dataclass(frozen=True)
class BackgroundFit:
    """A fitted background for every pixel of a block of spectra.

    Attributes
    ----------
    model, method : str
        See the module docstring.
    windows : tuple of (lo, hi)
        The fit windows in eV, as given.
    parameters : ndarray of shape (..., k)
        Model parameters per pixel (module docstring).
    covariance : ndarray of shape (..., k, k)
        Covariance of the (linear) fit parameters per pixel, from Poisson statistics.
    fit_quality : ndarray of shape (...)
        Reduced χ² in the fit windows (≈ 1 for a good fit). Power law and exponential:
        Σ c·(ln c - ln B)² ≈ Σ (c - B)²/c (Poisson variance estimated by the counts, from the
        fit's own moments; channels with c <= 0 left out); polynomial and power-law sum:
        Σ (c - B)²/max(B, 1).
    failed : ndarray of bool, shape (...)
        Non-finite or (for log fits) non-positive counts in a window, singular fit, power-law
        r outside [0.5, 10], or a negative model between the first window and the axis end.
    basis : tuple of float
        Exponents (``power_law_sum``) or (centre, half-width) of ``t`` (``polynomial``).
    """

    model: str
    method: str
    windows: tuple
    parameters: np.ndarray
    covariance: np.ndarray
    fit_quality: np.ndarray
    failed: np.ndarray
    basis: tuple = ()

    def _jacobian(self, energy: np.ndarray) -> np.ndarray:
        """(…, m, k): ∂B(E)/∂(covariance parameters)."""
        e = np.asarray(energy, dtype=np.float64)
        if self.model in ("power_law", "exponential"):
            b = self.evaluate(e)[..., None]
            x = -np.log(e) if self.model == "power_law" else -e
            return b * np.stack([np.ones_like(e), x], axis=-1)
        return np.broadcast_to(_linear_basis(self.model, self.basis, e),
                               self.parameters.shape[:-1] + (e.size, self.parameters.shape[-1]))

    def evaluate(self, energy_values) -> np.ndarray:
        """Background counts per channel at ``energy_values`` (m,): float64 (..., m)."""
        e = np.asarray(energy_values, dtype=np.float64).ravel()
        p = self.parameters
        if self.model == "power_law":
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return np.exp(np.log(p[..., :1]) - p[..., 1:2] * np.log(e))
        if self.model == "exponential":
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return np.exp(np.log(p[..., :1]) - p[..., 1:2] * e)
        return p @ _linear_basis(self.model, self.basis, e).T

    def extrapolation_variance(self, energy_values) -> np.ndarray:
        """Variance of the background estimate at each energy (…, m), from ``covariance``.

        Per channel only: channels are strongly correlated, so sum with
        :func:`integrate_edge` rather than adding these up.
        """
        jac = self._jacobian(np.asarray(energy_values, dtype=np.float64).ravel())
        return np.einsum("...mk,...kl,...ml->...m", jac, self.covariance, jac)

    def window_sum(self, energy_axis: AxisCalibration, lo: float, hi: float):
        """Σ background over the channels of [lo, hi] and its variance (correlated: g C gᵀ).

        For a power law the sum is the analytic integral over the outer channel edges
        divided by the channel width (midpoint rule, relative error ~r²·scale²/(24 E²));
        for an exponential it is the exact geometric series; other models sum channels.
        """
        i0, i1 = _channel_range(energy_axis, lo, hi, "edge window")
        e = energy_axis.values()[i0:i1]
        if self.model == "power_law":
            a, r = self.parameters[..., 0], self.parameters[..., 1]
            half = abs(energy_axis.scale) / 2
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                f, dlog_f = _fits.window_integral(r, e[0] - half, e[-1] + half)
                total = a * f / abs(energy_axis.scale)
            g = np.stack([total, total * dlog_f], axis=-1)
        elif self.model == "exponential":
            total, dlog_s = _exp_series(self.parameters, e[0], energy_axis.scale, e.size)
            g = np.stack([total, total * dlog_s], axis=-1)
        else:
            total = self.evaluate(e).sum(axis=-1)
            g = self._jacobian(e).sum(axis=-2)
        var = np.einsum("...k,...kl,...l->...", g, self.covariance, g)
        return total, var


def _exp_series(params, e0, step, n):
    """Σ_{i<n} A·exp(-b·(e0 + i·step)) (a geometric series: exact) and d ln Σ / db."""
    a, b = params[..., 0], params[..., 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = b * step
        tiny = np.abs(u) < 1e-9
        us = np.where(tiny, 1.0, u)
        ratio = np.where(tiny, n, np.expm1(-n * us) / np.expm1(-us))
        total = a * np.exp(-b * e0) * ratio
        dlog = np.where(tiny, -(n - 1) * step / 2,
                        n * step / np.expm1(n * us) - step / np.expm1(us)) - e0
    return total, dlog


def _linear_basis(model: str, basis: tuple, e: np.ndarray) -> np.ndarray:
    """(m, k) basis functions of the linear models."""
    if model == "polynomial":
        t = (e - basis[0]) / basis[1]
        return t[:, None] ** np.arange(basis[2] + 1)
    return e[:, None] ** -np.asarray(basis, dtype=np.float64)


# --------------------------------------------------------------------------- validation

def _check_axis(spectra, energy_axis) -> np.ndarray:
    if not isinstance(energy_axis, AxisCalibration):
        raise ValueError(f"energy_axis must be an AxisCalibration, got {type(energy_axis).__name__}")
    if energy_axis.scale <= 0:
        raise ValueError(f"the energy axis must increase (scale > 0), got scale {energy_axis.scale}")
    spectra = np.asarray(spectra)
    if spectra.ndim < 1 or spectra.shape[-1] != energy_axis.size:
        raise ValueError(f"spectra of shape {spectra.shape} do not match the energy axis of "
                         f"{energy_axis.size} channels (the last dimension must be the energy)")
    if spectra.dtype.kind not in "iuf":
        raise ValueError(f"spectra must be real numbers; got dtype {spectra.dtype}")
    return spectra


def _channel_range(axis: AxisCalibration, lo: float, hi: float, what: str):
    """[i0, i1) of the channels whose centres lie in [lo, hi]; ValueError if unusable."""
    lo, hi = float(lo), float(hi)
    half = axis.scale / 2
    if not hi > lo:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV: hi must be greater than lo")
    if lo < axis.offset - half or hi > axis.high + half:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV lies outside the energy axis "
                         f"[{axis.offset - half:g}, {axis.high + half:g}] eV")
    i0 = int(np.ceil(axis.index_of(lo) - 1e-9))
    i1 = int(np.floor(axis.index_of(hi) + 1e-9)) + 1
    i0, i1 = max(i0, 0), min(i1, axis.size)
    if i1 - i0 < 3:
        raise ValueError(f"{what} ({lo:g}, {hi:g}) eV holds {max(i1 - i0, 0)} channels; "
                         "at least 3 are needed")
    return i0, i1


def _parse_windows(windows) -> tuple:
    arr = np.asarray(windows, dtype=np.float64)
    if arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] not in (1, 2):
        raise ValueError(f"windows must be one (lo, hi) pair or two of them, in eV; got {windows!r}")
    if arr.shape[0] == 2 and arr[0, 0] > arr[1, 0]:
        arr = arr[::-1]
    if arr.shape[0] == 2 and arr[1, 0] < arr[0, 1]:
        raise ValueError(f"the two fit windows overlap: {tuple(map(tuple, arr))}")
    return tuple((float(a), float(b)) for a, b in arr)


# --------------------------------------------------------------------------- public API

def fit_background(spectra, energy_axis: AxisCalibration, *, windows, model: str = "power_law",
                   method: str | None = None, n_terms: int = 2, order: int = 2) -> BackgroundFit:
    """Fit a background model in one or two pre-edge windows, for every pixel.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Counts (any real dtype). NaN/inf or, for log fits, counts <= 0 in a window flag the
        pixel in ``failed``.
    energy_axis : AxisCalibration
        Energy of the channel centres, in eV, increasing.
    windows : (lo, hi) or ((lo1, hi1), (lo2, hi2))
        Fit window(s) in eV; each must hold at least 3 channels and lie on the axis.
    model : {"power_law", "exponential", "polynomial", "power_law_sum"}
    method : {"mle", "lsq", "two_area", "two_area_exact"}, optional
        Power law: Poisson maximum likelihood (default), weighted log-linear least squares,
        or Egerton's two-area method. The other models take "lsq" (their default).
    n_terms : int
        Number of fixed-exponent power laws of ``"power_law_sum"`` (1 to 5).
    order : int
        Polynomial order (0 to 5).

    Returns
    -------
    BackgroundFit
    """
    return _fit(spectra, energy_axis, windows, model, method, n_terms, order)[0]


def _fit(spectra, energy_axis, windows, model, method, n_terms, order, edge=None,
         quality=True):
    """:func:`fit_background`, plus the sum of the channels ``edge = (i0, i1)`` taken in
    the same pass over the data when the fit is the Poisson ML power law (else None)."""
    spectra = _check_axis(spectra, energy_axis)
    windows = _parse_windows(windows)
    if method is None:
        method = "mle" if model == "power_law" else "lsq"
    if model not in MODELS:
        raise ValueError(f"unknown background model {model!r}; choose one of {MODELS}")
    if method not in POWER_LAW_METHODS or (model != "power_law" and method != "lsq"):
        raise ValueError(f"method {method!r} is not available for model {model!r} "
                         f"(power_law takes {POWER_LAW_METHODS}, the others 'lsq')")
    ranges = [_channel_range(energy_axis, lo, hi, f"fit window ({lo:g}, {hi:g}) eV")
              for lo, hi in windows]
    if len(ranges) == 2 and ranges[1][0] < ranges[0][1]:
        raise ValueError(f"the two fit windows {windows} overlap: they share the channel at "
                         f"{energy_axis.values()[ranges[1][0]]:g} eV")
    e_all = energy_axis.values()
    idx = np.concatenate([np.arange(a, b) for a, b in ranges])
    e = e_all[idx]
    if model in ("power_law", "power_law_sum") and e[0] <= 0:
        raise ValueError(f"a power law needs positive energies; the fit windows {windows} "
                         "reach 0 eV or below")
    lead = spectra.shape[:-1]
    edge_sum = None
    edge_channels = edge if edge is not None else (0, 0)
    data = spectra.reshape(-1, spectra.shape[-1])  # a view for C-contiguous input
    native = model == "power_law" and method == "mle" and data.dtype.kind in "iu"
    if (data.dtype not in (np.float32, np.float64) and not native) or not data.flags.c_contiguous:
        data = np.ascontiguousarray(data, dtype=np.float64)
    if model == "power_law" and method == "mle":
        ln_e = np.log(e)
        xm = float(ln_e.mean())
        theta, cov, chi2, flags, edge_sum = _fits.fit_poisson_power_law(
            data, idx, ln_e - xm, edge_channels, quality)
        bad = flags[:, 0] | flags[:, 1] | ~np.isfinite(theta[:, 1])
        theta[:, 0] += theta[:, 1] * xm            # A_c e^{-r(ln E - x̄)} = A E^-r
        t = np.array([[1.0, xm], [0.0, 1.0]])
        cov = t @ cov @ t.T
        params = theta.copy()
        with np.errstate(over="ignore"):
            params[:, 0] = np.exp(theta[:, 0])
        basis: tuple = ()
    elif model == "power_law" or model == "exponential":
        x = -np.log(e) if model == "power_law" else -e  # ln B = ln A + slope·x
        theta, cov, flags, moments = _fits.fit_loglinear(data, idx, x)
        bad = flags[:, 0] | flags[:, 1]  # a log needs every count > 0
        if method != "lsq":  # window sums: zeros are fine, negative counts are not
            theta, cov, bad = _two_area(data, ranges, e_all, energy_axis.scale, method)
            bad |= flags[:, 0] | flags[:, 2]
        chi2 = _fits.loglinear_chi2(moments, theta)
        params = theta.copy()
        with np.errstate(over="ignore"):
            params[:, 0] = np.exp(theta[:, 0])
        basis: tuple = ()
    else:
        counts = data[:, idx].astype(np.float64)
        bad = ~np.all(np.isfinite(counts), axis=1)
        params, cov, basis = _fit_linear(counts, e, energy_axis, model, n_terms, order)
    k = params.shape[1]
    fit = BackgroundFit(model, method, windows, params.reshape(lead + (k,)),
                        cov.reshape(lead + (k, k)), np.zeros(lead), np.zeros(lead, bool), basis)
    if model in ("polynomial", "power_law_sum"):
        model_counts = fit.evaluate(e).reshape(-1, idx.size)
        with np.errstate(invalid="ignore"):
            chi2 = np.sum((counts - model_counts) ** 2 / np.maximum(model_counts, 1.0), axis=1)
    bad |= ~np.all(np.isfinite(params), axis=1) | ~np.all(np.isfinite(cov), axis=(1, 2))
    if model == "power_law":
        bad |= ~((params[:, 1] >= _fits.R_RANGE[0]) & (params[:, 1] <= _fits.R_RANGE[1]))
    elif model == "polynomial":  # the only model that can turn negative: check to the axis end
        probe = np.unique(np.linspace(idx[0], energy_axis.size - 1, 256).astype(int))
        with np.errstate(invalid="ignore"):
            bad |= np.any(fit.evaluate(e_all[probe]).reshape(-1, probe.size) < 0, axis=1)
    fit = replace(fit, fit_quality=(chi2 / max(idx.size - k, 1)).reshape(lead),
                  failed=bad.reshape(lead))
    fused = edge is not None and edge_sum is not None
    return fit, (edge_sum.reshape(lead) if fused else None)


def _fit_linear(counts, e, energy_axis, model, n_terms, order):
    """Polynomial or non-negative power-law sum: (parameters, covariance, basis)."""
    finite = np.isfinite(counts)
    if model == "polynomial":
        if not 0 <= order <= 5:
            raise ValueError(f"polynomial order must be 0 to 5, got {order}")
        basis = ((e[0] + e[-1]) / 2, max((e[-1] - e[0]) / 2, energy_axis.scale), int(order))
        w = 1.0 / np.maximum(np.where(finite, counts, 1.0), 1.0)
        theta, cov = _fits.weighted_lsq(_linear_basis(model, basis, e),
                                        np.where(finite, counts, 0.0), w)
        return theta, cov, basis
    if not 1 <= n_terms <= 5:
        raise ValueError(f"n_terms must be 1 to 5, got {n_terms}")
    basis = tuple(float(r) for r in np.linspace(2.0, 5.0, n_terms)) if n_terms > 1 else (3.0,)
    # scale each term to 1 at the first window channel: keeps the normal matrix conditioned
    ref = e[0] ** -np.asarray(basis)
    theta, cov = _fits.fit_nonneg_sum(_linear_basis(model, basis, e) / ref, counts)
    return theta / ref, cov / ref[:, None] / ref[None, :], basis


def _two_area(data, ranges, e_all, scale, method):
    """Two-area power law from the window sums of ``data`` (p, n): θ, covariance, failed."""
    if len(ranges) == 1:
        (a, b), = ranges
        n = (b - a) // 2
        ranges = [(a, a + n), (a + n, a + 2 * n)]
    s1, s2 = (data[:, a:b].sum(axis=1, dtype=np.float64) for a, b in ranges)
    bad = ~(np.isfinite(s1) & np.isfinite(s2) & (s1 > 0) & (s2 > 0))
    half = scale / 2
    edges = tuple((e_all[a] - half, e_all[b - 1] + half) for a, b in ranges)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta, cov = _fits.fit_two_area(s1, s2, edges, scale, method == "two_area_exact")
    return theta, cov, bad


def _edge_range(energy_axis, fit: BackgroundFit, lo, hi):
    i0, i1 = _channel_range(energy_axis, lo, hi, "edge window")
    for wlo, whi in fit.windows:
        j0, j1 = _channel_range(energy_axis, wlo, whi, "fit window")
        if j0 < i1 and i0 < j1:
            raise ValueError(f"the edge window ({lo:g}, {hi:g}) eV overlaps the fit window "
                             f"({wlo:g}, {whi:g}) eV")
    return i0, i1


def subtract_background(spectra, energy_axis: AxisCalibration, fit: BackgroundFit, *,
                        lo: float, hi: float) -> np.ndarray:
    """Counts minus the fitted background over the channels of [lo, hi] eV.

    Returns an array of shape (..., m), float32 for float32 input, float64 otherwise; NaN
    for pixels whose fit ``failed``.
    """
    spectra = _check_axis(spectra, energy_axis)
    i0, i1 = _edge_range(energy_axis, fit, lo, hi)
    if fit.parameters.shape[:-1] != spectra.shape[:-1]:
        raise ValueError(f"fit of shape {fit.parameters.shape[:-1]} does not match spectra "
                         f"{spectra.shape[:-1]}")
    out = spectra[..., i0:i1] - fit.evaluate(energy_axis.values()[i0:i1])
    out[fit.failed] = np.nan
    return out.astype(np.float32 if spectra.dtype == np.float32 else np.float64, copy=False)


def integrate_edge(spectra, energy_axis: AxisCalibration, fit: BackgroundFit, *,
                   lo: float, hi: float):
    """Background-subtracted edge counts over [lo, hi] eV and their variance, per pixel.

    ``signal = Σ (counts - background)`` over the channels of [lo, hi];
    ``variance = Σ counts`` (Poisson noise of signal + background) ``+ g C gᵀ``, the variance
    of the extrapolated background *summed* over the window (``g`` = window sum of the model
    Jacobian, ``C`` = fit covariance), so the channel-to-channel correlation is kept.

    Returns
    -------
    signal, variance : ndarray of shape (...), float64
        NaN where the fit failed or the window holds non-finite counts.
    """
    spectra = _check_axis(spectra, energy_axis)
    i0, i1 = _edge_range(energy_axis, fit, lo, hi)
    if fit.parameters.shape[:-1] != spectra.shape[:-1]:
        raise ValueError(f"fit of shape {fit.parameters.shape[:-1]} does not match spectra "
                         f"{spectra.shape[:-1]}")
    total = spectra[..., i0:i1].sum(axis=-1, dtype=np.float64)
    background, bg_var = fit.window_sum(energy_axis, lo, hi)
    signal = total - background
    variance = np.maximum(total, 0.0) + bg_var
    bad = fit.failed | ~np.isfinite(signal) | ~np.isfinite(variance)
    signal = np.where(bad, np.nan, signal)
    variance = np.where(bad, np.nan, variance)
    return signal, variance


def fit_and_integrate(spectra, energy_axis: AxisCalibration, *, windows, lo: float, hi: float,
                      model: str = "power_law", method: str | None = None,
                      quality: bool = True):
    """:func:`fit_background` then :func:`integrate_edge` over [lo, hi] eV: the same results,
    in one pass over the data for the (default) Poisson ML power law. ``quality=False``
    leaves ``fit_quality`` NaN for that method (a third of the work: for live updates).

    Returns (fit, signal, variance).
    """
    spectra = _check_axis(spectra, energy_axis)
    if method is None:
        method = "mle" if model == "power_law" else "lsq"
    if model != "power_law" or method != "mle":
        fit = fit_background(spectra, energy_axis, windows=windows, model=model, method=method)
        return (fit,) + integrate_edge(spectra, energy_axis, fit, lo=lo, hi=hi)
    windows = _parse_windows(windows)
    probe = BackgroundFit(model, method, windows, np.zeros(2), np.zeros((2, 2)), np.zeros(()),
                          np.zeros((), bool))
    i0, i1 = _edge_range(energy_axis, probe, lo, hi)
    fit, total = _fit(spectra, energy_axis, windows, model, method, 2, 2, edge=(i0, i1),
                      quality=quality)
    background, bg_var = fit.window_sum(energy_axis, lo, hi)
    signal = total - background
    variance = np.maximum(total, 0.0) + bg_var
    bad = fit.failed | ~np.isfinite(signal) | ~np.isfinite(variance)
    return fit, np.where(bad, np.nan, signal), np.where(bad, np.nan, variance)
