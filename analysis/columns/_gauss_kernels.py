"""numba kernels for atom-column refinement: centre of mass, 2-D Gaussian fits, model images.

Why numba here: a 2048 × 2048 image holds ~10^4 columns, each fitted on ~200 pixels
for ~10 Levenberg–Marquardt iterations with 5–7 parameters. In numpy every iteration
of every column would be a handful of tiny array calls (µs of overhead each, for
~1 µs of arithmetic); in a compiled loop the whole image costs ~10^8 flops, well under
a second. The kernels are private: :mod:`.refine` validates dtype and contiguity
(float64, C order) and calls them.


This module holds the sweeps over columns (centre of mass, the rounds of fits with
neighbour subtraction, tiles fitted in parallel, start values); one column's model is in
:mod:`._gauss_model`, its fit in :mod:`._gauss_solver`. Names used by :mod:`.refine` and
the tests are re-exported here.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..numba_dispatch import dual_kernel
# used here, by .refine and by the tests
from ._gauss_model import (BAD_PARAMETERS, NOT_CONVERGED, OK, PA, PB, PSX, PSY, PT,  # noqa: F401
                           PX, PY, TOO_FEW_PIXELS, _add_column, _gauss_values_ws, _render,
                           _window)
from ._gauss_solver import (_cholesky_solve_ws, _evaluate, _lm_fit_fused,  # noqa: F401
                            _normal_equations, _objective)


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
