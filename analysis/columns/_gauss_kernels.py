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
from numba import njit

# Columns of the per-column parameter array ``params`` (n, 7).
PX, PY, PA, PSX, PSY, PT, PB = range(7)
#: Per-column status codes (``status`` array).
OK, TOO_FEW_PIXELS, NOT_CONVERGED, BAD_PARAMETERS = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _com_refine(img, x, y, radius, sign, n_iter, out_x, out_y):
    """Centre of mass of ``sign * (img - local extreme)`` in a disc, iterated ``n_iter`` times.

    The reference level is the window's minimum (bright columns) or maximum (dark
    columns), so the weights are >= 0. Columns whose window is empty or flat keep their
    start position.
    """
    ny, nx = img.shape
    r2 = radius * radius
    ir = int(math.ceil(radius))
    for k in range(x.size):
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
    lower = np.zeros((n, n))
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
    z = np.zeros(n)
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
    ey = np.empty(r1 - r0 + 1)
    ex = np.empty(c1 - c0 + 1)
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
def _lm_fit(img, other, wts, rows, cols, p, sign, elliptical, poisson, max_iter, sigma_min, sigma_max,
            x_start, y_start, max_shift, n, prior):
    """Levenberg–Marquardt fit of one column (``p`` updated in place); returns a status code."""
    h = np.zeros((n, n))
    hd = np.zeros((n, n))
    g = np.zeros(n)
    step = np.zeros(n)
    q = np.zeros(n)
    qn = np.zeros(n)
    pn = np.zeros(7)
    cost = _objective(img, other, wts, rows, cols, p, sign, poisson, prior)
    if not np.isfinite(cost):
        return BAD_PARAMETERS
    lam = 1e-3
    for _ in range(max_iter):
        _normal_equations(img, other, wts, rows, cols, p, sign, elliptical, poisson, n, h, g, prior)
        _pack(p, q, elliptical)
        improved = False
        for _try in range(12):
            for a in range(n):
                for b in range(n):
                    hd[a, b] = h[a, b]
                hd[a, a] = h[a, a] * (1.0 + lam) + 1e-12
            if not _cholesky_solve(hd, g, n, step):
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
            new_cost = _objective(img, other, wts, rows, cols, pn, sign, poisson, prior) if ok else np.inf
            if new_cost <= cost:
                p[:] = pn
                lam = max(lam * 0.2, 1e-9)
                improved = True
                # converged when the position moves by < 1e-4 px and the amplitude by < 1e-5
                small = (abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4
                         and abs(step[2]) < 1e-5 * abs(pn[PA]))
                cost = new_cost
                if small:
                    return OK
                break
            lam *= 10.0
        if not improved:
            # no downhill step at any damping: at the minimum to numerical precision if
            # even the undamped step is negligible
            solved = _cholesky_solve(h, g, n, step)
            tiny = abs(step[0]) < 1e-4 and abs(step[1]) < 1e-4
            return OK if (lam > 1e6 or (solved and tiny)) else NOT_CONVERGED
    return NOT_CONVERGED


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
    ny, nx = img.shape
    n_par = 7 if elliptical else 5
    iso_index = np.array([PX, PY, PA, PSX, PB])
    ir = int(math.ceil(radius.max()))
    side = 2 * ir + 1
    rows = np.empty(side * side, dtype=np.int64)
    cols = np.empty(side * side, dtype=np.int64)
    h = np.zeros((n_par, n_par))
    g = np.zeros(n_par)
    col = np.zeros(n_par)
    win_other = np.empty(side * side)
    win_w = np.empty(side * side)
    win_g = np.empty(side * side)
    p = np.zeros(7)
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
        if use_model and do_fit:
            _add_column(model, p, -sign, n_sigma)            # model of the others only
        elif use_model:
            _add_column(model, p, -sign, n_sigma)            # restored below, unchanged
        _gauss_values(p, rows[:n_pix], cols[:n_pix], win_g)
        for i in range(n_pix):
            win_other[i] = model[rows[i], cols[i]] if use_model else 0.0
            m0 = p[PB] + sign * p[PA] * win_g[i] + win_other[i]
            win_w[i] = 1.0 / max(noise[0] + noise[1] * m0, 1e-3 * noise[0] + 1e-12)
        rw, cw, ow, ww = rows[:n_pix], cols[:n_pix], win_other[:n_pix], win_w[:n_pix]
        if do_fit:
            status[k] = _lm_fit(img, ow, ww, rw, cw, p, sign, elliptical, poisson, max_iter,
                                sigma_min, sigma_max, anchor[k, 0], anchor[k, 1], max_shift,
                                n_par, prior)
            params[k, :] = p
        if use_model:
            _add_column(model, p, sign, n_sigma)
        if not do_cov:
            continue
        rss = _normal_equations(img, ow, ww, rw, cw, p, sign, elliptical, poisson, n_par, h, g, prior)
        scale = 1.0 if poisson else rss / max(n_pix - n_par, 1)
        for a in range(n_par):
            g[:] = 0.0
            g[a] = 1.0
            if not _cholesky_solve(h, g, n_par, col):
                status[k] = BAD_PARAMETERS
                break
            cov_diag[k, a if elliptical else iso_index[a]] = col[a] * scale
        if not elliptical:
            cov_diag[k, PSY] = cov_diag[k, PSX]
            cov_diag[k, PT] = 0.0
