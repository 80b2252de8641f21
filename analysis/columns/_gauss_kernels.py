"""numba kernels for atom-column refinement: centre of mass, 2-D Gaussian fits, model images.

Why numba here: a 2048 × 2048 image holds ~10^4 columns, each fitted on ~200 pixels
for ~10 Levenberg–Marquardt iterations with 5–7 parameters. In numpy every iteration
of every column would be a handful of tiny array calls (µs of overhead each, for
~1 µs of arithmetic); in a compiled loop the whole image costs ~10^8 flops, well under
a second. The kernels are private: :mod:`.refine` validates dtype and contiguity
(float64, C order) and calls them.

Model of one column (``sign`` = +1 for bright columns, -1 for dark/ABF columns)::

    m(p) = b + sign * A * exp(-(u^2 / (2 sx^2) + v^2 / (2 sy^2))) + other(p)
    u = cos(t) dx + sin(t) dy,  v = -sin(t) dx + cos(t) dy,  (dx, dy) = p - (x0, y0)

point-sampled at pixel centres (integer indices, ``img[y, x]``). ``other`` is the model
of all *other* columns (neighbour subtraction): the full model image minus this
column's own contribution from the previous round. Parameter vector
``[x0, y0, A, sx, sy, t, b]``; isotropic fits tie ``sy = sx`` and fix ``t = 0``
(5 free parameters, packed as ``[x0, y0, A, s, b]``).

Fits minimise either the sum of squared residuals (``poisson=False``) or the Poisson
negative log-likelihood ``sum(m - d log m)`` (``poisson=True``, Fisher scoring = IRLS
with weights ``1/m``), both with Levenberg–Marquardt damping.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..numba_dispatch import dual_kernel

# Columns of the per-column parameter array ``params`` (n, 7).
PX, PY, PA, PSX, PSY, PT, PB = range(7)
#: Per-column status codes (``status`` array).
OK, TOO_FEW_PIXELS, NOT_CONVERGED, BAD_PARAMETERS = 0, 1, 2, 3


@dual_kernel(nogil=True)
def _com_refine(img, x, y, radius, sign, n_iter, out_x, out_y):
    """Centre of mass of ``sign * (img - local extreme)`` in a disc, iterated ``n_iter`` times.

    The reference level is the window's minimum (bright columns) or maximum (dark
    columns), so the weights are >= 0. Columns whose window is empty or flat keep their
    start position. Columns only read the image and write their own outputs, so they
    run in parallel (``prange``) with results identical to the serial loop.
    """
    ny, nx = img.shape
    r2 = radius * radius
    ir = int(math.ceil(radius))
    for k in prange(x.size):
        cx, cy = x[k], y[k]
        for _ in range(n_iter):
            ix, iy = int(round(cx)), int(round(cy))
            x0, x1 = max(ix - ir, 0), min(ix + ir + 1, nx)
            y0, y1 = max(iy - ir, 0), min(iy + ir + 1, ny)
            if x0 >= x1 or y0 >= y1:
                break
            ref = np.inf
            for r in range(y0, y1):
                for c in range(x0, x1):
                    if (c - cx) ** 2 + (r - cy) ** 2 <= r2:
                        v = sign * img[r, c]
                        if v < ref:
                            ref = v
            sw = 0.0
            sx = 0.0
            sy = 0.0
            for r in range(y0, y1):
                for c in range(x0, x1):
                    if (c - cx) ** 2 + (r - cy) ** 2 <= r2:
                        w = sign * img[r, c] - ref
                        sw += w
                        sx += w * c
                        sy += w * r
            if sw <= 0.0:
                break
            nxp, nyp = sx / sw, sy / sw
            # never let the centre of mass walk more than the radius from the start
            if (nxp - x[k]) ** 2 + (nyp - y[k]) ** 2 > r2:
                break
            cx, cy = nxp, nyp
        out_x[k] = cx
        out_y[k] = cy


@njit(cache=True, nogil=True)
def _render(shape, params, sign, n_sigma, out):
    """Add ``sign * A * g`` of every column to ``out`` within ``n_sigma`` of its centre."""
    ny, nx = shape
    for k in range(params.shape[0]):
        x0, y0, a = params[k, PX], params[k, PY], params[k, PA]
        sxx, syy, t = params[k, PSX], params[k, PSY], params[k, PT]
        if not (a == a) or not (sxx > 0.0) or not (syy > 0.0):
            continue
        if t == 0.0:
            # unrotated (every isotropic fit): separable, one exp per row and per column
            # of the square instead of one per pixel; the same extent as below
            _add_column(out, params[k], sign, n_sigma)
            continue
        half = n_sigma * max(sxx, syy)
        c0, c1 = max(int(math.floor(x0 - half)), 0), min(int(math.ceil(x0 + half)) + 1, nx)
        r0, r1 = max(int(math.floor(y0 - half)), 0), min(int(math.ceil(y0 + half)) + 1, ny)
        ct, st = math.cos(t), math.sin(t)
        ix2, iy2 = 0.5 / (sxx * sxx), 0.5 / (syy * syy)
        for r in range(r0, r1):
            dy = r - y0
            for c in range(c0, c1):
                dx = c - x0
                u = ct * dx + st * dy
                v = -st * dx + ct * dy
                out[r, c] += sign * a * math.exp(-(u * u * ix2 + v * v * iy2))


@njit(cache=True, nogil=True)
def _own(p, dx, dy):
    """exp(-Q) of the column with parameters ``p`` at offset (dx, dy)."""
    return _own_cs(p, dx, dy, math.cos(p[PT]), math.sin(p[PT]))


@njit(cache=True, nogil=True)
def _own_cs(p, dx, dy, ct, st):
    """exp(-Q) with the rotation's cosine and sine given (computed once per column, not per pixel)."""
    u = ct * dx + st * dy
    v = -st * dx + ct * dy
    return math.exp(-(0.5 * u * u / (p[PSX] * p[PSX]) + 0.5 * v * v / (p[PSY] * p[PSY])))


