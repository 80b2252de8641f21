"""numba kernels that sum spectra of a spectrum image, and the dispatch around them.

A spectrum image is an array of shape ``(ny, nx, n_energy)``: navigation rows and
columns, then energy channels. The kernels read it in memory order (each pixel's
spectrum is contiguous), accumulate in float64 and release the GIL, so they can run
in a worker thread while the GUI stays responsive.

The private kernels need a C-contiguous array of a real numeric dtype (the
``_KERNEL_DTYPES``); :func:`block_sum` and friends fall back to numpy for anything
else (strided views, float16), so callers never have to care.

Large reads run on all cores (``parallel=True``), but only when numba has a
thread-safe threading layer (OpenMP or TBB): the default ``workqueue`` layer aborts the
process when two Python threads launch parallel kernels at once, so without a safe
layer the serial kernels are used.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .numba_dispatch import parallel_allowed  # noqa: F401  (re-exported)

_KERNEL_DTYPES = frozenset(np.dtype(t) for t in (
    np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64))

#: Reads smaller than this many bytes run serially (thread start-up costs more).
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


# ---------------------------------------------------------------------------- kernels

@njit(cache=True, nogil=True)
def _rect_sum_serial(data, r0, r1, c0, c1):
    n_e = data.shape[2]
    out = np.zeros(n_e, dtype=np.float64)
    for r in range(r0, r1):
        for c in range(c0, c1):
            for e in range(n_e):
                out[e] += data[r, c, e]
    return out


@njit(cache=True, nogil=True, parallel=True)
def _rect_sum_parallel(data, r0, r1, c0, c1, n_chunks):
    n_e = data.shape[2]
    n_cols = c1 - c0
    n_pixels = (r1 - r0) * n_cols
    partial = np.zeros((n_chunks, n_e), dtype=np.float64)
    for k in prange(n_chunks):
        start = n_pixels * k // n_chunks
        stop = n_pixels * (k + 1) // n_chunks
        for p in range(start, stop):
            r = r0 + p // n_cols
            c = c0 + p % n_cols
            for e in range(n_e):
                partial[k, e] += data[r, c, e]
    return _merge_partials(partial)


@njit(cache=True, nogil=True)
def _merge_partials(partial):
    """Sum the per-chunk partial spectra (n_chunks, n_e) in a fixed order (reproducible)."""
    out = np.zeros(partial.shape[1], dtype=np.float64)
    for k in range(partial.shape[0]):
        for e in range(partial.shape[1]):
            out[e] += partial[k, e]
    return out


@njit(cache=True, nogil=True, parallel=True)
def _pixel_list_sum(data, rows, cols, n_chunks):
    n_e = data.shape[2]
    n_pixels = rows.size
    partial = np.zeros((n_chunks, n_e), dtype=np.float64)
    for k in prange(n_chunks):
        for p in range(n_pixels * k // n_chunks, n_pixels * (k + 1) // n_chunks):
            r = rows[p]
            c = cols[p]
            for e in range(n_e):
                partial[k, e] += data[r, c, e]
    return _merge_partials(partial)


@njit(cache=True, nogil=True, parallel=True)
def _channel_window_sum(data, e0, e1, out):
    ny, nx = data.shape[0], data.shape[1]
    for r in prange(ny):
        for c in range(nx):
            s = 0.0
            for e in range(e0, e1):
                s += data[r, c, e]
            out[r, c] = s


@njit(cache=True, nogil=True, parallel=True)
def _gather_mean(data, rows, cols, out):
    n_pos, n_across = rows.shape
    n_e = data.shape[2]
    for k in prange(n_pos):
        acc = np.zeros(n_e, dtype=np.float64)
        n = 0
        for j in range(n_across):
            r = rows[k, j]
            c = cols[k, j]
            if r < 0 or c < 0:
                continue
            n += 1
            for e in range(n_e):
                acc[e] += data[r, c, e]
        for e in range(n_e):
            out[k, e] = acc[e] / n if n > 0 else np.nan


# --------------------------------------------------------------------------- dispatch

def _n_chunks(n_pixels: int, n_bytes: int) -> int:
    if n_bytes < PARALLEL_MIN_BYTES or not parallel_allowed():
        return 1
    return max(1, min(numba.get_num_threads(), n_pixels))


def check_spectrum_image(data) -> np.ndarray:
    """Validate a spectrum image; return it as an ndarray (bool viewed as uint8).

    Raises
    ------
    ValueError
        If ``data`` is not 3-D or not of a real numeric dtype.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"a spectrum image has shape (ny, nx, n_energy); got shape {data.shape}")
    if data.dtype == np.bool_:
        return data.view(np.uint8)
    if data.dtype.kind not in "iuf":
        raise ValueError(f"a spectrum image must be real numbers; got dtype {data.dtype}")
    return data


