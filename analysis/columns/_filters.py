"""Fast exact image filters for column finding (numba; parallel where the threading layer allows).

Both filters reproduce scipy.ndimage's results exactly (minimum and comparison are exact
operations, no rounding), only faster on large images:

* :func:`minimum_filter` — ``ndimage.minimum_filter(a, size, mode="nearest")`` for odd
  ``size``: separable (the minimum over a rectangle is the minimum over rows of the
  minima over columns), each 1-D pass by the van Herk / Gil–Werman algorithm, 3
  comparisons per pixel whatever the window (scipy's running-minimum list is several
  times slower for windows of ~30 pixels). ``mode="nearest"`` extends the edge pixel,
  which never changes a minimum over a window that already holds that edge pixel, so
  clamping the window to the image is the same.
* :func:`local_maxima` — ``a == ndimage.maximum_filter(a, 3, mode="nearest")``: a pixel
  is a maximum when no in-image 8-neighbour is larger (the nearest-mode extension only
  repeats pixels already in the 3 × 3 window).

Rows (horizontal pass) and blocks of columns (vertical pass, walked row by row so the
inner loop runs along contiguous memory) are independent, hence ``prange``; they write
disjoint outputs, so the parallel and serial kernels give identical results.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ..numba_dispatch import dual_kernel
from ._parallel import pick

#: Fewest pixels (or sums) for which the filters run in parallel (see _parallel).
PARALLEL_MIN_WORK = 1 << 20


@dual_kernel(nogil=True)
def _min_rows(a, half, out):
    """``out[r, c] = min(a[r, c - half : c + half + 1])`` (window clamped to the row)."""
    ny, nx = a.shape
    w = 2 * half + 1
    n = nx + 2 * half                            # edge-extended row ("nearest")
    for r in prange(ny):
        ext = np.empty(n)
        for i in range(n):
            ext[i] = a[r, min(max(i - half, 0), nx - 1)]
        pre = np.empty(n)                        # minimum from the block start to i
        suf = np.empty(n)                        # minimum from i to the block end
        for i in range(n):
            pre[i] = ext[i] if i % w == 0 else min(pre[i - 1], ext[i])
        for i in range(n - 1, -1, -1):
            suf[i] = ext[i] if (i % w == w - 1 or i == n - 1) else min(suf[i + 1], ext[i])
        for c in range(nx):                      # window ext[c : c + w]
            out[r, c] = min(suf[c], pre[c + w - 1])


@dual_kernel(nogil=True)
def _min_cols(a, half, out):
    """``out[r, c] = min(a[r - half : r + half + 1, c])`` (window clamped to the column)."""
    ny, nx = a.shape
    w = 2 * half + 1
    n = ny + 2 * half
    block = 64
    n_blocks = (nx + block - 1) // block
    for b in prange(n_blocks):
        c0 = b * block
        c1 = min(c0 + block, nx)
        m = c1 - c0
        pre = np.empty((n, m))
        suf = np.empty((n, m))
        for i in range(n):
            src = min(max(i - half, 0), ny - 1)
            if i % w == 0:
                for j in range(m):
                    pre[i, j] = a[src, c0 + j]
            else:
                for j in range(m):
                    pre[i, j] = min(pre[i - 1, j], a[src, c0 + j])
        for i in range(n - 1, -1, -1):
            src = min(max(i - half, 0), ny - 1)
            if i % w == w - 1 or i == n - 1:
                for j in range(m):
                    suf[i, j] = a[src, c0 + j]
            else:
                for j in range(m):
                    suf[i, j] = min(suf[i + 1, j], a[src, c0 + j])
        for r in range(ny):
            for j in range(m):
                out[r, c0 + j] = min(suf[r, j], pre[r + w - 1, j])


def minimum_filter(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.minimum_filter(a, size, mode="nearest")`` for odd ``size`` (float64, 2-D)."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"size must be odd and positive, got {size}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    half = size // 2
    tmp = np.empty_like(a)
    out = np.empty_like(a)
    pick(_min_rows, a.size, PARALLEL_MIN_WORK)(a, half, tmp)
    pick(_min_cols, a.size, PARALLEL_MIN_WORK)(tmp, half, out)
    return out


@dual_kernel(nogil=True)
def _local_maxima(a, out):
    ny, nx = a.shape
    for r in prange(ny):
        r0, r1 = max(r - 1, 0), min(r + 2, ny)
        for c in range(nx):
            v = a[r, c]
            is_max = True
            for rr in range(r0, r1):
                for cc in range(max(c - 1, 0), min(c + 2, nx)):
                    if a[rr, cc] > v:
                        is_max = False
            out[r, c] = is_max


def local_maxima(a: np.ndarray) -> np.ndarray:
    """``a == scipy.ndimage.maximum_filter(a, 3, mode="nearest")`` (float64, 2-D, no NaN)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=np.bool_)
    pick(_local_maxima, a.size, PARALLEL_MIN_WORK)(a, out)
    return out



@dual_kernel(nogil=True)
def _box_mean_at(a, size, rows, cols, out):
    ny, nx = a.shape
    half = size // 2
    inv = 1.0 / (size * size)
    for k in prange(rows.size):
        r, c = rows[k], cols[k]
        s = 0.0
        for rr in range(r - half, r + half + 1):
            row = min(max(rr, 0), ny - 1)
            for cc in range(c - half, c + half + 1):
                s += a[row, min(max(cc, 0), nx - 1)]
        out[k] = s * inv


def box_mean_at(a: np.ndarray, size: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(a, size, mode="nearest")[rows, cols]`` for odd ``size``.

    Evaluated only at the given pixels (column finding needs the background at the
    local maxima, ~1 % of the pixels), by direct summation: the same mean as scipy's
    running sums up to rounding (~1e-15 relative), at a fraction of the cost.
    """
    if size % 2 != 1 or size < 1:
        raise ValueError(f"size must be odd and positive, got {size}")
    out = np.empty(rows.size)
    pick(_box_mean_at, rows.size * size * size, PARALLEL_MIN_WORK)(np.ascontiguousarray(a, dtype=np.float64), size,
                 np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(cols, dtype=np.int64), out)
    return out
