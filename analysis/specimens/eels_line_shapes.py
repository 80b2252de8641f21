"""Peak shapes integrated over the channels of a uniform EELS energy axis.

A counting detector records the number of electrons that land in each channel, i.e.
the integral of the spectral density over the channel, not its value at the channel
centre. Every shape here is therefore returned *bin-integrated*: channel ``i`` of a
uniform axis with centres ``E_i`` and dispersion ``d`` holds
``area * (F(E_i + d/2) - F(E_i - d/2))``, where ``F`` is the shape's cumulative
distribution. The channel sum equals ``area`` (up to what falls outside the axis), even
for peaks narrower than a channel (a 0.8 eV zero-loss peak on a 0.5 eV/channel axis).

Shapes
------
* Gaussian, ``F = ½[1 + erf((E − E0)/(σ√2))]``, ``FWHM = 2√(2 ln 2) σ``.
* Asymmetric (split) Gaussian: σ_low below the mode and σ_high = asymmetry·σ_low above
  it, each half weighted so that the density is continuous at the mode and the total
  area is 1; ``FWHM = √(2 ln 2)(σ_low + σ_high)``. The mode stays at ``E0``.
* Lorentzian (Cauchy), ``F = ½ + arctan((E − E0)/γ)/π``, ``FWHM = 2γ``.
* Pseudo-Voigt: ``(1 − η)·Gaussian + η·Lorentzian`` with a common FWHM, the usual
  stand-in for a Voigt profile (lifetime-broadened line seen through a Gaussian
  instrument response).

All functions broadcast: ``centre``, ``fwhm`` and ``area`` may be arrays of shape
``(...)``; the result has shape ``(..., n_channels)``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def channel_edges(energy: np.ndarray) -> np.ndarray:
    """Boundaries of the channels of a uniform energy axis.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Channel centres (eV), uniformly spaced and increasing, ``n_channels >= 2``.

    Returns
    -------
    edges : ndarray of shape (n_channels + 1,)
        Float64 channel boundaries, ``energy ± dispersion / 2``.

    Raises
    ------
    ValueError
        If ``energy`` is not 1-D, has fewer than 2 channels, is not finite, not
        increasing or not uniform (relative step deviation above 1e-6).
    """
    e = np.asarray(energy, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"energy must be a 1-D axis with >= 2 channels, got shape {e.shape}")
    if not np.all(np.isfinite(e)):
        raise ValueError("energy axis contains non-finite values")
    step = np.diff(e)
    d = (e[-1] - e[0]) / (e.size - 1)
    if d <= 0 or np.max(np.abs(step - d)) > 1e-6 * abs(d):
        raise ValueError("energy axis must be uniform and increasing")
    return np.concatenate(([e[0] - d / 2], e + d / 2))


def _bin_integrate(cdf_at_edges: np.ndarray) -> np.ndarray:
    return np.diff(cdf_at_edges, axis=-1)


def _banded_counts(edges, centre, sigma, cdf, *, reach=1.0):
    """Channel integrals of a Gaussian-type CDF, evaluated only where it changes.

    Beyond ±8.5 σ·reach of the centre the error-function CDF is 0 or 1 to double
    precision, so only a band of channels around each centre needs evaluating.
    ``cdf(x, sigma)`` gets offsets ``x = edge − centre`` of shape (..., band + 1).
    """
    centre, sigma = np.broadcast_arrays(np.asarray(centre, dtype=np.float64),
                                        np.asarray(sigma, dtype=np.float64))
    n, step = edges.size - 1, edges[1] - edges[0]
    half = 8.5 * sigma * max(reach, 1.0)
    band = min(n, int(np.ceil(2.0 * np.max(half, initial=0.0) / step)) + 2)
    first = np.floor((centre - half - edges[0]) / step)
    first = np.clip(np.nan_to_num(first), 0, n - band).astype(np.intp)
    index = first[..., None] + np.arange(band + 1)
    values = _bin_integrate(cdf(edges[index] - centre[..., None], sigma[..., None]))
    out = np.zeros(centre.shape + (n,))
    np.put_along_axis(out, index[..., :-1], values, axis=-1)
    return out


def _expand(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)[..., None]


def _check_widths(fwhm) -> None:
    if np.any(~np.isfinite(fwhm)) or np.any(np.asarray(fwhm) <= 0):
        raise ValueError("fwhm must be finite and > 0")


def gaussian_counts(energy, centre, fwhm, *, area=1.0) -> np.ndarray:
    """Bin-integrated Gaussian peak.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform channel centres (eV).
    centre, fwhm : float or ndarray of shape (...)
        Peak position and full width at half maximum (eV).
    area : float or ndarray of shape (...), optional
        Integrated intensity (any unit); the channel sum equals ``area``.

    Returns
    -------
    ndarray of shape (..., n_channels)
        Intensity per channel (float64).
    """
    _check_widths(fwhm)
    sigma = np.asarray(fwhm, dtype=np.float64) / _FWHM_PER_SIGMA

    def cdf(x, width):
        return 0.5 * erf(x / (width * np.sqrt(2.0)))

    return _expand(area) * _banded_counts(channel_edges(energy), centre, sigma, cdf)


def asymmetric_gaussian_counts(energy, centre, fwhm, *, asymmetry=1.0, area=1.0) -> np.ndarray:
    """Bin-integrated split Gaussian, wider on the high-energy side when ``asymmetry > 1``.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform channel centres (eV).
    centre : float or ndarray of shape (...)
        Mode (position of the maximum), eV.
    fwhm : float or ndarray of shape (...)
        Full width at half maximum, eV (``√(2 ln 2)(σ_low + σ_high)``).
    asymmetry : float, optional
        ``σ_high / σ_low`` (> 0); 1 gives a Gaussian.
    area : float or ndarray of shape (...), optional
        Channel sum.

    Returns
    -------
    ndarray of shape (..., n_channels)
    """
    _check_widths(fwhm)
    if not np.isfinite(asymmetry) or asymmetry <= 0:
        raise ValueError(f"asymmetry must be finite and > 0, got {asymmetry}")
    s_low = np.asarray(fwhm, dtype=np.float64) / (np.sqrt(2.0 * np.log(2.0)) * (1.0 + asymmetry))
    w_low = 1.0 / (1.0 + asymmetry)          # area below the mode: σ_low / (σ_low + σ_high)

    def cdf(x, width):
        low = w_low * (1.0 + erf(np.minimum(x, 0.0) / (width * np.sqrt(2.0))))
        high = (1.0 - w_low) * erf(np.maximum(x, 0.0) / (asymmetry * width * np.sqrt(2.0)))
        return low + high

    return _expand(area) * _banded_counts(channel_edges(energy), centre, s_low, cdf,
                                          reach=asymmetry)


def lorentzian_counts(energy, centre, fwhm, *, area=1.0) -> np.ndarray:
    """Bin-integrated Lorentzian (Cauchy) peak; see :func:`gaussian_counts`."""
    _check_widths(fwhm)
    edges = channel_edges(energy)
    cdf = np.arctan((edges - _expand(centre)) / (0.5 * _expand(fwhm))) / np.pi
    return _expand(area) * _bin_integrate(cdf)


def pseudo_voigt_counts(energy, centre, fwhm, *, lorentz_fraction=0.2, area=1.0) -> np.ndarray:
    """Bin-integrated pseudo-Voigt ``(1 − η) G + η L`` with a common FWHM.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform channel centres (eV).
    centre, fwhm : float or ndarray of shape (...)
        Peak position and FWHM (eV).
    lorentz_fraction : float, optional
        η in [0, 1].
    area : float or ndarray of shape (...), optional
        Integrated intensity.

    Returns
    -------
    ndarray of shape (..., n_channels)
    """
    if not 0.0 <= lorentz_fraction <= 1.0:
        raise ValueError(f"lorentz_fraction must be in [0, 1], got {lorentz_fraction}")
    shape = gaussian_counts(energy, centre, fwhm) * (1.0 - lorentz_fraction)
    if lorentz_fraction > 0:
        shape += lorentz_fraction * lorentzian_counts(energy, centre, fwhm)
    return _expand(area) * shape
