"""Intensity profile along a line drawn on a calibrated image, averaged across its width.

The line is sampled at one-pixel spacing (the smaller pixel size when pixels are not
square) from its start point; samples whose position falls outside the image are NaN.
A line of width ``w`` is the average of parallel lines one pixel apart across it, as
``skimage.measure.profile_line`` does, so a line ``n`` pixels wide averages ``n`` lines.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calibration import AxisCalibration, check_calibrated_image
from .length_units import nm_per_unit
from .roi_geometry import LineROI


@dataclass(frozen=True, eq=False)
class LineProfile:
    """A profile along a line.

    Attributes
    ----------
    distance_axis : AxisCalibration
        "Distance" from the start of the line, in the image's length units, offset 0.
    values : ndarray of float64, shape (n,)
        Mean intensity across the width at each distance (NaN outside the image).
    std_across : ndarray of float64, shape (n,)
        Standard deviation across the width (0 for a one-pixel-wide line).
    n_across : int
        Number of parallel lines averaged.
    line : LineROI
        The line, in the image's calibrated coordinates.
    length : float
        Length of the line, in the units of ``distance_axis``.
    """

    distance_axis: AxisCalibration
    values: np.ndarray
    std_across: np.ndarray
    n_across: int
    line: LineROI
    length: float


def _common_units(y_axis: AxisCalibration, x_axis: AxisCalibration) -> tuple[str, float]:
    """Units of the profile and the factor that converts y-axis values into them."""
    if y_axis.units == x_axis.units:
        return x_axis.units, 1.0
    fy, fx = nm_per_unit(y_axis.units), nm_per_unit(x_axis.units)
    if fy is None or fx is None:
        raise ValueError(f"cannot draw a line across axes in {y_axis.units!r} (y) and "
                         f"{x_axis.units!r} (x): the units are not comparable lengths")
    return x_axis.units, fy / fx


def _check_inputs(image, line: LineROI, y_axis: AxisCalibration, x_axis: AxisCalibration,
                  order: int) -> np.ndarray:
    image = check_calibrated_image(image, y_axis, x_axis, what="line_profile")
    if image.size == 0:
        raise ValueError("line_profile needs a non-empty image")
    if order not in range(6):
        raise ValueError(f"spline order must be an integer in 0..5, got {order!r}")
    coords = (line.x0, line.y0, line.x1, line.y1, line.width)
    if not all(math.isfinite(v) for v in coords):
        raise ValueError(f"line coordinates and width must be finite, got {line}")
    if line.width < 0:
        raise ValueError(f"line width must be >= 0, got {line.width}")
    return image


def line_profile(image, line: LineROI, y_axis: AxisCalibration, x_axis: AxisCalibration, *,
                 order: int = 1) -> LineProfile:
    """Intensity along ``line``, averaged over its width.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        Real-valued image (any numeric dtype; interpolated in float64).
    line : LineROI
        Start, end and full width, in the calibrated units of the axes (the width in
        those of the x axis). Width 0 (or under 1.5 pixels) samples a single line.
    y_axis, x_axis : AxisCalibration
        Calibrations of the rows and columns. Lengths in different units (nm and Å) are
        converted; the profile is in the x axis's units.
    order : int, optional
        Spline order of the interpolation (0 nearest, 1 bilinear, 3 cubic).

    Returns
    -------
    LineProfile
        ``floor(length / step) + 1`` samples from the start, ``step`` being the smaller
        pixel size; samples outside the image are NaN.

    Raises
    ------
    ValueError
        For a non-2-D image, an image that does not match the axes, a zero-length line,
        a negative width or axes whose units cannot be compared.
    """
    image = _check_inputs(image, line, y_axis, x_axis, order)
    units, y_factor = _common_units(y_axis, x_axis)
    # Work in the x axis's units: positions (x, y*), y* = y * y_factor.
    dx, dy = line.x1 - line.x0, (line.y1 - line.y0) * y_factor
    length = math.hypot(dx, dy)
    step = min(abs(x_axis.scale), abs(y_axis.scale) * y_factor)
    if not length > step * 1e-9:
        raise ValueError(f"line has zero length: {line}")
    n_along = int(math.floor(length / step + 1e-9)) + 1
    n_across = max(1, int(round(line.width / step)))
    ux, uy = dx / length, dy / length
    t = step * np.arange(n_along, dtype=np.float64)
    o = step * (np.arange(n_across, dtype=np.float64) - (n_across - 1) / 2.0)
    px = line.x0 + ux * t[None, :] - uy * o[:, None]  # (n_across, n_along)
    py = line.y0 * y_factor + uy * t[None, :] + ux * o[:, None]
    cols = x_axis.index_of(px)
    rows = y_axis.index_of(py / y_factor)
    from scipy.ndimage import map_coordinates  # deferred: 0.2 s import, not needed at start-up

    samples = map_coordinates(image.astype(np.float64), [rows.ravel(), cols.ravel()], order=order,
                              mode="nearest", prefilter=order > 1).reshape(rows.shape)
    ny, nx = image.shape
    tol = 1e-9
    outside = ((rows < -0.5 - tol) | (rows > ny - 0.5 + tol)
               | (cols < -0.5 - tol) | (cols > nx - 0.5 + tol))
    samples[outside] = np.nan
    values, std = _mean_std_across(samples)
    values.flags.writeable = False
    std.flags.writeable = False
    axis = AxisCalibration("Distance", units, step, 0.0, n_along)
    return LineProfile(axis, values, std, n_across, line, length)


def _mean_std_across(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over axis 0 of the finite samples (NaN where none)."""
    finite = np.isfinite(samples)
    count = finite.sum(axis=0)
    filled = np.where(finite, samples, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        dev = np.where(finite, samples - mean[None, :], 0.0)
        std = np.sqrt((dev ** 2).sum(axis=0) / count)
    mean[count == 0] = np.nan
    std[count == 0] = np.nan
    return mean, std