@njit(cache=True, nogil=True)
def _jacobian_row(p, dx, dy, g, sign, elliptical, jrow, ct, st):
    """Model value (without background/other) and its derivatives at one pixel (``g`` = exp(-Q))."""
    u = ct * dx + st * dy
    v = -st * dx + ct * dy
    sx2, sy2 = p[PSX] * p[PSX], p[PSY] * p[PSY]
    sag = sign * p[PA] * g
    # dm/dq = -sag * dQ/dq
    jrow[0] = -sag * (-u * ct / sx2 + v * st / sy2)
    jrow[1] = -sag * (-u * st / sx2 - v * ct / sy2)
    jrow[2] = sign * g
    if elliptical:
        jrow[3] = sag * u * u / (sx2 * p[PSX])
        jrow[4] = sag * v * v / (sy2 * p[PSY])
        jrow[5] = -sag * (u * v / sx2 - u * v / sy2)
        jrow[6] = 1.0
    else:
        jrow[3] = sag * (u * u + v * v) / (sx2 * p[PSX])
        jrow[4] = 1.0
    return sag


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
def _unpack(q, p, elliptical):
    """Free-parameter vector ``q`` -> full parameter row ``p`` (7)."""
    p[PX], p[PY], p[PA], p[PSX] = q[0], q[1], q[2], q[3]
    if elliptical:
        p[PSY], p[PT], p[PB] = q[4], q[5], q[6]
    else:
        p[PSY], p[PT], p[PB] = q[3], 0.0, q[4]


