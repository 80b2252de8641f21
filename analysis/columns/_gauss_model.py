"""One column's model for the refinement kernels: parameters, pixel windows, Gaussian values,
Jacobian rows and model images (numba).

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
    if rows.size == 0:
        return
    # scratch as large as the window (the rotated branch of _gauss_values_ws ignores it)
    h = rows.max() - rows.min() + 1
    w = cols.max() - cols.min() + 1
    _gauss_values_ws(p, rows, cols, out, np.empty(h), np.empty(w))


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
