"""Candidate atom columns in HAADF (bright) and ABF (dark) images.

Method
------
1. ABF columns are dark: the image is negated, so every column is a maximum.
2. The image is smoothed with a Gaussian of half the column's width: a matched filter
   (smoothing by the full width) maximises the signal-to-noise ratio of an isolated
   column but merges a weak column into a bright neighbour ~2.5 widths away (P beside
   Fe in LiFePO4 [010] HAADF); half the width keeps ~90 % of the matched filter's
   signal-to-noise ratio and resolves them.
3. Candidates are local maxima of the smoothed image at least ``min_separation_px``
   apart (the brighter one wins); the separation is estimated from the lattice
   (:func:`.lattice_spacing.estimate_min_separation`) unless given.
4. A candidate is kept if its height above the local background (the minimum of the
   smoothed image within two separations, itself smoothed) exceeds ``threshold_sigma``
   times the noise of the smoothed image. The pixel noise is measured from the image
   (median absolute deviation of a high-pass residual), so the threshold means the
   same at any dose; faint Li columns beside bright Fe columns are kept when they stand
   that far above their own neighbourhood, whatever the Fe columns do.
5. A weaker maximum is kept only if the smoothed image dips by ``PROMINENCE_SIGMA``
   noise sd on the straight line towards every brighter maximum within 2.5
   separations (two maxima of one noisy column are joined by a ridge, not a valley).
6. Each maximum is placed to sub-pixel precision by a parabola through its 3 × 3
   neighbourhood; maxima on the border that are the tail of a column outside the image
   (the parabola puts them more than half a pixel outside) are dropped. Columns within
   a pixel of the border remain ambiguous at low dose: :func:`.refine.refine_columns`
   marks fits that end outside the image as not converged.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import _filters
from ._column_input import check_image
from .lattice_spacing import _lattice_estimates, estimate_column_sigma

#: A maximum must dip by this many noise sd towards any brighter maximum nearby.
PROMINENCE_SIGMA = 1.5
#: sd of the high-pass residual ``img - mean of the 8 neighbours`` for white noise of sd 1.
_RESIDUAL_SD = np.sqrt(1.0 + 1.0 / 8.0)


def _noise_crop(image: np.ndarray, size: int = 768) -> np.ndarray:
    """Central crop (noise statistics need ~10^5 pixels, not all of a 4k image)."""
    ny, nx = image.shape
    y0, x0 = max(0, (ny - size) // 2), max(0, (nx - size) // 2)
    return image[y0:y0 + size, x0:x0 + size]


def pixel_noise_sd(image: np.ndarray) -> float:
    """Robust sd of the pixel noise: MAD of ``image - mean(8 neighbours)``, rescaled."""
    image = _noise_crop(image)
    kernel = np.full((3, 3), 1.0 / 8.0)
    kernel[1, 1] = 0.0
    resid = image - ndimage.convolve(image, kernel, mode="reflect")
    mad = np.median(np.abs(resid - np.median(resid)))
    return float(1.4826 * mad / _RESIDUAL_SD)


def pixel_noise_model(image: np.ndarray) -> tuple[float, float]:
    """Noise variance as a function of the signal: ``var = v0 + v1 * mean`` (readout + shot noise).

    The high-pass residual ``image - mean(8 neighbours)`` is binned by the local mean (3 × 3),
    its robust variance (MAD) per bin fitted by a straight line. For counting data
    ``v1`` ~ 1 and ``v0`` ~ 0; for data without shot noise ``v1`` ~ 0.
    """
    image = _noise_crop(image)
    kernel = np.full((3, 3), 1.0 / 8.0)
    kernel[1, 1] = 0.0
    resid = (image - ndimage.convolve(image, kernel, mode="reflect")) / _RESIDUAL_SD
    mean = ndimage.uniform_filter(image, size=3, mode="reflect")
    edges = np.unique(np.quantile(mean, np.linspace(0.0, 1.0, 17)))
    if edges.size < 3:
        v = pixel_noise_sd(image) ** 2
        return float(max(v, 1e-12)), 0.0
    which = np.clip(np.searchsorted(edges, mean.ravel(), side="right") - 1, 0, edges.size - 2)
    # group the pixels by bin with one stable sort (a radix sort on the small bin index)
    # instead of a mask per bin: each bin's pixels keep their order, so the means and
    # medians are the same numbers as with ``r[which == b]``
    order = np.argsort(which.astype(np.uint8), kind="stable")
    bounds = np.searchsorted(which[order], np.arange(edges.size))
    r = resid.ravel()[order]
    m_sorted = mean.ravel()[order]
    mu, var = [], []
    for b in range(edges.size - 1):
        lo, hi = bounds[b], bounds[b + 1]
        if hi - lo < 50:
            continue
        rb = r[lo:hi]
        mu.append(float(np.mean(m_sorted[lo:hi])))
        var.append(float((1.4826 * np.median(np.abs(rb - np.median(rb)))) ** 2))
    mu, var = np.array(mu), np.array(var)
    if mu.size < 2 or np.ptp(mu) == 0:
        return float(max(np.median(var) if var.size else 1e-12, 1e-12)), 0.0
    v1, v0 = np.polyfit(mu, var, 1)
    v1 = max(float(v1), 0.0)
    v0 = float(np.median(var - v1 * mu))
    floor = 1e-3 * float(np.median(var)) + 1e-12
    return max(v0, floor), v1


def find_columns(image, *, min_separation_px: float | None = None, dark_columns: bool = False,
                 threshold_sigma: float = 5.0, mask=None, smoothing_px: float | None = None) -> np.ndarray:
    """Find candidate atom columns.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        HAADF (bright columns) or ABF (``dark_columns=True``) image, any real dtype.
    min_separation_px : float, optional
        Smallest distance between two columns, pixels. Estimated from the image's
        autocorrelation if not given.
    dark_columns : bool
        Columns are darker than the background (ABF).
    threshold_sigma : float
        Keep a maximum whose height above the local background exceeds this many sd of
        the smoothed image's noise.
    mask : ndarray of bool, shape (ny, nx), optional
        Look for columns only where True.
    smoothing_px : float, optional
        sd (pixels) of the Gaussian filter; by default half the column width from the
        image's autocorrelation.

    Returns
    -------
    ndarray of float64, shape (n, 2)
        Column positions ``(x, y)``: x the column index, y the row index of
        ``image[y, x]``, pixel centres at integers; ordered by decreasing height.

    Raises
    ------
    ValueError
        Non-2-D, non-finite, constant or tiny images; bad separation, threshold or mask.
    """
    img = check_image(image)
    if not (np.isfinite(threshold_sigma) and threshold_sigma > 0):
        raise ValueError(f"threshold_sigma must be positive, got {threshold_sigma}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != img.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the image's {img.shape}")
    if dark_columns:
        img = -img
    # one autocorrelation for both the separation and the width (previously three FFTs)
    sigma_acf = None
    if min_separation_px is None:
        sigma_acf, min_separation_px = _lattice_estimates(img)
    if not (np.isfinite(min_separation_px) and min_separation_px >= 1.0):
        raise ValueError(f"min_separation_px must be >= 1 pixel, got {min_separation_px}")
    if smoothing_px is None:
        try:
            smoothing_px = sigma_acf if sigma_acf is not None else estimate_column_sigma(img)
        except ValueError:
            smoothing_px = 0.25 * min_separation_px
        smoothing_px = float(np.clip(0.5 * smoothing_px, 0.5, 0.25 * min_separation_px + 0.5))
    smooth = ndimage.gaussian_filter(img, smoothing_px, mode="nearest")
    noise = pixel_noise_sd(img) / (2.0 * np.sqrt(np.pi) * smoothing_px)   # sd after smoothing
    if noise <= 0:                      # noise-free data: any real maximum counts
        noise = 1e-9 * float(np.ptp(smooth))
    size = 2 * int(np.ceil(min_separation_px)) + 1
    # exact numba equivalents of ndimage.minimum_filter(mode="nearest") and of
    # smooth == ndimage.maximum_filter(smooth, 3, mode="nearest") (see _filters), ~3x faster;
    # the background (uniform filter of the minimum image) is needed only at the local
    # maxima (~1 % of the pixels), so it is summed there alone (_filters.box_mean_at)
    minimum = _filters.minimum_filter(smooth, 2 * size - 1)
    is_max = _filters.local_maxima(smooth)
    if mask is not None:
        is_max &= mask
    rows, cols = np.nonzero(is_max)
    base = _filters.box_mean_at(minimum, size, rows, cols)
    height = smooth[rows, cols] - base
    keep = height > threshold_sigma * noise
    rows, cols, height, base = rows[keep], cols[keep], height[keep], base[keep]
    order = np.argsort(-height, kind="stable")
    rows, cols, base = rows[order], cols[order], base[order]
    keep = _separate(cols.astype(float), rows.astype(float), min_separation_px)
    rows, cols, base = rows[keep], cols[keep], base[keep]
    keep = _prominent(smooth, cols.astype(float), rows.astype(float), 2.5 * min_separation_px,
                      PROMINENCE_SIGMA * noise)
    rows, cols, base = rows[keep], cols[keep], base[keep]
    xy = _subpixel(smooth, base, rows, cols)
    ny, nx = img.shape
    # border maxima whose parabola puts the column up to half a pixel outside are kept
    # (noise on one side decides that much) and placed on the edge; the Gaussian fit decides
    slack = 0.5
    inside = ((xy[:, 0] >= -0.5 - slack) & (xy[:, 0] < nx - 0.5 + slack)
              & (xy[:, 1] >= -0.5 - slack) & (xy[:, 1] < ny - 0.5 + slack))
    xy = xy[inside]
    xy[:, 0] = np.clip(xy[:, 0], -0.5, nx - 0.5 - 1e-6)
    xy[:, 1] = np.clip(xy[:, 1], -0.5, ny - 0.5 - 1e-6)
    return np.ascontiguousarray(xy)


def _prominent(smooth, x, y, reach, min_dip) -> np.ndarray:
    """Drop a maximum that does not dip by ``min_dip`` towards a brighter maximum within ``reach``.

    Two maxima of one noisy column (or of a column's shoulder) are joined by a ridge;
    two columns by a valley. The valley depth is the lower maximum minus the minimum of
    the smoothed image on the straight line between them (sampled every half pixel).
    Candidates are ordered by decreasing height, so index order is brightness order.
    """
    from scipy.spatial import cKDTree

    keep = np.ones(x.size, dtype=bool)
    if x.size < 2:
        return keep
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(reach, output_type="ndarray")
    if pairs.size == 0:
        return keep
    pairs.sort(axis=1)                                     # (brighter, dimmer)
    a, b = pairs[:, 0], pairs[:, 1]
    n_s = int(np.ceil(2 * reach)) + 1
    t = np.linspace(0.0, 1.0, n_s)[None, :]
    line_x = x[a, None] + t * (x[b] - x[a])[:, None]
    line_y = y[a, None] + t * (y[b] - y[a])[:, None]
    values = ndimage.map_coordinates(smooth, [line_y.ravel(), line_x.ravel()], order=1, mode="nearest")
    dip = smooth[y[b].astype(int), x[b].astype(int)] - values.reshape(line_x.shape).min(axis=1)
    weak = np.unique(b[dip < min_dip])
    keep[weak] = False
    return keep


def _separate(x: np.ndarray, y: np.ndarray, min_sep: float) -> np.ndarray:
    """Greedy non-maximum suppression: candidates in order, drop those too close to a kept one."""
    from scipy.spatial import cKDTree

    if x.size == 0:
        return np.zeros(0, dtype=bool)
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(min_sep, output_type="ndarray")
    keep = np.ones(x.size, dtype=bool)
    if pairs.size == 0:
        return keep
    pairs.sort(axis=1)                                     # (brighter, dimmer): lower index is brighter
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs = pairs[order]
    starts = np.searchsorted(pairs[:, 0], np.arange(x.size))
    ends = np.searchsorted(pairs[:, 0], np.arange(x.size), side="right")
    for i in range(x.size):                                # brightest first
        if keep[i]:
            keep[pairs[starts[i]:ends[i], 1]] = False
    return keep


def _subpixel(smooth: np.ndarray, base: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sub-pixel peak position: vertex of a parabola through 3 pixels along each axis.

    Inside the image the parabola goes through the maximum and its two neighbours
    (offset limited to ±0.5 px). On the border it goes through the logarithm of the
    height above background of the border pixel and the next two inward (exact for a
    Gaussian; ``base`` is the local background at each maximum), which extrapolates to
    the centre of a column cut by the border; the
    tail of a column outside the image extrapolates outside and is dropped by the caller.
    """
    ny, nx = smooth.shape
    xs = cols.astype(np.float64)
    ys = rows.astype(np.float64)
    for axis, n, pos in ((1, nx, xs), (0, ny, ys)):
        if n < 3:
            continue
        idx = cols if axis == 1 else rows
        start = np.clip(idx - 1, 0, n - 3)                   # first of 3 consecutive pixels
        pts = [start, start + 1, start + 2]
        f = [smooth[rows, p] if axis == 1 else smooth[p, cols] for p in pts]
        interior = (idx > 0) & (idx < n - 1)
        tiny = 1e-12 + 1e-9 * np.abs(f[1])
        lf = [np.where(interior, fi, np.log(np.maximum(fi - base, tiny))) for fi in f]
        a = 0.5 * (lf[0] - 2.0 * lf[1] + lf[2])
        b = 0.5 * (lf[2] - lf[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(a < 0, start + 1 - b / (2.0 * a), np.where(idx == 0, -3.0, n + 2.0))
        vertex = np.where(interior, np.clip(vertex, idx - 0.5, idx + 0.5),
                          np.clip(vertex, idx - 3.0, idx + 3.0))
        pos[:] = vertex
    return np.column_stack([xs, ys])