@njit(cache=True, nogil=True)
def _gauss_values(p, rows, cols, out):
    """exp(-Q) of column ``p`` at every window pixel into ``out``.

    Unrotated columns (``t = 0``, all isotropic fits) are separable: one exp per row and
    per column of the window instead of one per pixel (~10x fewer exps on a disc of
    radius 8); rotated ones are evaluated pixel by pixel.
    """
    n = rows.size
    if n == 0:
        return
    if p[PT] != 0.0:
        ct, st = math.cos(p[PT]), math.sin(p[PT])
        for i in range(n):
            out[i] = _own_cs(p, cols[i] - p[PX], rows[i] - p[PY], ct, st)
        return
    r0, r1 = rows[0], rows[0]
    c0, c1 = cols[0], cols[0]
    for i in range(n):
        r0, r1 = min(r0, rows[i]), max(r1, rows[i])
        c0, c1 = min(c0, cols[i]), max(c1, cols[i])
    _gauss_values_ws(p, rows, cols, out, np.empty(r1 - r0 + 1), np.empty(c1 - c0 + 1))


@njit(cache=True, nogil=True)
def _gauss_values_ws(p, rows, cols, out, ey, ex):
    """:func:`_gauss_values` with scratch ``ey``/``ex`` (at least the window's height/width) given."""
    n = rows.size
    if n == 0:
        return
    if p[PT] != 0.0:
        ct, st = math.cos(p[PT]), math.sin(p[PT])
        for i in range(n):
            out[i] = _own_cs(p, cols[i] - p[PX], rows[i] - p[PY], ct, st)
        return
    r0, r1 = rows[0], rows[0]
    c0, c1 = cols[0], cols[0]
    for i in range(n):
        r0, r1 = min(r0, rows[i]), max(r1, rows[i])
        c0, c1 = min(c0, cols[i]), max(c1, cols[i])
    iy2, ix2 = 0.5 / (p[PSY] * p[PSY]), 0.5 / (p[PSX] * p[PSX])
    for r in range(r0, r1 + 1):
        ey[r - r0] = math.exp(-(r - p[PY]) ** 2 * iy2)
    for c in range(c0, c1 + 1):
        ex[c - c0] = math.exp(-(c - p[PX]) ** 2 * ix2)
    for i in range(n):
        out[i] = ey[rows[i] - r0] * ex[cols[i] - c0]


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


@njit(cache=True, nogil=True)
def _window(ny, nx, cx, cy, radius, rows, cols):
    """Pixels of the disc of ``radius`` around (cx, cy) inside the image; returns their count."""
    ir = int(math.ceil(radius))
    ix, iy = int(round(cx)), int(round(cy))
    n = 0
    r2 = radius * radius
    for r in range(max(iy - ir, 0), min(iy + ir + 1, ny)):
        for c in range(max(ix - ir, 0), min(ix + ir + 1, nx)):
            if (c - cx) ** 2 + (r - cy) ** 2 <= r2:
                rows[n] = r
                cols[n] = c
                n += 1
    return n


@njit(cache=True, nogil=True)
def _pack(p, q, elliptical):
    q[0], q[1], q[2], q[3] = p[PX], p[PY], p[PA], p[PSX]
    if elliptical:
        q[4], q[5], q[6] = p[PSY], p[PT], p[PB]
    else:
        q[4] = p[PB]


@njit(cache=True, nogil=True)
def _add_column(out, p, factor, n_sigma):
    """``out += factor * A * g`` of one column within ``n_sigma`` of its centre."""
    ny, nx = out.shape
    half = n_sigma * max(p[PSX], p[PSY])
    c0, c1 = max(int(math.floor(p[PX] - half)), 0), min(int(math.ceil(p[PX] + half)) + 1, nx)
    r0, r1 = max(int(math.floor(p[PY] - half)), 0), min(int(math.ceil(p[PY] + half)) + 1, ny)
    if r0 >= r1 or c0 >= c1:
        return
    fa = factor * p[PA]
    if p[PT] == 0.0:                        # separable: one exp per row and per column
        ex = np.empty(c1 - c0)
        ix2, iy2 = 0.5 / (p[PSX] * p[PSX]), 0.5 / (p[PSY] * p[PSY])
        for c in range(c0, c1):
            ex[c - c0] = fa * math.exp(-(c - p[PX]) ** 2 * ix2)
        for r in range(r0, r1):
            ey = math.exp(-(r - p[PY]) ** 2 * iy2)
            for c in range(c0, c1):
                out[r, c] += ey * ex[c - c0]
        return
    ct, st = math.cos(p[PT]), math.sin(p[PT])
    for r in range(r0, r1):
        for c in range(c0, c1):
            out[r, c] += fa * _own_cs(p, c - p[PX], r - p[PY], ct, st)


