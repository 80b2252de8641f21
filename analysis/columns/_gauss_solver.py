"""The per-column fit of the refinement kernels: objective, normal equations, damped
Gauss-Newton / Fisher-scoring (Levenberg-Marquardt) steps and their linear solves (numba).

Least squares (``poisson=False``) or the Poisson negative log-likelihood ``sum(m - d log m)``
(``poisson=True``, Fisher scoring = IRLS with weights ``1/m``); the column model is in
:mod:`._gauss_model`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._gauss_model import (BAD_PARAMETERS, NOT_CONVERGED, OK, PA, PB, PSX, PSY, PT, PX, PY,
                           _gauss_values, _gauss_values_ws, _jacobian_row, _pack, _unpack)


@njit(cache=True, nogil=True)
def _cholesky_solve(h, g, n, out):
    """Solve ``h out = g`` for a small symmetric positive-definite ``h`` (n × n). False if not PD."""
    return _cholesky_solve_ws(h, g, n, out, np.zeros((n, n)), np.zeros(n))


@njit(cache=True, nogil=True)
def _cholesky_solve_ws(h, g, n, out, lower, z):
    """:func:`_cholesky_solve` with scratch ``lower`` (n × n) and ``z`` (n) given (no allocation)."""
    lower[:, :] = 0.0
    for i in range(n):
        for j in range(i + 1):
            s = h[i, j]
            for k in range(j):
                s -= lower[i, k] * lower[j, k]
            if i == j:
                if s <= 0.0:
                    return False
                lower[i, i] = math.sqrt(s)
            else:
                lower[i, j] = s / lower[j, j]
    for i in range(n):
        s = g[i]
        for k in range(i):
            s -= lower[i, k] * z[k]
        z[i] = s / lower[i, i]
    for i in range(n - 1, -1, -1):
        s = z[i]
        for k in range(i + 1, n):
            s -= lower[k, i] * out[k]
        out[i] = s / lower[i, i]
    return True




@njit(cache=True, nogil=True)
def _objective(img, other, wts, rows, cols, p, sign, poisson, prior):
    """Cost of the column ``p`` on its window (+ width prior); +inf if a Poisson mean is <= 0.

    ``prior = (s0, w)``: adds ``w * ((sx - s0)^2 + (sy - s0)^2)``, a Gaussian prior that
    holds faint columns, whose width the data cannot fix, near the image's column width.
    """
    cost = prior[1] * ((p[PSX] - prior[0]) ** 2 + (p[PSY] - prior[0]) ** 2)
    gv = np.empty(rows.size)
    _gauss_values(p, rows, cols, gv)
    for i in range(rows.size):
        r, c = rows[i], cols[i]
        m = p[PB] + sign * p[PA] * gv[i] + other[i]
        d = img[r, c]
        if poisson:
            if m <= 0.0:
                return np.inf
            cost += m - d * math.log(m)
        else:
            cost += wts[i] * (d - m) ** 2
    return cost


@njit(cache=True, nogil=True)
def _normal_equations(img, other, wts, rows, cols, p, sign, elliptical, poisson, n, h, g, prior):
    """Fill ``h`` (J^T W J) and ``g`` (J^T W r) (+ width prior); return the weighted RSS."""
    jrow = np.zeros(n)
    h[:, :] = 0.0
    g[:] = 0.0
    rss = 0.0
    ct, st = math.cos(p[PT]), math.sin(p[PT])
    gv = np.empty(rows.size)
    _gauss_values(p, rows, cols, gv)
    for i in range(rows.size):
        r, c = rows[i], cols[i]
        sag = _jacobian_row(p, c - p[PX], r - p[PY], gv[i], sign, elliptical, jrow, ct, st)
        m = p[PB] + sag + other[i]
        res = img[r, c] - m
        w = wts[i]
        if poisson:
            w = 1.0 / max(m, 1e-6)
        rss += w * res * res
        for a in range(n):
            wa = w * jrow[a]
            g[a] += wa * res
            for b in range(a + 1):
                h[a, b] += wa * jrow[b]
    for a in range(n):
        for b in range(a + 1, n):
            h[a, b] = h[b, a]
    # prior w (s - s0)^2 on the widths, in the units of h and g: these are half the
    # cost's curvature and slope for least squares, the full ones for the likelihood
    w = prior[1] * (2.0 if poisson else 1.0)
    if elliptical:
        h[3, 3] += w
        h[4, 4] += w
        g[3] += w * (prior[0] - p[PSX])
        g[4] += w * (prior[0] - p[PSY])
    else:
        h[3, 3] += 2.0 * w
        g[3] += 2.0 * w * (prior[0] - p[PSX])
    return rss


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _iso_sums(data, other, wts, fr, fc, gv, x0, y0, sa, sign, b, inv_s2, inv_s3, poisson):
    """The 22 window sums of an unrotated isotropic column: cost, RSS, J^T W r (5), J^T W J (15).

    Jacobian row ``(A g dx / s^2, A g dy / s^2, g, A g r^2 / s^3, 1)``. Contiguous arrays
    only and ``fastmath`` limited to *reassociation* and fused multiply-add, so LLVM
    keeps several partial sums per accumulator (SIMD); that changes only the rounding
    of the sums (~1e-16 relative), not their meaning, and keeps IEEE NaN/inf semantics
    (no ``nnan``/``ninf``), which the Poisson branch needs (+inf where a mean is <= 0).
    """
    cost = rss = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    h00 = h10 = h11 = h20 = h21 = h22 = h30 = h31 = h32 = h33 = 0.0
    h40 = h41 = h42 = h43 = h44 = 0.0
    bad = 0.0
    if not poisson:
        w = 0.0
        for i in range(data.size):          # least squares: a branch-free loop (vectorised)
            dx = fc[i] - x0
            dy = fr[i] - y0
            gi = gv[i]
            sag = sa * gi
            j0 = sag * dx * inv_s2
            j1 = sag * dy * inv_s2
            j2 = sign * gi
            j3 = sag * (dx * dx + dy * dy) * inv_s3
            res = data[i] - (b + sag + other[i])
            w = wts[i]
            wr = w * res
            rss += wr * res
            w0, w1, w2, w3 = w * j0, w * j1, w * j2, w * j3
            g0 += w0 * res
            g1 += w1 * res
            g2 += w2 * res
            g3 += w3 * res
            g4 += wr
            h00 += w0 * j0
            h10 += w1 * j0
            h11 += w1 * j1
            h20 += w2 * j0
            h21 += w2 * j1
            h22 += w2 * j2
            h30 += w3 * j0
            h31 += w3 * j1
            h32 += w3 * j2
            h33 += w3 * j3
            h40 += w0
            h41 += w1
            h42 += w2
            h43 += w3
            h44 += w
        return (rss, rss, g0, g1, g2, g3, g4, h00, h10, h11, h20, h21, h22, h30, h31, h32, h33,
                h40, h41, h42, h43, h44)
    for i in range(data.size):
        dx = fc[i] - x0
        dy = fr[i] - y0
        gi = gv[i]
        sag = sa * gi
        j0 = sag * dx * inv_s2
        j1 = sag * dy * inv_s2
        j2 = sign * gi
        j3 = sag * (dx * dx + dy * dy) * inv_s3
        m = b + sag + other[i]
        d = data[i]
        res = d - m
        if poisson:
            bad += 1.0 if m <= 0.0 else 0.0
            mm = max(m, 1e-6)
            cost += mm - d * math.log(mm)
            w = 1.0 / mm
        else:
            w = wts[i]
            cost += w * res * res
        rss += w * res * res
        w0, w1, w2, w3 = w * j0, w * j1, w * j2, w * j3
        g0 += w0 * res
        g1 += w1 * res
        g2 += w2 * res
        g3 += w3 * res
        g4 += w * res
        h00 += w0 * j0
        h10 += w1 * j0
        h11 += w1 * j1
        h20 += w2 * j0
        h21 += w2 * j1
        h22 += w2 * j2
        h30 += w3 * j0
        h31 += w3 * j1
        h32 += w3 * j2
        h33 += w3 * j3
        h40 += w0
        h41 += w1
        h42 += w2
        h43 += w3
        h44 += w
    if bad > 0.0:
        cost = np.inf
    return (cost, rss, g0, g1, g2, g3, g4, h00, h10, h11, h20, h21, h22, h30, h31, h32, h33,
            h40, h41, h42, h43, h44)


@njit(cache=True, nogil=True)
def _evaluate(data, other, wts, rows, cols, fr, fc, p, sign, elliptical, poisson, n, h, g, prior, gv, out,
              ey, ex):
    """Cost (as :func:`_objective`) *and* normal equations (as :func:`_normal_equations`) in one pass.

    Levenberg–Marquardt needs the cost at every trial point and the normal equations at
    every accepted one; computing both at the trial point costs one pass over the window
    per iteration instead of two (a rejected trial, rare, wastes the normal equations).
    ``gv``, ``ey``, ``ex`` are scratch buffers (window size, height, width; preallocated
    once per tile: no allocation per call); ``out[0]`` receives the weighted RSS. Returns
    the cost (+inf if a Poisson mean is <= 0; ``h``, ``g`` are then undefined).
    ``data`` holds the image values of the window pixels (gathered once per column),
    ``fr``/``fc`` their rows/columns as floats: the loops then read contiguous arrays only.
    Isotropic fits (``t = 0``) take an unrolled path: the Jacobian row of an unrotated
    Gaussian is ``(A g dx / s^2, A g dy / s^2, g, A g r^2 / s^3, 1)``, five numbers without
    the rotation's products and with the divisions replaced by one reciprocal per call.
    """
    cost = prior[1] * ((p[PSX] - prior[0]) ** 2 + (p[PSY] - prior[0]) ** 2)
    _gauss_values_ws(p, rows, cols, gv, ey, ex)
    rss = 0.0
    if elliptical or p[PT] != 0.0:
        jrow = np.zeros(n)
        h[:, :] = 0.0
        g[:] = 0.0
        ct, st = math.cos(p[PT]), math.sin(p[PT])
        for i in range(rows.size):
            r, c = rows[i], cols[i]
            sag = _jacobian_row(p, c - p[PX], r - p[PY], gv[i], sign, elliptical, jrow, ct, st)
            m = p[PB] + sag + other[i]
            d = data[i]
            res = d - m
            if poisson:
                if m <= 0.0:
                    return np.inf
                cost += m - d * math.log(m)
                w = 1.0 / max(m, 1e-6)
            else:
                w = wts[i]
                cost += w * res * res
            rss += w * res * res
            for a in range(n):
                wa = w * jrow[a]
                g[a] += wa * res
                for b in range(a + 1):
                    h[a, b] += wa * jrow[b]
    else:
        inv_s2 = 1.0 / (p[PSX] * p[PSX])
        sums = _iso_sums(data, other, wts, fr, fc, gv, p[PX], p[PY], sign * p[PA], sign, p[PB],
                         inv_s2, inv_s2 / p[PSX], poisson)
        if not np.isfinite(sums[0]):
            return np.inf
        cost += sums[0]
        rss = sums[1]
        g[0], g[1], g[2], g[3], g[4] = sums[2], sums[3], sums[4], sums[5], sums[6]
        h[0, 0], h[1, 0], h[1, 1], h[2, 0], h[2, 1], h[2, 2] = sums[7], sums[8], sums[9], sums[10], sums[11], sums[12]
        h[3, 0], h[3, 1], h[3, 2], h[3, 3] = sums[13], sums[14], sums[15], sums[16]
        h[4, 0], h[4, 1], h[4, 2], h[4, 3], h[4, 4] = sums[17], sums[18], sums[19], sums[20], sums[21]
    for a in range(n):
        for b in range(a + 1, n):
            h[a, b] = h[b, a]
    w = prior[1] * (2.0 if poisson else 1.0)
    if elliptical:
        h[3, 3] += w
        h[4, 4] += w
        g[3] += w * (prior[0] - p[PSX])
        g[4] += w * (prior[0] - p[PSY])
    else:
        h[3, 3] += 2.0 * w
        g[3] += 2.0 * w * (prior[0] - p[PSX])
    out[0] = rss
    return cost


@njit(cache=True, nogil=True)
def _lm_fit_fused(data, other, wts, rows, cols, fr, fc, p, sign, elliptical, poisson, max_iter, sigma_min,
                  sigma_max, x_start, y_start, max_shift, n, prior, h, out, hn, hd, g, gn, step, q,
                  qn, pn, gv, rss_n, lower, z, ey, ex):
    """Levenberg–Marquardt fit of one column (``p`` updated in place), one :func:`_evaluate`
    pass per iteration: damping starts at 1e-3, shrinks 5x after an accepted step and grows
    10x after a rejected one; converged when a step moves the position by < 1e-4 px and the
    amplitude by < 1e-5 (relative), or when no damping gives a downhill step.

    On return ``h`` holds the normal matrix at the returned ``p`` and ``out[0]`` its
    weighted RSS, so the variances need no further pass. ``hn`` ... ``ex`` are scratch
    arrays (allocated once per tile by :func:`_fit_list`, not once per column and
    iteration: in parallel kernels every allocation also contends for the allocator).
    Returns the status code.
    """
    cost = _evaluate(data, other, wts, rows, cols, fr, fc, p, sign, elliptical, poisson, n, h, g, prior, gv,
                     out, ey, ex)
    if not np.isfinite(cost):
        return BAD_PARAMETERS
    lam = 1e-3
    for _ in range(max_iter):
        _pack(p, q, elliptical)
        improved = False
        for _try in range(12):
            for a in range(n):
                for b in range(n):
                    hd[a, b] = h[a, b]
                hd[a, a] = h[a, a] * (1.0 + lam) + 1e-12
            if not _cholesky_solve_ws(hd, g, n, step, lower, z):
                lam *= 10.0
                continue
            if (_try == 0 and abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4
                    and abs(step[2]) < 1e-5 * abs(p[PA])):
                return OK                                  # at the minimum already
            for a in range(n):
                qn[a] = q[a] + step[a]
            _unpack(qn, pn, elliptical)
            ok = (pn[PA] > 0.0 and pn[PSX] > sigma_min and pn[PSX] < sigma_max
                  and pn[PSY] > sigma_min and pn[PSY] < sigma_max
                  and (pn[PX] - x_start) ** 2 + (pn[PY] - y_start) ** 2 < max_shift * max_shift)
            new_cost = (_evaluate(data, other, wts, rows, cols, fr, fc, pn, sign, elliptical, poisson, n, hn, gn,
                                  prior, gv, rss_n, ey, ex) if ok else np.inf)
            if new_cost <= cost:
                p[:] = pn
                h[:, :] = hn
                g[:] = gn
                out[0] = rss_n[0]
                lam = max(lam * 0.2, 1e-9)
                improved = True
                small = (abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4
                         and abs(step[2]) < 1e-5 * abs(pn[PA]))
                cost = new_cost
                if small:
                    return OK
                break
            lam *= 10.0
        if not improved:
            solved = _cholesky_solve_ws(h, g, n, step, lower, z)
            tiny = abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4
            return OK if (lam > 1e6 or (solved and tiny)) else NOT_CONVERGED
    return NOT_CONVERGED