def kernel_ready(data: np.ndarray) -> bool:
    """True when the numba kernels can read ``data`` directly."""
    return data.flags.c_contiguous and data.dtype in _KERNEL_DTYPES


def block_sum(data: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """float64 sum of the spectra in rows [r0, r1) and columns [c0, c1) (no checks)."""
    n_e = data.shape[2]
    if r1 <= r0 or c1 <= c0:
        return np.zeros(n_e, dtype=np.float64)
    if not kernel_ready(data):
        return data[r0:r1, c0:c1].sum(axis=(0, 1), dtype=np.float64)
    n_pixels = (r1 - r0) * (c1 - c0)
    chunks = _n_chunks(n_pixels, n_pixels * n_e * data.itemsize)
    if chunks == 1:
        return _rect_sum_serial(data, r0, r1, c0, c1)
    return _rect_sum_parallel(data, r0, r1, c0, c1, chunks)


def pixel_list_sum(data: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float64 sum of the spectra at the pixels (rows[i], cols[i]) (no checks)."""
    if rows.size == 0:
        return np.zeros(data.shape[2], dtype=np.float64)
    if not kernel_ready(data):
        return data[rows, cols].sum(axis=0, dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    chunks = _n_chunks(rows.size, rows.size * data.shape[2] * data.itemsize)
    return _pixel_list_sum(data, rows, cols, chunks)


def channel_window_sum(data: np.ndarray, e0: int, e1: int) -> np.ndarray:
    """float32 image of the sum over channels [e0, e1) of every pixel (no checks)."""
    if not kernel_ready(data):
        return data[:, :, e0:e1].sum(axis=2, dtype=np.float64).astype(np.float32)
    out = np.empty(data.shape[:2], dtype=np.float32)
    _channel_window_sum(data, e0, e1, out)
    return out


def gather_mean(data: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 (n, n_energy): mean spectrum over the valid pixels of each row of
    ``rows``/``cols`` (shape (n, m); -1 marks a missing pixel; NaN if none) (no checks)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    if not kernel_ready(data):
        valid = (rows >= 0) & (cols >= 0)
        picked = data[np.where(valid, rows, 0), np.where(valid, cols, 0)].astype(np.float64)
        picked[~valid] = 0.0
        n = valid.sum(axis=1)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = picked.sum(axis=1) / n
        mean[n[:, 0] == 0] = np.nan
        return mean.astype(np.float32)
    out = np.empty((rows.shape[0], data.shape[2]), dtype=np.float32)
    _gather_mean(data, rows, cols, out)
    return out


def warm_up(dtype) -> None:
    """Compile (or load from numba's cache) every kernel for spectrum images of ``dtype``.

    The first call of a kernel costs 0.4 s (cached) to 1.9 s (compiling) per kernel; the
    app runs this in a worker when a spectrum image opens, so the first drag does not.
    """
    dtype = np.dtype(dtype)
    if dtype not in _KERNEL_DTYPES:
        return
    data = np.zeros((2, 2, 4), dtype=dtype)
    index = np.zeros(1, dtype=np.int64)
    _rect_sum_serial(data, 0, 2, 0, 2)
    if parallel_allowed():
        _rect_sum_parallel(data, 0, 2, 0, 2, 2)
    _pixel_list_sum(data, index, index, 1)
    _channel_window_sum(data, 0, 2, np.empty((2, 2), dtype=np.float32))
    _gather_mean(data, index[:, None], index[:, None], np.empty((1, 4), dtype=np.float32))