@njit(cache=True, nogil=True)
def _fit_columns(img, model, use_model, params, anchor, order, radius, sign, elliptical, poisson,
                 max_iter, sigma_min, sigma_max, max_shift, n_sigma, prior, noise, status, cov_diag,
                 do_fit, do_cov):
    """Fit every column on its disc window, neighbours' model subtracted (one Gauss–Seidel sweep).

    ``model`` holds the sum of all columns' ``sign * A * g`` (rendered within
    ``n_sigma``); each column is fitted to the data with the *other* columns' model
    held fixed (``model`` minus its own current contribution), and ``model`` is updated
    with the new fit at once, so the next column sees it (Gauss–Seidel: converges for
    strongly overlapping columns, where the simultaneous Jacobi update oscillates).
    ``do_fit`` / ``do_cov``: fit (and update the model), and/or compute the variances
    (intermediate rounds skip them; a final pass computes them without fitting).
    ``radius`` holds each column's window radius; a fit may not move further than
    ``max_shift`` from its ``anchor`` (the centre of mass), over all rounds. Columns are visited in ``order``; ``prior = (s0, w)`` is the width prior of
    :func:`_objective` (``w = 0`` for none). Least squares is weighted by the inverse of
    the noise model ``var = noise[0] + noise[1] * m`` (readout + shot noise), evaluated on
    the model at the start of the column's fit (``noise = (1, 0)``: unweighted). ``params`` (n, 7) is updated in place;
    ``status`` and ``cov_diag`` (n, 7: variances of the full parameter row, NaN where
    unknown) are written. Windows are centred on the anchor, the same in every round,
    so every fit minimises one well-defined cost and the rounds converge.
    """
    _fit_list(img, model, use_model, params, anchor, order, radius, sign, elliptical, poisson,
              max_iter, sigma_min, sigma_max, max_shift, n_sigma, prior, noise, status, cov_diag,
              do_fit, do_cov)


