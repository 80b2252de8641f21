"""Per-pixel estimators behind :mod:`batteryscope.analysis.eels.background`.

Every function works on a flat block of pixels: ``counts`` of shape (n_pixels, n_window)
plus the channel energies of the window, and returns parameters of shape (n_pixels, k)
and their covariance (n_pixels, k, k). All of them are closed-form or a fixed number of
vectorised steps over pixels (no Python loop over pixels). The log-linear fits, the ones on
the benchmark path, use two small numba kernels (parallel over pixels) that read each window channel once
(one log per count; χ² comes from the same moments) straight from the spectrum image:
several times faster than the equivalent chain of numpy temporaries.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
from numba import prange

from ..numba_dispatch import dual_kernel

R_RANGE = (0.5, 10.0)  # power-law exponents outside this range are flagged as failed


# --------------------------------------------------------------------------- linear LSQ

def weighted_lsq(basis: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Solve ``min Σ w (y - basis @ θ)²`` for every pixel.

    basis : (n, k) shared by all pixels; y, w : (p, n). Returns θ (p, k) and the
    covariance ``(Bᵀ W B)⁻¹`` (p, k, k), which is the parameter covariance when ``w`` are
    the inverse variances of ``y``. Singular pixels come back as NaN.
    """
    n, k = basis.shape
    outer = (basis[:, :, None] * basis[:, None, :]).reshape(n, k * k)
    normal = (w @ outer).reshape(-1, k, k)
    rhs = (w * y) @ basis
    if k == 2:  # closed form 2×2: ~10x faster than the batched LAPACK call
        a, b, d = normal[:, 0, 0], normal[:, 0, 1], normal[:, 1, 1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            det = a * d - b * b
            inv_det = 1.0 / det
            cov = np.empty_like(normal)
            cov[:, 0, 0], cov[:, 1, 1] = d * inv_det, a * inv_det
            cov[:, 0, 1] = cov[:, 1, 0] = -b * inv_det
            bad = ~np.isfinite(inv_det) | ~(det > 1e-12 * np.abs(a * d))
        cov[bad] = np.nan
    else:
        cov = np.full_like(normal, np.nan)
        ok = np.all(np.isfinite(normal), axis=(1, 2)) & (np.linalg.matrix_rank(normal) == k) \
            if len(normal) else np.zeros(0, bool)
        if np.any(ok):
            cov[ok] = np.linalg.inv(normal[ok])
    with np.errstate(invalid="ignore", over="ignore"):
        theta = np.einsum("pkl,pl->pk", cov, rhs)
    return theta, cov


@dual_kernel(nogil=True)
def _loglinear_moments(data, idx, x, out, bad):
    """Per row of ``data`` (p, n): Poisson-weighted moments of y = ln c over columns ``idx``.

    out[:, :] = Σc, Σc·x, Σc·x², Σc·y, Σc·x·y, Σc·y²; bad[:, 0] = any non-finite count,
    bad[:, 1] = any count <= 0 (those get zero weight), bad[:, 2] = any count < 0.
    """
    for p in prange(data.shape[0]):
        s0 = s1 = s2 = sy = sxy = syy = 0.0
        nonfinite = nonpos = negative = False
        for j in range(idx.size):
            c = np.float64(data[p, idx[j]])
            if not np.isfinite(c):
                nonfinite = True
                continue
            if c <= 0.0:
                nonpos = True
                negative = negative or c < 0.0
                continue
            y = np.log(c)
            xj = x[j]
            s0 += c
            s1 += c * xj
            s2 += c * xj * xj
            sy += c * y
            sxy += c * xj * y
            syy += c * y * y
        out[p, 0], out[p, 1], out[p, 2], out[p, 3], out[p, 4] = s0, s1, s2, sy, sxy
        out[p, 5] = syy
        bad[p, 0], bad[p, 1], bad[p, 2] = nonfinite, nonpos, negative


def loglinear_moments(data: np.ndarray, idx: np.ndarray, x: np.ndarray):
    """Moments (p, 6) of :func:`_loglinear_moments` about x̄, x̄, and the flags (p, 3)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    xm = float(x.mean()) if x.size else 0.0
    mom = np.empty((data.shape[0], 6))
    bad = np.empty((data.shape[0], 3), dtype=np.bool_)
    _loglinear_moments(data, np.ascontiguousarray(idx, dtype=np.int64), x - xm, mom, bad)
    return mom, xm, bad


def fit_loglinear(data: np.ndarray, idx: np.ndarray, x: np.ndarray):
    """Fit ``ln c = θ0 + θ1·x`` per row of ``data`` (p, n) over columns ``idx``, weights c.

    Poisson weights (var(ln c) ≈ 1/c). Non-positive or non-finite counts get zero weight.
    Returns θ (p, 2), covariance (p, 2, 2), flags (p, 3) (any count non-finite, <= 0, < 0)
    and the moments for :func:`loglinear_chi2`. ``data``: float32/float64, C-contiguous.
    """
    mom, xm, bad = loglinear_moments(data, idx, x)
    s0, s1, s2, sy, sxy, _ = mom.T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = s0 * s2 - s1 * s1
        inv = 1.0 / det
        cov = np.empty((data.shape[0], 2, 2))
        cov[:, 0, 0], cov[:, 1, 1] = s2 * inv, s0 * inv
        cov[:, 0, 1] = cov[:, 1, 0] = -s1 * inv
        cov[~(det > 1e-12 * np.abs(s0 * s2))] = np.nan
        slope = (s0 * sxy - s1 * sy) * inv
        icept = (sy - slope * s1) / s0
    # back from the centred x: θ0 = icept - slope·x̄, covariance T C Tᵀ with T = [[1, -x̄], [0, 1]]
    theta = np.stack([icept - slope * xm, slope], axis=1)
    t = np.array([[1.0, -xm], [0.0, 1.0]])
    cov = t @ cov @ t.T
    return theta, cov, bad, (mom, xm)


def loglinear_chi2(moments, theta):
    """χ² = Σ c·(ln c - θ0 - θ1·x)² from the moments: ≈ Σ (c - B)² / c, Neyman's χ² (the
    Poisson variance estimated by the counts), with no second pass over the data."""
    mom, xm = moments
    s0, s1, s2, sy, sxy, syy = mom.T
    a = theta[:, 0] + theta[:, 1] * xm  # intercept in the centred x
    b = theta[:, 1]
    with np.errstate(invalid="ignore", over="ignore"):
        chi2 = syy - 2 * a * sy - 2 * b * sxy + a * a * s0 + 2 * a * b * s1 + b * b * s2
    return np.maximum(chi2, 0.0)


# --------------------------------------------------------------------------- Poisson ML

R_EXPAND = 3.0      # Σ c² e^{r x} (Pearson's χ²) is a Taylor series in (r - R_EXPAND)
R_TABLE_STEP = 0.01


def chi2_terms(x: np.ndarray) -> int:
    """Series terms for Σ c² e^{r x} about R_EXPAND to 1e-12 over the whole r range."""
    u = (max(R_RANGE[1] - R_EXPAND, R_EXPAND - R_RANGE[0]) + 0.5) * float(np.max(np.abs(x)))
    term, m = 1.0, 0
    while term > 1e-12 and m < 40:
        m += 1
        term *= u / m
    return max(m, 2)


CHI2_MAX_TERMS = 12


@dual_kernel(nogil=True)
def _count_moments(data, idx, x, e_rx, j0, j1, out, chi_mom, bad):
    """One pass per row of ``data`` (p, n): over the fit-window columns ``idx`` (x centred
    ln E, e_rx = e^{R_EXPAND x}) out[:, 0:2] = Σc, Σc·x and chi_mom[:, m] = Σ c² x^m e^{R_EXPAND x}
    for m < 12 (Pearson's χ² at any r); over columns [j0, j1) (an edge window, empty if
    j0 == j1) out[:, 2] = Σc. bad[:, 0] = any non-finite count, bad[:, 1] = any count < 0
    (fit window), bad[:, 2] = any non-finite count in the edge window. The twelve moments
    are scalar accumulators (registers), written out once per pixel."""
    for p in prange(data.shape[0]):
        s0 = 0.0
        s1 = 0.0
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = m8 = m9 = m10 = m11 = 0.0
        nonfinite = False
        negative = False
        for j in range(idx.size):
            c = np.float64(data[p, idx[j]])
            if not np.isfinite(c):
                nonfinite = True
                continue
            if c < 0.0:
                negative = True
            xj = x[j]
            s0 += c
            s1 += c * xj
            q = c * c * e_rx[j]
            m0 += q
            q *= xj
            m1 += q
            q *= xj
            m2 += q
            q *= xj
            m3 += q
            q *= xj
            m4 += q
            q *= xj
            m5 += q
            q *= xj
            m6 += q
            q *= xj
            m7 += q
            q *= xj
            m8 += q
            q *= xj
            m9 += q
            q *= xj
            m10 += q
            q *= xj
            m11 += q
        total = 0.0
        for j in range(j0, j1):
            total += data[p, j]
        out[p, 0] = s0
        out[p, 1] = s1
        out[p, 2] = total
        chi_mom[p, 0], chi_mom[p, 1], chi_mom[p, 2], chi_mom[p, 3] = m0, m1, m2, m3
        chi_mom[p, 4], chi_mom[p, 5], chi_mom[p, 6], chi_mom[p, 7] = m4, m5, m6, m7
        chi_mom[p, 8], chi_mom[p, 9], chi_mom[p, 10], chi_mom[p, 11] = m8, m9, m10, m11
        bad[p, 0] = nonfinite
        bad[p, 1] = negative
        bad[p, 2] = not np.isfinite(total)


@dual_kernel(nogil=True)
def _count_sums(data, idx, x, j0, j1, out, bad):
    """:func:`_count_moments` without the χ² moments (3 flops per count, for live updates)."""
    for p in prange(data.shape[0]):
        s0 = 0.0
        s1 = 0.0
        nonfinite = False
        negative = False
        for j in range(idx.size):
            c = np.float64(data[p, idx[j]])
            if not np.isfinite(c):
                nonfinite = True
                continue
            if c < 0.0:
                negative = True
            s0 += c
            s1 += c * x[j]
        total = 0.0
        for j in range(j0, j1):
            total += data[p, j]
        out[p, 0] = s0
        out[p, 1] = s1
        out[p, 2] = total
        bad[p, 0] = nonfinite
        bad[p, 1] = negative
        bad[p, 2] = not np.isfinite(total)


@dual_kernel(nogil=True)
def _pearson_terms(data, idx, x, r, out):
    """Σ c² e^{r x} per row, exactly (for fit windows too wide for the 12-term series)."""
    for p in prange(data.shape[0]):
        acc = 0.0
        rp = r[p]
        for j in range(idx.size):
            c = np.float64(data[p, idx[j]])
            if np.isfinite(c):
                acc += c * c * np.exp(rp * x[j])
        out[p] = acc


def fit_poisson_power_law(data: np.ndarray, idx: np.ndarray, x: np.ndarray, edge=(0, 0),
                          quality: bool = True):
    """Maximum-likelihood power law ``μ_i = A_c e^{-r x_i}`` for Poisson counts.

    ``x`` = ln E of the window channels, centred (x̄ is subtracted by the caller). The
    likelihood equations reduce to two sums per pixel: ``A_c = Σc / S0(r)`` and
    ``S1(r)/S0(r) = Σc·x / Σc`` with ``S_k(r) = Σ_i x_i^k e^{-r x_i}``, functions of r alone,
    tabulated once and inverted by interpolation. No logarithm of a count is taken, so
    zero counts are fine and the estimate has none of the small-count bias of log-domain
    least squares (which underestimates the background by ~1/(2c) relatively, a bias a weak
    edge on top of it feels tens of times larger). The same pass over the data also sums
    the channels [edge[0], edge[1]) (an edge window to integrate).

    Returns θ = (ln A_c, r) (p, 2), its covariance from the Fisher information
    A_c [[S0, -S1], [-S1, S2]]⁻¹ (p, 2, 2), Pearson's χ² (p,), flags (p, 3) (any count
    non-finite / negative in the fit window, non-finite in the edge window) and the edge
    window sums (p,). ``quality=False`` skips χ² (NaN): a third of the work, for live use.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    e_rx = np.exp(R_EXPAND * x)
    sums = np.empty((data.shape[0], 3))
    bad = np.empty((data.shape[0], 3), dtype=np.bool_)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if quality:
        chi_mom = np.empty((data.shape[0], CHI2_MAX_TERMS))
        _count_moments(data, idx, x, e_rx, int(edge[0]), int(edge[1]), sums, chi_mom, bad)
    else:
        _count_sums(data, idx, x, int(edge[0]), int(edge[1]), sums, bad)
    r_grid = np.arange(R_RANGE[0] - 0.5, R_RANGE[1] + 0.5 + 1e-9, R_TABLE_STEP)
    w = np.exp(-np.outer(r_grid, x))                        # (g, n)
    s0, s1, s2 = w.sum(axis=1), w @ x, w @ (x * x)
    g = s1 / s0                                             # decreasing in r
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m1 = sums[:, 1] / sums[:, 0]
        r = np.interp(-m1, -g, r_grid, left=np.nan, right=np.nan)
        # S_k(r) between nodes: interpolate ln S0 (smooth) and the ratios
        ln_s0 = np.interp(r, r_grid, np.log(s0))
        ratio2 = np.interp(r, r_grid, s2 / s0)
        a_c = sums[:, 0] / np.exp(ln_s0)
        fisher0 = sums[:, 0]                                # A_c S0 = Σc
        fisher1 = -sums[:, 0] * m1                          # -A_c S1
        fisher2 = sums[:, 0] * ratio2                       # A_c S2
        det = fisher0 * fisher2 - fisher1 * fisher1
        cov = np.empty((data.shape[0], 2, 2))
        cov[:, 0, 0], cov[:, 1, 1] = fisher2 / det, fisher0 / det
        cov[:, 0, 1] = cov[:, 1, 0] = -fisher1 / det
        # Pearson χ² = Σ c²/μ - Σc (Σμ = Σc at the optimum), Σ c² e^{r x} from its series
        if not quality:
            acc = np.full(data.shape[0], np.nan)
        elif chi2_terms(x) <= CHI2_MAX_TERMS:
            d = r - R_EXPAND
            term = np.ones_like(d)
            acc = np.zeros_like(d)
            for m in range(CHI2_MAX_TERMS):
                acc += term * chi_mom[:, m]
                term = term * d / (m + 1)
        else:                       # windows far apart: a second, exact pass
            acc = np.empty(data.shape[0])
            _pearson_terms(data, idx, x, np.where(np.isfinite(r), r, R_EXPAND), acc)
        chi2 = acc / a_c - sums[:, 0]
        theta = np.stack([np.log(a_c), r], axis=1)
    invalid = ~(sums[:, 0] > 0) | ~np.isfinite(r) | ~(det > 0)
    cov[invalid] = np.nan
    theta[invalid] = np.nan
    return theta, cov, np.where(np.isnan(chi2), np.nan, np.maximum(chi2, 0.0)), bad, sums[:, 2]


