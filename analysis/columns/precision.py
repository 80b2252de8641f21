"""Cramér–Rao lower bound of column positions for a pixelated Gaussian column under Poisson noise.

A column recorded by a counting detector gives pixel counts ``d_p ~ Poisson(lambda_p)``
with ``lambda_p = b + A * G_p(x0, y0, s)``: a uniform background ``b`` (counts per
pixel) and a Gaussian of peak height ``A`` (counts per pixel at the centre) and sd ``s``
(pixels), either averaged over each pixel's area (``pixel_integrated=True``, exact via
the error function) or sampled at the pixel centre. The Fisher information of the
parameters ``theta`` is ``F = sum_p (d lambda_p / d theta)(d lambda_p / d theta)^T / lambda_p``
summed over all pixels within 6 sd; any unbiased estimator has ``cov >= F^-1``. The
bound depends weakly on where the centre falls inside a pixel; it is averaged over a
4 × 4 grid of sub-pixel offsets. Width and background are nuisance parameters
(estimated with the position), unless ``known_width`` / ``known_background``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .refine import ColumnFits


@dataclass(frozen=True)
class CramerRaoBound:
    """1-sd lower bounds: ``x``/``y`` (pixels), ``amplitude`` (counts/pixel), ``sigma`` (pixels),
    ``background`` (counts/pixel); ``column_counts`` = counts in the column above background."""

    x: float
    y: float
    amplitude: float
    sigma: float
    background: float
    column_counts: float

    @property
    def position(self) -> float:
        """Bound on the radial position error, ``sqrt(x^2 + y^2)`` (the RMS 2-D distance)."""
        return float(np.hypot(self.x, self.y))


def _profile_1d(edges_or_centres, centre, sigma, integrated):
    if integrated:
        lo = (edges_or_centres - 0.5 - centre) / (np.sqrt(2.0) * sigma)
        hi = (edges_or_centres + 0.5 - centre) / (np.sqrt(2.0) * sigma)
        # average over the pixel, scaled so that the peak of the point profile is 1
        return 0.5 * (special.erf(hi) - special.erf(lo)) * np.sqrt(2.0 * np.pi) * sigma
    return np.exp(-0.5 * ((edges_or_centres - centre) / sigma) ** 2)


def _expected(px, py, theta, integrated):
    x0, y0, a, s, b = theta
    return b + a * np.outer(_profile_1d(py, y0, s, integrated), _profile_1d(px, x0, s, integrated))


def cramer_rao_bound(amplitude: float, sigma_px: float, background: float, *,
                     pixel_integrated: bool = True, known_width: bool = False,
                     known_background: bool = False, offset=None) -> CramerRaoBound:
    """Cramér–Rao lower bound for one isolated Gaussian column under Poisson noise.

    Parameters
    ----------
    amplitude : float
        Peak height ``A`` above background, detected counts per pixel (> 0).
    sigma_px : float
        Column sd, pixels (> 0).
    background : float
        Background, counts per pixel (>= 0).
    pixel_integrated : bool
        Pixels record the profile averaged over their area (else sampled at centres).
    known_width, known_background : bool
        Treat the width / background as known (the bound then falls slightly).
    offset : (float, float), optional
        Sub-pixel position of the centre; by default the bound's variance is averaged
        over a 4 × 4 grid of offsets.

    Returns
    -------
    CramerRaoBound

    Raises
    ------
    ValueError
        Non-positive amplitude or width, negative background, non-finite values.
    """
    vals = np.array([amplitude, sigma_px, background], dtype=float)
    if not np.all(np.isfinite(vals)) or amplitude <= 0 or sigma_px <= 0 or background < 0:
        raise ValueError(f"need amplitude > 0, sigma_px > 0 and background >= 0, got "
                         f"{amplitude}, {sigma_px}, {background}")
    if background == 0 and not known_background:
        background = 1e-9 * amplitude          # the derivative wrt b is 1 everywhere: keep F finite
    half = int(np.ceil(6.0 * sigma_px)) + 1
    grid = np.arange(-half, half + 1, dtype=float)
    offsets = [tuple(offset)] if offset is not None else [
        (ox, oy) for ox in (np.arange(4) + 0.5) / 4 - 0.5 for oy in (np.arange(4) + 0.5) / 4 - 0.5]
    free = [0, 1, 2] + ([] if known_width else [3]) + ([] if known_background else [4])
    var = np.zeros(5)
    for ox, oy in offsets:
        theta = np.array([ox, oy, amplitude, sigma_px, background])
        lam = _expected(grid, grid, theta, pixel_integrated)
        jac = []
        for i in free:
            h = 1e-5 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            jac.append(((_expected(grid, grid, tp, pixel_integrated)
                         - _expected(grid, grid, tm, pixel_integrated)) / (2 * h)).ravel())
        j = np.array(jac)
        fisher = (j / lam.ravel()) @ j.T
        cov = np.linalg.inv(fisher)
        var[free] += np.diag(cov) / len(offsets)
    counts = amplitude * 2 * np.pi * sigma_px ** 2
    sd = np.sqrt(var)
    return CramerRaoBound(float(sd[0]), float(sd[1]), float(sd[2]),
                          float(sd[3]) if not known_width else 0.0,
                          float(sd[4]) if not known_background else 0.0, float(counts))


def crb_of_fits(fits: ColumnFits, *, counts_per_unit: float = 1.0) -> np.ndarray:
    """Per-column Cramér–Rao bound of the x position (pixels) at each column's fitted dose.

    Uses each column's fitted amplitude, mean width and background, converted to
    detected counts by ``counts_per_unit`` (1 for a counting detector; see
    :func:`estimate_counts_per_unit`). Dark (ABF) columns use the background as the
    level and the dip as the amplitude (a small-dip approximation). NaN where a fit
    is unusable. The bound on y is the same for an isotropic column.
    """
    if not (np.isfinite(counts_per_unit) and counts_per_unit > 0):
        raise ValueError(f"counts_per_unit must be positive, got {counts_per_unit}")
    out = np.full(len(fits), np.nan)
    amp = fits.amplitude * counts_per_unit
    bg = fits.background * counts_per_unit
    if fits.dark_columns:
        bg = bg - amp                           # the minimum level at the column centre
    sig = np.sqrt(fits.sigma_x * fits.sigma_y)
    for k in range(len(fits)):
        if amp[k] > 0 and sig[k] > 0 and np.isfinite(bg[k]):
            out[k] = cramer_rao_bound(amp[k], sig[k], max(bg[k], 0.0), offset=(0.0, 0.0)).x
    return out


def estimate_counts_per_unit(image) -> float:
    """Detected counts per image unit, from how the pixel noise grows with the signal.

    For shot noise with ``image = g * counts`` the variance is ``g * mean``: the slope
    ``v1`` of :func:`.find.pixel_noise_model` (``var = v0 + v1 * mean``) is ``g``, and
    ``1 / g`` counts per unit. Raises ValueError for data without shot noise.
    """
    from ._column_input import check_image
    from .find import pixel_noise_model

    _, slope = pixel_noise_model(check_image(image))
    if not slope > 0:
        raise ValueError("the pixel noise does not grow with the signal: not shot-noise limited data")
    return float(1.0 / slope)