@njit(cache=True, nogil=True)
def _fit_list(img, model, use_model, params, anchor, order, radius, sign, elliptical, poisson,
              max_iter, sigma_min, sigma_max, max_shift, n_sigma, prior, noise, status, cov_diag,
              do_fit, do_cov):
    """The columns ``order`` fitted in turn (the body of :func:`_fit_columns`, one tile of :func:`_fit_tiles`).

    Scratch buffers are allocated here, once per call, so that concurrent calls (one
    per tile, in parallel) share nothing but the arrays they own disjoint parts of.
    """
    ny, nx = img.shape
    n_par = 7 if elliptical else 5
    iso_index = np.array([PX, PY, PA, PSX, PB])
    ir = 1
    for kk in range(order.size):
        ir = max(ir, int(math.ceil(radius[order[kk]])))
    side = 2 * ir + 1
    rows = np.empty(side * side, dtype=np.int64)
    cols = np.empty(side * side, dtype=np.int64)
    h = np.zeros((n_par, n_par))
    g = np.zeros(n_par)
    col = np.zeros(n_par)
    win_other = np.empty(side * side)
    win_w = np.empty(side * side)
    win_g = np.empty(side * side)
    win_d = np.empty(side * side)
    win_fr = np.empty(side * side)
    win_fc = np.empty(side * side)
    p = np.zeros(7)
    rss_out = np.zeros(1)
    # scratch for the fits, allocated once per call (per tile), reused by every column
    ws_hn, ws_hd = np.zeros((n_par, n_par)), np.zeros((n_par, n_par))
    ws_g, ws_gn, ws_step = np.zeros(n_par), np.zeros(n_par), np.zeros(n_par)
    ws_q, ws_qn, ws_pn = np.zeros(n_par), np.zeros(n_par), np.zeros(7)
    ws_gv, ws_rss = np.empty(side * side), np.zeros(1)
    ws_lower, ws_z = np.zeros((n_par, n_par)), np.zeros(n_par)
    ws_ey, ws_ex = np.empty(side), np.empty(side)
    for kk in range(order.size):
        k = order[kk]
        p[:] = params[k]
        if do_cov:
            cov_diag[k, :] = np.nan
        # the window is centred on the anchor, the same in every round: one cost function
        n_pix = _window(ny, nx, anchor[k, 0], anchor[k, 1], radius[k], rows, cols)
        if n_pix < n_par + 3 or not (p[PA] > 0.0):
            status[k] = TOO_FEW_PIXELS if n_pix < n_par + 3 else BAD_PARAMETERS
            continue
        if use_model:
            _add_column(model, p, -sign, n_sigma)            # model of the others only
        _gauss_values_ws(p, rows[:n_pix], cols[:n_pix], win_g, ws_ey, ws_ex)
        for i in range(n_pix):
            win_other[i] = model[rows[i], cols[i]] if use_model else 0.0
            win_d[i] = img[rows[i], cols[i]]
            win_fr[i] = rows[i]
            win_fc[i] = cols[i]
            m0 = p[PB] + sign * p[PA] * win_g[i] + win_other[i]
            win_w[i] = 1.0 / max(noise[0] + noise[1] * m0, 1e-3 * noise[0] + 1e-12)
        rw, cw, ow, ww = rows[:n_pix], cols[:n_pix], win_other[:n_pix], win_w[:n_pix]
        if do_fit:
            # the fit leaves the normal matrix and RSS at its final parameters in h, rss
            status[k] = _lm_fit_fused(win_d[:n_pix], ow, ww, rw, cw, win_fr[:n_pix], win_fc[:n_pix], p, sign,
                                      elliptical, poisson, max_iter,
                                      sigma_min, sigma_max, anchor[k, 0], anchor[k, 1], max_shift,
                                      n_par, prior, h, rss_out, ws_hn, ws_hd, ws_g, ws_gn, ws_step,
                                      ws_q, ws_qn, ws_pn, ws_gv, ws_rss, ws_lower, ws_z, ws_ey, ws_ex)
            params[k, :] = p
        if use_model:
            _add_column(model, p, sign, n_sigma)              # restored (do_fit False) or updated
        if not do_cov:
            continue
        if do_fit and status[k] != BAD_PARAMETERS:
            rss = rss_out[0]
        else:
            rss = _normal_equations(img, ow, ww, rw, cw, p, sign, elliptical, poisson, n_par, h, g, prior)
        scale = 1.0 if poisson else rss / max(n_pix - n_par, 1)
        for a in range(n_par):
            g[:] = 0.0
            g[a] = 1.0
            if not _cholesky_solve_ws(h, g, n_par, col, ws_lower, ws_z):
                status[k] = BAD_PARAMETERS
                break
            cov_diag[k, a if elliptical else iso_index[a]] = col[a] * scale
        if not elliptical:
            cov_diag[k, PSY] = cov_diag[k, PSX]
            cov_diag[k, PT] = 0.0