# --------------------------------------------------------------------------- two-area

def _log_f(r, a, b):
    """ln ∫_a^b E^-r dE and its derivative with respect to r (stable at r = 1)."""
    big_l = np.log(b / a)
    x = (1.0 - r) * big_l
    small = np.abs(x) < 1e-6
    xs = np.where(small, 1.0, x)
    with np.errstate(over="ignore", invalid="ignore"):
        ln_exprel = np.where(small, x / 2.0, np.log(np.abs(np.expm1(xs) / xs)))
        dln_exprel = np.where(small, 0.5 + x / 12.0, np.exp(xs) / np.expm1(xs) - 1.0 / xs)
    log_f = (1.0 - r) * np.log(a) + np.log(big_l) + ln_exprel
    dlog_f = -np.log(a) - big_l * dln_exprel
    return log_f, dlog_f


def window_integral(r, a, b):
    """∫_a^b E^-r dE and d ln(∫)/dr, vectorised over ``r``."""
    log_f, dlog_f = _log_f(r, a, b)
    return np.exp(log_f), dlog_f


def _two_area_params(s1, s2, edges, scale, exact):
    """(ln A, r) from the two window sums; A in counts per channel (B = A E^-r)."""
    (x1, x2), (x3, x4) = edges
    i1, i2 = scale * s1, scale * s2  # Σ_channels A E^-r ≈ ∫ A E^-r dE / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 2.0 * np.log(i1 / i2 * (x4 - x3) / (x2 - x1)) / np.log(x4 * x3 / x2 / x1)
        if not exact:  # Egerton's closed form, exactly as exspy's PowerLaw.estimate_parameters
            k = 1.0 - r
            a1 = k * i1 / (x2 ** k - x1 ** k)
            a2 = k * i2 / (x4 ** k - x3 ** k)
            a = (a1 * i1 + a2 * i2) / (i1 + i2)
            return np.log(a), r
        target = np.log(i2 / i1)
        for _ in range(6):  # Newton on ln F(r; w2) - ln F(r; w1) = ln(I2/I1); quadratic
            l1, d1 = _log_f(r, x1, x2)
            l2, d2 = _log_f(r, x3, x4)
            r = r - (l2 - l1 - target) / (d2 - d1)
        l1, _ = _log_f(r, x1, x2)
        l2, _ = _log_f(r, x3, x4)
        ln_a = np.log(i1 + i2) - np.logaddexp(l1, l2)
        return ln_a, r


