"""Column spacing and column width of a crystal image from its autocorrelation.

The autocorrelation of an atomic-resolution image (computed through the FFT: the
inverse transform of the power spectrum) has a central peak, whose width is that of a
column (the autocorrelation of a Gaussian of sd ``s`` is a Gaussian of sd ``s * sqrt(2)``),
and off-centre peaks at the vectors between columns. The nearest off-centre peak is the
shortest distance at which two columns are resolved; a separation for peak finding is a
fraction of it. White noise only adds to the zero-lag value, which is therefore
replaced by the mean of its four neighbours.
"""
from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage

from ._column_input import check_image

#: Fraction of the nearest resolved column distance used as the minimum separation.
SEPARATION_FRACTION = 0.6


#: The autocorrelation is computed on a central crop of at most this many pixels a side:
#: enough cells for the lattice statistics, and fast for 4k images.
ACF_CROP = 512


def _central_crop(image: np.ndarray, size: int = ACF_CROP) -> np.ndarray:
    ny, nx = image.shape
    y0, x0 = max(0, (ny - size) // 2), max(0, (nx - size) // 2)
    return image[y0:y0 + min(ny, size), x0:x0 + min(nx, size)]


def _autocorrelation(image: np.ndarray) -> np.ndarray:
    """Normalised, centred autocorrelation (zero lag = 1, noise spike removed)."""
    image = _central_crop(image)
    img = image - ndimage.uniform_filter(image, size=max(8, min(image.shape) // 4), mode="reflect")
    wy = np.hanning(img.shape[0])[:, None]
    wx = np.hanning(img.shape[1])[None, :]
    img = img * (wy * wx)
    ny, nx = img.shape
    # zero-padded: no wrap-around. Single precision (scipy.fft keeps float32; ~1.7x faster
    # than numpy's float64 transforms): the autocorrelation is only read for a width fitted
    # in log space above 35 % of the peak and for peaks above 10 % of the highest, where a
    # relative rounding error of ~1e-7 is far below the image noise.
    spec = scipy.fft.rfft2(img.astype(np.float32), s=(2 * ny, 2 * nx))
    acf = scipy.fft.irfft2(spec.real ** 2 + spec.imag ** 2, s=(2 * ny, 2 * nx)).astype(np.float64)
    acf = np.fft.fftshift(acf)
    cy, cx = ny, nx
    acf[cy, cx] = 0.25 * (acf[cy - 1, cx] + acf[cy + 1, cx] + acf[cy, cx - 1] + acf[cy, cx + 1])
    if acf[cy, cx] <= 0:
        raise ValueError("the image has no structure to measure a lattice from")
    return acf / acf[cy, cx]


def _radial_profile(acf: np.ndarray, r_max: int) -> np.ndarray:
    cy, cx = acf.shape[0] // 2, acf.shape[1] // 2
    acf = acf[max(cy - r_max, 0):cy + r_max + 1, max(cx - r_max, 0):cx + r_max + 1]
    cy, cx = min(cy, r_max), min(cx, r_max)
    yy, xx = np.indices(acf.shape)
    r = np.rint(np.hypot(yy - cy, xx - cx)).astype(np.int64)
    keep = r <= r_max
    sums = np.bincount(r[keep], weights=acf[keep], minlength=r_max + 1)
    counts = np.bincount(r[keep], minlength=r_max + 1)
    return sums / np.maximum(counts, 1)


def estimate_column_sigma(image, *, dark_columns: bool = False) -> float:
    """Standard deviation (pixels) of a column, from the central autocorrelation peak.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        Atomic-resolution image.
    dark_columns : bool
        Columns darker than the background (ABF); the sign does not change the
        autocorrelation and is accepted for symmetry with the other functions.

    Returns
    -------
    float
        ``s`` such that the central peak falls as ``exp(-r^2 / (4 s^2))`` over its upper
        half (fitted in log space, lags >= 1, above the profile's first minimum, which
        the removed mean lowers); neighbouring columns closer than ~3 s broaden it.
    """
    img = check_image(image)
    return _sigma_from_acf(_autocorrelation(img), _central_crop(img).shape)


def _sigma_from_acf(acf: np.ndarray, crop_shape) -> float:
    """:func:`estimate_column_sigma` from an autocorrelation already computed."""
    r_max = max(4, min(crop_shape) // 4)
    prof = _radial_profile(acf, r_max)
    # the mean was removed, which lowers the whole autocorrelation by a constant: measure
    # the central peak from the first minimum of the radial profile (between columns)
    rising = np.flatnonzero(np.diff(prof) > 0)
    first_min = int(rising[0]) if rising.size else prof.size - 1
    base = prof[first_min]
    rel = (prof[:first_min + 1] - base) / (prof[0] - base)
    r = np.arange(rel.size)
    upper = np.flatnonzero((r >= 1) & (rel > 0.35))
    if upper.size < 2:
        upper = np.arange(1, min(3, rel.size))
    rr, pp = r[upper].astype(float), np.clip(rel[upper], 1e-6, None)
    # log p = c - r^2 / (4 s^2); the intercept is free because the zero lag was replaced
    slope = np.polyfit(rr ** 2, np.log(pp), 1)[0] if rr.size >= 2 else np.nan
    if not slope < 0:
        raise ValueError("could not measure a column width from the image's autocorrelation")
    return float(np.sqrt(-1.0 / (4.0 * slope)))


def nearest_column_distance(image, *, dark_columns: bool = False) -> float:
    """Shortest resolved distance between columns (pixels): the nearest autocorrelation peak.

    The peak must stand out: a local maximum of the 2-D autocorrelation outside the
    central peak, at least 10 % as high as the strongest off-centre peak.
    """
    img = check_image(image)
    return _nearest_from_acf(_autocorrelation(img), _central_crop(img).shape)


def _nearest_from_acf(acf: np.ndarray, crop_shape) -> float:
    """:func:`nearest_column_distance` from an autocorrelation already computed."""
    cy, cx = acf.shape[0] // 2, acf.shape[1] // 2
    r_max = min(crop_shape) // 3
    if r_max < 4:
        raise ValueError(f"image {tuple(crop_shape)} is too small to measure a lattice spacing")
    sub = acf[cy - r_max:cy + r_max + 1, cx - r_max:cx + r_max + 1]
    yy, xx = np.indices(sub.shape) - r_max
    rad = np.hypot(yy, xx)
    prof = _radial_profile(acf, r_max)
    # the central peak ends where the radial profile first stops falling
    rising = np.flatnonzero(np.diff(prof) > 0)
    r_central = int(rising[0]) if rising.size else r_max
    peaks = (sub == ndimage.maximum_filter(sub, size=3)) & (rad > r_central) & (rad < r_max)
    if not np.any(peaks):
        raise ValueError("no lattice peaks in the image's autocorrelation (is it a crystal?)")
    heights = sub[peaks]
    strong = heights >= 0.10 * heights.max()
    if not np.any(heights > 0):
        raise ValueError("no lattice peaks in the image's autocorrelation (is it a crystal?)")
    return float(rad[peaks][strong].min())


def estimate_min_separation(image, *, dark_columns: bool = False) -> float:
    """Minimum separation (pixels) between two column peaks, from the autocorrelation.

    Two Gaussian columns of sd ``s`` closer than about ``2 s`` give one maximum (the
    Sparrow limit), so peaks closer than that are noise on one column: the separation
    is ``2 s`` with ``s`` from :func:`estimate_column_sigma`, capped at
    ``SEPARATION_FRACTION`` (0.6) of the lattice's nearest resolved column distance
    (:func:`nearest_column_distance`) for lattices whose columns overlap strongly.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        Atomic-resolution image (HAADF or ABF).
    dark_columns : bool
        Columns darker than the background (ABF). Accepted for symmetry; the
        autocorrelation does not depend on the sign.

    Returns
    -------
    float
        Minimum separation in pixels (>= 2).

    Raises
    ------
    ValueError
        For images that are not 2-D, not finite, constant, too small, or show no lattice.
    """
    return _lattice_estimates(check_image(image))[1]


def _lattice_estimates(img: np.ndarray) -> tuple[float, float]:
    """(column sigma, minimum separation) of a checked image from one autocorrelation.

    The two estimates of :func:`estimate_column_sigma` and :func:`estimate_min_separation`
    (the autocorrelation, an FFT of the central crop, is computed once, not three times).
    The sigma raises ValueError as :func:`estimate_column_sigma` does.
    """
    acf = _autocorrelation(img)
    crop_shape = _central_crop(img).shape
    sigma = _sigma_from_acf(acf, crop_shape)
    sep = 2.0 * sigma
    try:
        sep = min(sep, SEPARATION_FRACTION * _nearest_from_acf(acf, crop_shape))
    except ValueError:
        pass                                  # no off-centre peak: isolated columns
    return sigma, float(max(2.0, sep))
