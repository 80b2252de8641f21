"""Power spectrum (diffractogram) of a calibrated image, and lattice spacings read from it.

Image axes that are lengths are converted to nm first, so spatial frequencies are in
1/nm and spacings in nm; uncalibrated axes give 1/px. The spectrum is ``fftshift``-ed:
zero frequency is at index ``n // 2`` of each axis, for even and odd sizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calibration import AxisCalibration, check_calibrated_image
from .length_units import convert_length_axis, nm_per_unit, reciprocal_units

#: Window names accepted by :func:`power_spectrum` ("none" = rectangular).
WINDOWS = ("hann", "none")


@dataclass(frozen=True, eq=False)
class ImageFFT:
    """Log power spectrum of an image on calibrated spatial-frequency axes.

    Attributes
    ----------
    log_power : ndarray of float32, shape (ny, nx)
        ``log10(P + floor)``, ``P = |FFT(window * (image - mean))|² / sum(window)²`` (the
        squared amplitude of each Fourier component), ``floor = 1e-12 max(P)``; fftshifted.
    ky_axis, kx_axis : AxisCalibration
        Spatial frequency of the rows and columns ("1/nm", or "1/px" when uncalibrated);
        the value at index ``n // 2`` is exactly 0.
    window : str
        The apodisation window used ("hann" or "none"); :func:`refine_peak` uses it.
    """

    log_power: np.ndarray
    ky_axis: AxisCalibration
    kx_axis: AxisCalibration
    window: str = "hann"


def _frequency_axis(axis: AxisCalibration, name: str) -> AxisCalibration:
    """Reciprocal axis of ``axis`` (converted to nm when it is a length), DC at n // 2."""
    if nm_per_unit(axis.units) is not None:
        axis = convert_length_axis(axis, "nm")
    n = axis.size
    scale = 1.0 / (n * axis.scale)
    return AxisCalibration(name, reciprocal_units(axis.units), scale, -(n // 2) * scale, n)


def _window_2d(name, shape: tuple[int, int]) -> np.ndarray:
    if name is None or name == "none":
        return np.ones(shape)
    if name not in WINDOWS:
        raise ValueError(f"unknown window {name!r}; known: {', '.join(WINDOWS)}")
    return np.outer(_periodic_hann(shape[0]), _periodic_hann(shape[1]))


def _periodic_hann(n: int) -> np.ndarray:
    """Periodic (DFT-even) Hann window: its spectrum is an exact 3-bin kernel, which
    refine_peak relies on. Written out because ``scipy.signal`` costs 1 s to import."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def power_spectrum(image, y_axis: AxisCalibration, x_axis: AxisCalibration, *,
                   window: str | None = "hann") -> ImageFFT:
    """Windowed, log-scaled power spectrum of ``image`` with calibrated frequency axes.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        Real image (or a crop of one, with the crop's own axes), at least 2 x 2.
        Non-finite pixels are replaced by the mean of the finite ones.
    y_axis, x_axis : AxisCalibration
        Calibrations of the rows and columns.
    window : {"hann", "none"}, optional
        Apodisation against the streaks that the image edges put through the centre.
        The window-weighted mean is subtracted first, so the DC pixel carries no power.

    Returns
    -------
    ImageFFT

    Raises
    ------
    ValueError
        For a non-2-D or too small image, one that does not match the axes, one without
        finite pixels, or an unknown window.
    """
    image = check_calibrated_image(image, y_axis, x_axis, what="power_spectrum")
    if min(image.shape) < 2:
        raise ValueError(f"power_spectrum needs at least 2 x 2 pixels, got {image.shape}")
    w = _window_2d(window, image.shape)
    data = image.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ValueError("power_spectrum: the image has no finite pixels")
    if not finite.all():
        data[~finite] = data[finite].mean()
    data -= (data * w).sum() / w.sum()
    from scipy import fft as sp_fft  # deferred: not needed to show the first window

    power = np.abs(sp_fft.fftshift(sp_fft.fft2(data * w, workers=-1))) ** 2 / w.sum() ** 2
    floor = 1e-12 * power.max() if power.max() > 0 else 1e-30
    log_power = np.log10(power + floor).astype(np.float32)
    return ImageFFT(log_power, _frequency_axis(y_axis, "ky"), _frequency_axis(x_axis, "kx"),
                    "none" if window is None else window)


def d_spacing(kx: float, ky: float) -> float:
    """Lattice-plane spacing ``1 / |k|`` (nm when k is in 1/nm); ``inf`` at k = 0."""
    k = math.hypot(kx, ky)
    return math.inf if k == 0 else 1.0 / k


def _sub_bin_offset(left: float, centre: float, right: float, window: str) -> float:
    """Offset (bins, |.| <= 0.5) of a spectral peak from its maximum bin, from log10 powers.

    Uses the ratio of the larger neighbour's amplitude to the peak's, which is exact for a
    single sinusoid: delta = (2a - 1) / (a + 1) for a periodic Hann window (Grandke 1983),
    delta = a / (1 + a) for no window (Jain et al. 1979).
    """
    left, centre, right = float(left), float(centre), float(right)
    side = 1.0 if right >= left else -1.0
    ratio = 10.0 ** ((max(left, right) - centre) / 2.0)  # amplitude ratio, <= 1
    delta = (2 * ratio - 1) / (ratio + 1) if window == "hann" else ratio / (1 + ratio)
    return side * float(np.clip(delta, 0.0, 0.5))


def refine_peak(fft: ImageFFT, kx: float, ky: float, *, radius_px: int = 3) -> tuple[float, float]:
    """Snap a click at (kx, ky) to the nearby spectral peak, with sub-pixel precision.

    Parameters
    ----------
    fft : ImageFFT
    kx, ky : float
        Clicked spatial frequency, in the units of ``fft.kx_axis`` / ``fft.ky_axis``.
    radius_px : int, optional
        Search the brightest pixel within this many pixels of the click.

    Returns
    -------
    (float, float)
        Refined (kx, ky): the brightest pixel, moved along each axis by the three-point
        interpolation for the window the spectrum was computed with.
    """
    if radius_px < 0:
        raise ValueError(f"radius_px must be >= 0, got {radius_px}")
    if not (math.isfinite(kx) and math.isfinite(ky)):
        raise ValueError(f"click position must be finite, got ({kx}, {ky})")
    lp = fft.log_power
    ny, nx = lp.shape
    r0 = int(np.clip(round(fft.ky_axis.index_of(ky)), 0, ny - 1))
    c0 = int(np.clip(round(fft.kx_axis.index_of(kx)), 0, nx - 1))
    rows = np.arange(max(0, r0 - radius_px), min(ny, r0 + radius_px + 1))
    cols = np.arange(max(0, c0 - radius_px), min(nx, c0 + radius_px + 1))
    patch = np.where((rows[:, None] - r0) ** 2 + (cols[None, :] - c0) ** 2 <= radius_px ** 2,
                     lp[np.ix_(rows, cols)], -np.inf)
    i, j = np.unravel_index(int(np.argmax(patch)), patch.shape)
    r, c = int(rows[i]), int(cols[j])
    dr = _sub_bin_offset(lp[r - 1, c], lp[r, c], lp[r + 1, c], fft.window) if 0 < r < ny - 1 else 0.0
    dc = _sub_bin_offset(lp[r, c - 1], lp[r, c], lp[r, c + 1], fft.window) if 0 < c < nx - 1 else 0.0
    return (float(fft.kx_axis.offset + fft.kx_axis.scale * (c + dc)),
            float(fft.ky_axis.offset + fft.ky_axis.scale * (r + dr)))