def fit_two_area(s1, s2, edges, scale, exact):
    """Two-area power law from window sums ``s1``, ``s2`` (raw counts, Poisson).

    ``edges`` are the outer channel edges ((x1, x2), (x3, x4)) of the two windows.
    Returns θ = (ln A, r) (p, 2) and its covariance (p, 2, 2) by propagating
    var(S) = S through the estimator (first-order; what Egerton's h-factor approximates).
    """
    ln_a, r = _two_area_params(s1, s2, edges, scale, exact)
    theta = np.stack([ln_a, r], axis=-1)
    h = 1e-6
    jac = []
    for j, s in enumerate((s1, s2)):  # ∂θ/∂ln S_j by a forward difference
        bumped = (s1 * (1 + h), s2) if j == 0 else (s1, s2 * (1 + h))
        t = np.stack(_two_area_params(*bumped, edges, scale, exact), axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            jac.append((t - theta) / np.log1p(h) / np.sqrt(s)[:, None])
    cov = sum(g[:, :, None] * g[:, None, :] for g in jac)
    return theta, cov


# --------------------------------------------------------------------------- NNLS sum

def fit_nonneg_sum(basis: np.ndarray, counts: np.ndarray):
    """Non-negative weighted least squares ``counts ≈ basis @ a``, a >= 0, every pixel.

    With few terms (k <= 5) the exact NNLS solution is found by solving the unconstrained
    problem on every subset of terms and keeping, per pixel, the feasible solution of least
    χ² (the NNLS optimum is the LSQ solution on its own support). Weights 1/max(c, 1).
    Returns a (p, k) and the covariance on the active set (zeros elsewhere), (p, k, k).
    """
    p, k = counts.shape[0], basis.shape[1]
    w = 1.0 / np.maximum(np.where(np.isfinite(counts), counts, 1.0), 1.0)
    y = np.where(np.isfinite(counts), counts, 0.0)
    best = np.full(p, np.inf)
    a_best = np.zeros((p, k))
    cov_best = np.full((p, k, k), np.nan)
    for size in range(1, k + 1):
        for subset in combinations(range(k), size):
            idx = list(subset)
            theta, cov = weighted_lsq(basis[:, idx], y, w)
            resid = y - theta @ basis[:, idx].T
            chi2 = np.sum(w * resid * resid, axis=1)
            ok = np.all(theta >= 0, axis=1) & np.isfinite(chi2) & (chi2 < best * (1 - 1e-12))
            best[ok] = chi2[ok]
            a_best[ok] = 0.0
            a_best[np.ix_(ok, idx)] = theta[ok]
            full = np.zeros((int(ok.sum()), k, k))
            ix = np.array(idx)
            full[:, ix[:, None], ix[None, :]] = cov[ok]
            cov_best[ok] = full
    return a_best, cov_best
