"""Column intensities at fixed sites (faint Li columns placed from the lattice).

A free Gaussian fit on a faint column next to bright ones wanders; at a position predicted
from the lattice found on the bright columns, the amplitudes of all sites and their local
backgrounds are one linear least-squares problem (sparse), solved at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

from ._column_input import check_image, check_positions
from .find import pixel_noise_model

FIT_RADIUS_SIGMAS = 3.5   # fit window radius, in column sigmas (also used by .refine)


@dataclass(frozen=True)
class SiteIntensities:
    """Column intensities measured at fixed sites (arrays of length n, order of the sites).

    ``intensity`` integrated signal ``2 pi sigma^2 a`` (image units × pixels; positive for
    both bright and dark columns when the column is present), ``intensity_err`` its 1-sd
    uncertainty, ``amplitude`` the peak height ``a``, ``background`` the local background
    level (image units per pixel) of each site's cell.
    """

    intensity: np.ndarray
    intensity_err: np.ndarray
    background: np.ndarray
    amplitude: np.ndarray


def measure_at_sites(image, xy, *, sigma_px: float, dark_columns: bool = False,
                     fit_radius_px: float | None = None,
                     other_columns=None) -> SiteIntensities:
    """Column intensities at fixed sites: joint linear least squares with a shared width.

    Every site ``k`` contributes ``sign * a_k * g(p - r_k)`` (Gaussian of sd ``sigma_px``,
    peak 1) and owns the background ``b_k`` of the pixels nearest to it; all ``a_k`` and
    ``b_k`` are solved together on the pixels within ``fit_radius_px`` of any site, so
    overlapping sites share their signal. Used for faint columns at positions predicted
    from the lattice (Li sites beside Fe), where a free fit would wander.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
    xy : array_like of shape (n, 2)
        Fixed site positions ``(x, y)``, pixels.
    sigma_px : float
        Shared column width (e.g. the median ``sigma_x`` of :func:`refine_columns`).
    dark_columns : bool
        Columns darker than the background (ABF): intensities are the dips' volumes.
    fit_radius_px : float, optional
        Radius around each site whose pixels enter the fit; ``3.5 * sigma_px`` by default.
    other_columns : ColumnFits, optional
        Fitted columns (e.g. Fe) not among the sites: their model is subtracted first.

    Returns
    -------
    SiteIntensities
        ``intensity = 2 pi sigma^2 a`` and its 1-sd error (the image's noise model,
        :func:`.find.pixel_noise_model`, on the site's pixels times the diagonal of the
        inverse normal matrix), background.
    """
    img = check_image(image)
    pos = check_positions(xy, img.shape)
    if not (np.isfinite(sigma_px) and sigma_px > 0.3):
        raise ValueError(f"sigma_px must be > 0.3 pixel, got {sigma_px}")
    n = len(pos)
    if n == 0:
        e = np.zeros(0)
        return SiteIntensities(e, e, e, e)
    radius = FIT_RADIUS_SIGMAS * sigma_px if fit_radius_px is None else float(fit_radius_px)
    if not (np.isfinite(radius) and radius >= 1.0):
        raise ValueError(f"fit_radius_px must be >= 1 pixel, got {fit_radius_px}")
    sign = -1.0 if dark_columns else 1.0
    if other_columns is not None:
        from .refine import render_model   # (refine imports this module)

        data = img - render_model(img.shape, other_columns)
    else:
        data = img
    ny, nx = img.shape
    ir = int(np.ceil(radius))
    oy, ox = np.mgrid[-ir:ir + 1, -ir:ir + 1]
    disc = ox ** 2 + oy ** 2 <= radius ** 2
    ox, oy = ox[disc], oy[disc]
    cx, cy = np.rint(pos[:, 0]).astype(np.int64), np.rint(pos[:, 1]).astype(np.int64)
    cols, rows = cx[:, None] + ox, cy[:, None] + oy
    inside = (cols >= 0) & (cols < nx) & (rows >= 0) & (rows < ny)
    site = np.broadcast_to(np.arange(n)[:, None], cols.shape)[inside]
    pix = (rows * nx + cols)[inside]
    g = np.exp(-0.5 * ((cols - pos[:, 0:1]) ** 2 + (rows - pos[:, 1:2]) ** 2)[inside] / sigma_px ** 2)
    used, local = np.unique(pix, return_inverse=True)
    py, px = np.divmod(used, nx)
    _, owner = cKDTree(pos).query(np.column_stack([px, py]))      # background cell of each pixel
    m = used.size
    design = sparse.hstack([
        sparse.csr_matrix((sign * g, (local, site)), shape=(m, n)),
        sparse.csr_matrix((np.ones(m), (np.arange(m), owner)), shape=(m, n))]).tocsc()
    d = data.ravel()[used]
    normal = (design.T @ design).tocsc()
    normal = normal + sparse.identity(2 * n, format="csc") * 1e-10 * normal.diagonal().max()
    coef = spsolve(normal, design.T @ d)
    # noise variance at each pixel from the image's noise model (shot + readout), averaged
    # over each site's pixels with the weights g^2 that the amplitude gives them
    v0, v1 = pixel_noise_model(img)
    fitted = design @ coef + (img.ravel()[used] - d)
    var_p = v0 + v1 * np.maximum(fitted, 0.0)
    s2 = (np.bincount(site, weights=g ** 2 * var_p[local], minlength=n)
          / np.maximum(np.bincount(site, weights=g ** 2, minlength=n), 1e-300))
    diag = _inverse_diagonal(normal, pos, n, 2.0 * radius)
    amp = coef[:n]
    scale = 2.0 * np.pi * sigma_px ** 2
    return SiteIntensities(scale * amp, scale * np.sqrt(s2 * diag), coef[n:], amp)


def _inverse_diagonal(normal, pos, n, reach) -> np.ndarray:
    """Amplitude entries of diag(normal^-1): exact for small problems, else from local blocks.

    A site's amplitude couples only to sites within ``reach`` (overlapping windows), so
    the inverse of the block of those sites' amplitudes and backgrounds gives its entry
    to good accuracy.
    """
    if 2 * n <= 1200:
        return np.diag(np.linalg.inv(normal.toarray()))[:n].copy()
    normal = normal.tocsr()
    tree = cKDTree(pos)
    out = np.empty(n)
    for k, near in enumerate(tree.query_ball_point(pos, reach)):
        idx = np.array(sorted(near), dtype=np.int64)
        block_idx = np.concatenate([idx, idx + n])
        block = normal[block_idx][:, block_idx].toarray()
        out[k] = np.linalg.inv(block)[int(np.searchsorted(idx, k)), int(np.searchsorted(idx, k))]
    return out
