"""Per-pixel kernels behind :mod:`batteryscope.analysis.eels.model_fit`.

The model fit reduces every pixel to a one-dimensional problem in the power-law exponent
``r`` whose ingredients are tabulated on a uniform ``r`` grid (see the module docstring of
``model_fit``). What is left per pixel is a search for the maximum of a smooth scalar
function and a few small dot products: a parallel numba loop over pixels does it with no
temporaries, where numpy would need a (pixels × grid × components) array.

Interpolation between grid nodes is 4-point Lagrange (cubic): the tabulated functions are
Laplace transforms ``Σ w_i f_i exp(-r x_i)`` with ``|x_i| = |ln(E_i/E_ref)| < 0.5``, so the
interpolation error is about ``(Δr·max|x|)⁴ / 24`` relative: ~1e-6 on the coarse grid
(Δr = 0.25, good enough to pick the node) and ~1e-12 on the fine one (Δr = 0.01).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..numba_dispatch import dual_kernel

GOLDEN = 0.5 * (np.sqrt(5.0) - 1.0)


@njit(cache=True, nogil=True, inline="always")
def _stencil(r, r0, dr, n):
    """Start node j0 of the 4-point stencil around ``r`` and the Lagrange weights."""
    u = (r - r0) / dr
    j = int(np.floor(u)) - 1
    if j < 0:
        j = 0
    if j > n - 4:
        j = n - 4
    t = u - j
    w0 = -(t - 1.0) * (t - 2.0) * (t - 3.0) / 6.0
    w1 = t * (t - 2.0) * (t - 3.0) / 2.0
    w2 = -t * (t - 1.0) * (t - 3.0) / 2.0
    w3 = t * (t - 1.0) * (t - 2.0) / 6.0
    return j, w0, w1, w2, w3


@njit(cache=True, nogil=True, inline="always")
def _interp(f, j, w0, w1, w2, w3):
    return w0 * f[j] + w1 * f[j + 1] + w2 * f[j + 2] + w3 * f[j + 3]


@njit(cache=True, nogil=True)
def _objective(s_row, d_tab, r, r0, dr):
    """φ(r) = s(r)² / d(r): the χ² reduction the power law brings at exponent r."""
    j, w0, w1, w2, w3 = _stencil(r, r0, dr, d_tab.size)
    s = _interp(s_row, j, w0, w1, w2, w3)
    d = _interp(d_tab, j, w0, w1, w2, w3)
    return s * s / d


@dual_kernel
def best_exponent(s_grid, d_tab, r0, dr, r_out, at_bound):
    """Per pixel: the r maximising φ (grid argmax, then golden section on the interpolant).

    s_grid : (p, g) s(r_k) = t(r_k) - h(r_k)·z per pixel; only points where s > 0 (a
    positive background amplitude) are candidates. ``at_bound`` is set where the best grid
    node is the first or last one (r outside the search range) or no node has s > 0.
    """
    p, g = s_grid.shape
    for i in prange(p):
        row = s_grid[i]
        best, kbest = -1.0, -1
        for k in range(g):
            if row[k] > 0.0:
                phi = row[k] * row[k] / d_tab[k]
                if phi > best:
                    best, kbest = phi, k
        if kbest < 0:
            r_out[i] = np.nan
            at_bound[i] = True
            continue
        at_bound[i] = kbest == 0 or kbest == g - 1
        lo = r0 + dr * max(kbest - 1, 0)
        hi = r0 + dr * min(kbest + 1, g - 1)
        a = hi - GOLDEN * (hi - lo)
        b = lo + GOLDEN * (hi - lo)
        fa = _objective(row, d_tab, a, r0, dr)
        fb = _objective(row, d_tab, b, r0, dr)
        for _ in range(48):
            if fa > fb:
                hi, b, fb = b, a, fa
                a = hi - GOLDEN * (hi - lo)
                fa = _objective(row, d_tab, a, r0, dr)
            else:
                lo, a, fa = a, b, fb
                b = lo + GOLDEN * (hi - lo)
                fb = _objective(row, d_tab, b, r0, dr)
        r_out[i] = 0.5 * (lo + hi)


N_MOMENTS = 10


@njit(cache=True, nogil=True)
def _moments(y_row, wp_col, w, x, out):
    """out[m] = Σ w y p_k x^m (m < N_MOMENTS) at one coarse node p_k = exp(-r_k x);
    returns Σ w y² (the same pass)."""
    for m in range(N_MOMENTS):
        out[m] = 0.0
    yy = 0.0
    for i in range(x.size):
        yi = y_row[i]
        yy += w[i] * yi * yi
        v = yi * wp_col[i]
        xi = x[i]
        for m in range(N_MOMENTS):
            out[m] += v
            v *= xi
    return yy


@njit(cache=True, nogil=True)
def _laplace(mom, delta):
    """t(r_k + δ) = Σ w y e^(-(r_k+δ) x) and its first two r-derivatives, from the moments:
    t^(j) = Σ_m (-δ)^m/m! (-1)^j M_{m+j}. With |δ·x| < 0.04 the series is exact to double
    precision after 8 terms (|δ| ≤ Δr/2 = 0.125: the truncation is ~1e-16 relative)."""
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    c = 1.0
    for m in range(N_MOMENTS - 2):
        t0 += c * mom[m]
        t1 -= c * mom[m + 1]
        t2 += c * mom[m + 2]
        c *= -delta / (m + 1)
    return t0, t1, t2


@njit(cache=True, nogil=True)
def _dot_interp(tab, zrow, j, w0, w1, w2, w3):
    """z · (4-point interpolation of the rows j..j+3 of tab (g, k))."""
    acc = 0.0
    for c in range(zrow.size):
        acc += zrow[c] * (w0 * tab[j, c] + w1 * tab[j + 1, c] + w2 * tab[j + 2, c]
                          + w3 * tab[j + 3, c])
    return acc


@dual_kernel
def polish_exponent(y, wp, w, x, z, r, r0, dr, rf0, drf, h_f, hp_f, hpp_f, d_f, dp_f, dpp_f,
                    s_out, yy_out, n_newton):
    """Newton steps on dφ/dr = 0 with t(r) exact; s(r) at the final r.

    The coarse search leaves r within ~1e-3 of the optimum, but φ is huge (≈ total counts)
    and flat in r, so its interpolation error would still move r by ~1e-3: here t(r) comes
    exactly from moments about the nearest coarse node (one pass over the channels, no
    exponentials), and h, d from fine tables (Δr = 0.01, cubic: ~1e-12 relative).
    Solves F(r) = 2 s' d - s d' = 0 (φ' = F·s/d²), F' = 2 s'' d + s' d' - s d''.
    wp : (g, n) coarse-grid columns w·exp(-r_k x), transposed for contiguous rows.
    yy_out : (p,) Σ w y² per pixel, for χ².
    """
    p = y.shape[0]
    g = d_f.size
    n_coarse = wp.shape[0]
    for i in prange(p):
        ri = r[i]
        if not np.isfinite(ri):
            s_out[i] = np.nan
            yy_out[i] = np.nan
            continue
        k = int(np.floor((ri - r0) / dr + 0.5))
        k = min(max(k, 0), n_coarse - 1)
        mom = np.empty(N_MOMENTS)
        yy_out[i] = _moments(y[i], wp[k], w, x, mom)
        rk = r0 + k * dr
        zrow = z[i]
        for it in range(n_newton + 1):
            t0, t1, t2 = _laplace(mom, ri - rk)
            j, w0, w1, w2, w3 = _stencil(ri, rf0, drf, g)
            s0 = t0 - _dot_interp(h_f, zrow, j, w0, w1, w2, w3)
            if it == n_newton:
                s_out[i] = s0
                break
            s1 = t1 - _dot_interp(hp_f, zrow, j, w0, w1, w2, w3)
            s2 = t2 - _dot_interp(hpp_f, zrow, j, w0, w1, w2, w3)
            d0 = _interp(d_f, j, w0, w1, w2, w3)
            d1 = _interp(dp_f, j, w0, w1, w2, w3)
            d2 = _interp(dpp_f, j, w0, w1, w2, w3)
            f = 2.0 * s1 * d0 - s0 * d1
            fp = 2.0 * s2 * d0 + s1 * d1 - s0 * d2
            if fp == 0.0 or not np.isfinite(fp):
                continue
            step = f / fp
            if abs(step) > 0.5 * dr:        # stay near the node the moments are about
                step = 0.5 * dr if step > 0 else -0.5 * dr
            ri -= step
        r[i] = ri


@dual_kernel
def solve_at(r, s_exact, d_tab, e1_tab, e2_tab, h_tab, hp_tab, g_lin, ginv, yy, zg, r0, dr,
             n_dof, amp, coef, cov_edges, chi2_red, r_err):
    """Amplitudes, χ² and covariance at each pixel's exponent ``r``.

    s_exact : (p,) s(r) at that r; d/e1/e2/h/hp tables on the fine grid (r0, dr);
    h_tab, hp_tab : (g, k) G⁻¹u(r) and its r-derivative; g_lin : (p, k) G⁻¹z;
    ginv : (k, k); yy, zg : (p,) yᵀWy and z·G⁻¹z. The first ``m = cov_edges.shape[1]``
    linear coefficients are the edge amplitudes whose covariance is returned, scaled by
    the pixel's reduced χ² (module docstring of ``model_fit``).
    """
    p, k = g_lin.shape
    m = cov_edges.shape[1]
    for i in prange(p):
        ri = r[i]
        if not np.isfinite(ri):
            amp[i] = np.nan
            chi2_red[i] = np.nan
            r_err[i] = np.nan
            for c in range(k):
                coef[i, c] = np.nan
            for a in range(m):
                for b in range(m):
                    cov_edges[i, a, b] = np.nan
            continue
        j, w0, w1, w2, w3 = _stencil(ri, r0, dr, d_tab.size)
        s = s_exact[i]
        d = _interp(d_tab, j, w0, w1, w2, w3)
        e1 = _interp(e1_tab, j, w0, w1, w2, w3)
        e2 = _interp(e2_tab, j, w0, w1, w2, w3)
        a_bg = s / d
        amp[i] = a_bg
        h = np.empty(k)
        hp = np.empty(k)
        for c in range(k):
            h[c] = (w0 * h_tab[j, c] + w1 * h_tab[j + 1, c] + w2 * h_tab[j + 2, c]
                    + w3 * h_tab[j + 3, c])
            hp[c] = (w0 * hp_tab[j, c] + w1 * hp_tab[j + 1, c] + w2 * hp_tab[j + 2, c]
                     + w3 * hp_tab[j + 3, c])
            coef[i, c] = g_lin[i, c] - a_bg * h[c]
        chi2 = yy[i] - zg[i] - s * s / d
        sigma2 = max(chi2, 0.0) / n_dof
        chi2_red[i] = sigma2
        # Schur complement of the (amplitude, exponent) block: S = [[d, a e1], [a e1, a² e2]]
        s00, s01, s11 = d, a_bg * e1, a_bg * a_bg * e2
        det = s00 * s11 - s01 * s01
        if not det > 0.0:
            r_err[i] = np.nan
            for a in range(m):
                for b in range(m):
                    cov_edges[i, a, b] = np.nan
            continue
        i00, i01, i11 = s11 / det, -s01 / det, s00 / det
        r_err[i] = np.sqrt(sigma2 * i11)
        # Cov(c) = σ² (G⁻¹ + Q S⁻¹ Qᵀ), Q = [h, a·h']
        for a in range(m):
            qa0, qa1 = h[a], a_bg * hp[a]
            for b in range(m):
                qb0, qb1 = h[b], a_bg * hp[b]
                extra = qa0 * (i00 * qb0 + i01 * qb1) + qa1 * (i01 * qb0 + i11 * qb1)
                cov_edges[i, a, b] = sigma2 * (ginv[a, b] + extra)
