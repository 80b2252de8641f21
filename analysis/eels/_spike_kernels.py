"""numba kernels of :mod:`.spikes`: neighbour statistics and the run test along each spectrum."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _median_small(buf, k):
    for i in range(1, k):                       # insertion sort, k <= 8
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v
    if k % 2 == 1:
        return buf[k // 2]
    return 0.5 * (buf[k // 2 - 1] + buf[k // 2])


@njit(cache=True, nogil=True, inline="always")
def _cs(a, b):
    return min(a, b), max(a, b)


@njit(cache=True, nogil=True)
def _median_max_8(v0, v1, v2, v3, v4, v5, v6, v7):
    """Median and maximum of 8 values: Batcher's odd–even merge network (19 branch-free
    compare-exchanges; an insertion sort on noisy data mispredicts most branches)."""
    v0, v1 = _cs(v0, v1)
    v2, v3 = _cs(v2, v3)
    v4, v5 = _cs(v4, v5)
    v6, v7 = _cs(v6, v7)
    v0, v2 = _cs(v0, v2)
    v1, v3 = _cs(v1, v3)
    v4, v6 = _cs(v4, v6)
    v5, v7 = _cs(v5, v7)
    v1, v2 = _cs(v1, v2)
    v5, v6 = _cs(v5, v6)
    v0, v4 = _cs(v0, v4)
    v1, v5 = _cs(v1, v5)
    v2, v6 = _cs(v2, v6)
    v3, v7 = _cs(v3, v7)
    v2, v4 = _cs(v2, v4)
    v3, v5 = _cs(v3, v5)
    v3, v4 = _cs(v3, v4)
    return 0.5 * (v3 + v4), v7


@njit(cache=True, nogil=True)
def neighbour_stats(data):
    """Per channel, the median and the maximum of the (up to 8) scan neighbours of every pixel.

    ``data`` (ny, nx, n) C-contiguous float32/float64; returns two arrays of its dtype and
    shape. A pixel without neighbours gets its own values.
    """
    ny, nx, n = data.shape
    med = np.empty_like(data)
    top = np.empty_like(data)
    buf = np.empty(8, dtype=np.float64)
    ys = np.empty(8, dtype=np.int64)
    xs = np.empty(8, dtype=np.int64)
    for y in range(ny):
        for x in range(nx):
            if 0 < y < ny - 1 and 0 < x < nx - 1:         # interior: all 8 neighbours
                a, b, c = data[y - 1, x - 1], data[y - 1, x], data[y - 1, x + 1]
                d, f = data[y, x - 1], data[y, x + 1]
                g, h, i = data[y + 1, x - 1], data[y + 1, x], data[y + 1, x + 1]
                for e in range(n):
                    m, t = _median_max_8(a[e], b[e], c[e], d[e], f[e], g[e], h[e], i[e])
                    med[y, x, e] = m
                    top[y, x, e] = t
                continue
            k = 0
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    yy, xx = y + dy, x + dx
                    if (dy != 0 or dx != 0) and 0 <= yy < ny and 0 <= xx < nx:
                        ys[k] = yy
                        xs[k] = xx
                        k += 1
            if k == 0:
                for e in range(n):
                    med[y, x, e] = data[y, x, e]
                    top[y, x, e] = data[y, x, e]
                continue
            for e in range(n):
                for j in range(k):
                    buf[j] = data[ys[j], xs[j], e]
                med[y, x, e] = _median_small(buf, k)
                top[y, x, e] = buf[k - 1]                 # sorted by _median_small
    return med, top


@njit(cache=True, nogil=True)
def spike_runs(data, med, top, scale, gain, threshold, top_threshold, grow, max_width, negative):
    """Mask of spike channels of spectra ``data`` (P, n) against their neighbours.

    ``med``, ``top``: neighbour median and maximum per channel (P, n); ``scale`` (P,): the
    pixel's intensity relative to its neighbours; noise ``σ = sqrt(gain · max(e, 1))`` with
    ``e = scale · med``. A run of channels with ``(x − e)/σ > threshold`` and
    ``(x − scale · top)/σ > top_threshold`` (above every neighbour) is grown into adjacent
    channels with ``(x − e)/σ > grow``; it is a spike if the grown run is at most
    ``max_width`` wide and no channel within ``max_width + 2`` of it has
    ``(x − e)/σ < −negative``.
    """
    p, n = data.shape
    mask = np.zeros((p, n), dtype=np.bool_)
    z = np.empty(n, dtype=np.float64)
    cand = np.empty(n, dtype=np.bool_)
    for r in range(p):
        s = scale[r]
        for i in range(n):
            e = s * med[r, i]
            sigma = np.sqrt(gain * max(e, 1.0))
            z[i] = (data[r, i] - e) / sigma
            cand[i] = z[i] > threshold and (data[r, i] - s * top[r, i]) / sigma > top_threshold
        i = 0
        while i < n:
            if not cand[i]:
                i += 1
                continue
            a = i
            b = i
            while b + 1 < n and (cand[b + 1] or z[b + 1] > grow):
                b += 1
            while a - 1 >= 0 and z[a - 1] > grow:
                a -= 1
            ok = b - a + 1 <= max_width
            if ok:
                for j in range(max(0, a - max_width - 2), min(n, b + max_width + 3)):
                    if z[j] < -negative:
                        ok = False
                        break
            if ok:
                for j in range(a, b + 1):
                    mask[r, j] = True
            i = b + 1
    return mask


@njit(cache=True, nogil=True)
def running_median(data, half):
    """Median of channels ``i - half … i + half`` (clipped at the ends) of every row."""
    p, n = data.shape
    out = np.empty((p, n), dtype=np.float64)
    buf = np.empty(2 * half + 1, dtype=np.float64)
    for r in range(p):
        for i in range(n):
            lo = max(0, i - half)
            hi = min(n, i + half + 1)
            k = hi - lo
            for j in range(k):
                buf[j] = data[r, lo + j]
            buf[:k].sort()
            out[r, i] = buf[k // 2] if k % 2 == 1 else 0.5 * (buf[k // 2 - 1] + buf[k // 2])
    return out


@njit(cache=True, nogil=True)
def interpolate_runs(data, mask):
    """Copy of ``data`` (P, n) with masked runs replaced by a line between their neighbours."""
    p, n = data.shape
    out = data.astype(np.float64)
    for r in range(p):
        i = 0
        while i < n:
            if not mask[r, i]:
                i += 1
                continue
            a = i
            while i < n and mask[r, i]:
                i += 1
            b = i                                    # first unmasked after the run (or n)
            left = out[r, a - 1] if a > 0 else (out[r, b] if b < n else 0.0)
            right = out[r, b] if b < n else left
            for j in range(a, b):
                f = (j - a + 1) / (b - a + 1)
                out[r, j] = (1 - f) * left + f * right
    return out