@dual_kernel(nogil=True)
def _fit_tiles(img, model, use_model, params, anchor, tile_start, tile_members, colour_start,
               radius, sign, elliptical, poisson, max_iter, sigma_min, sigma_max, max_shift,
               n_sigma, prior, noise, status, cov_diag, do_fit, do_cov):
    """One Gauss–Seidel sweep over tiles: the tiles of one colour in parallel, colour after colour.

    ``tile_members[tile_start[t]:tile_start[t + 1]]`` are the columns of tile ``t`` (in
    fitting order); tiles ``colour_start[c]:colour_start[c + 1]`` have colour ``c``.

    Why this is safe and equals a serial sweep: a column's fit reads ``model`` only in
    its window (radius <= max radius around its anchor) and writes it only within
    ``n_sigma`` widths of its position, which stays within ``max_shift`` of the anchor
    (the fit's bound), widths below ``sigma_max`` (the fit's bound). The caller makes the
    tiles at least twice that reach wide, and gives neighbouring tiles different colours
    (2 × 2 pattern), so two tiles of one colour are a whole tile apart: no pixel that one
    reads or writes is touched by the other. The tiles of a colour are therefore
    independent, and fitting them at once gives bit for bit the result of fitting them
    one after another: a Gauss–Seidel sweep in the order colour, tile, column, for any
    number of threads (Gauss–Seidel converges in any order; the colour order only
    changes which neighbours are already updated when a column is fitted).
    """
    n_colours = colour_start.size - 1
    for c in range(n_colours):
        for t in prange(colour_start[c], colour_start[c + 1]):
            members = tile_members[tile_start[t]:tile_start[t + 1]]
            if members.size:
                _fit_list(img, model, use_model, params, anchor, members, radius, sign, elliptical,
                          poisson, max_iter, sigma_min, sigma_max, max_shift, n_sigma, prior, noise,
                          status, cov_diag, do_fit, do_cov)


@dual_kernel(nogil=True)
def _start_values(img, x, y, ox, oy, q, background, peak):
    """Per column: the ``q``-th percentile (nearest rank) of the disc offsets ``(ox, oy)``
    around ``rint(x, y)`` inside the image, and the mean of the centre pixel and its 4
    neighbours inside the image (NaN if none).

    The same numbers as refine's numpy ``_gather`` + ``_row_percentile`` + ``nanmean``
    (nearest rank ``rint(q / 100 * (count - 1))`` of the valid values; a partial sort
    finds it exactly), without the (n, m) temporary arrays. Columns are independent
    (each writes its own outputs), hence ``prange``.
    """
    ny, nx = img.shape
    m = ox.size
    for k in prange(x.size):
        cx, cy = int(np.rint(x[k])), int(np.rint(y[k]))
        vals = np.empty(m)
        keep = np.empty(m)
        count = 0
        for j in range(m):
            r, c = cy + oy[j], cx + ox[j]
            if 0 <= r < ny and 0 <= c < nx:
                vals[count] = img[r, c]
                count += 1
        if count == 0:
            background[k] = np.inf
        else:
            rank = int(np.rint(q / 100.0 * (count - 1)))
            rank = min(max(rank, 0), count - 1)
            background[k] = _kth_smallest(vals, count, rank, keep)
        s = 0.0
        n_c = 0
        for d in range(5):
            dx = (0, -1, 0, 1, 0)[d]          # row by row, as numpy's gather sums them
            dy = (-1, 0, 0, 0, 1)[d]
            r, c = cy + dy, cx + dx
            if 0 <= r < ny and 0 <= c < nx:
                s += img[r, c]
                n_c += 1
        peak[k] = s / n_c if n_c > 0 else np.nan


@njit(cache=True, nogil=True)
def _kth_smallest(vals, count, rank, keep):
    """The ``rank``-th smallest (0-based) of ``vals[:count]``: the value ``np.partition`` puts there.

    A sorted buffer of the ``rank + 1`` smallest values seen (or of the ``count - rank``
    largest, whichever is shorter: percentiles near 10 % or 90 % keep ~20 of ~200 values)
    takes one insertion per value, cheaper than a selection on a copy.
    """
    low = rank < count - rank
    size = rank + 1 if low else count - rank
    n = 0
    for i in range(count):
        v = vals[i]
        if low:
            if n < size:
                j = n
                n += 1
            elif v < keep[n - 1]:
                j = n - 1
            else:
                continue
            while j > 0 and keep[j - 1] > v:       # ascending: keep[n - 1] is the largest kept
                keep[j] = keep[j - 1]
                j -= 1
            keep[j] = v
        else:
            if n < size:
                j = n
                n += 1
            elif v > keep[n - 1]:
                j = n - 1
            else:
                continue
            while j > 0 and keep[j - 1] < v:       # descending: keep[n - 1] is the smallest kept
                keep[j] = keep[j - 1]
                j -= 1
            keep[j] = v
    return keep[size - 1]
