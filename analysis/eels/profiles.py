"""Profiles of per-pixel EELS quantities along a line, and surface-layer thickness.

Any per-pixel map — white-line ratio, valence, O K pre-peak ratio, MLLS phase fraction,
atomic ratio — with its per-pixel standard error is sampled along a line with a width
(:func:`~batteryscope.analysis.line_profile.line_profile`, nearest-pixel sampling so every
sample is one measured pixel), typically from a point on the particle surface into the bulk.

At each distance the profile holds the mean over the ``n`` valid pixels across the width and
two errors of that mean: ``error`` = √(Σ σ_i²)/n, propagated from the per-pixel errors
(pixels treated as independent), and ``error_scatter`` = s/√n from the spread across the
width (it also holds real variation along the line's normal; NaN for n < 2). Flagged or
non-finite pixels are left out.

:func:`layer_thickness` fits a tanh step between a surface value and a bulk value,

    q(d) = q_bulk + (q_surface − q_bulk) · ½[1 − tanh((d − d₀)/w)],

by weighted least squares (weights 1/error²), and reports ``d₀`` — the distance at which the
quantity is half-way between its surface and bulk values — minus the surface position, with
its standard error (scaled by √χ²_red when the scatter exceeds the errors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from ..line_profile import line_profile
from ..roi_geometry import LineROI


@dataclass(frozen=True)
class QuantityProfile:
    """Mean of a per-pixel quantity along a line (arrays of shape (n_along,))."""

    distance: np.ndarray
    values: np.ndarray
    error: np.ndarray
    error_scatter: np.ndarray
    n_valid: np.ndarray
    units: str
    line: LineROI


def quantity_profile(values, line: LineROI, y_axis: AxisCalibration, x_axis: AxisCalibration,
                     *, errors=None, flags=None) -> QuantityProfile:
    """Profile of a per-pixel quantity map along ``line`` (averaged across its width).

    Parameters
    ----------
    values : ndarray of shape (ny, nx)
        The quantity per pixel (NaN where not measured).
    line : LineROI
        Start (e.g. on the surface), end (in the bulk) and full width, calibrated units.
    y_axis, x_axis : AxisCalibration
        Scan calibrations (navigation axes of the spectrum image).
    errors : ndarray of shape (ny, nx), optional
        Standard error per pixel; without it ``error`` is NaN.
    flags : ndarray of shape (ny, nx), optional
        Non-zero marks pixels to leave out.

    Returns
    -------
    QuantityProfile
    """
    values = np.array(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D map, got shape {values.shape}")
    valid = np.isfinite(values)
    if flags is not None:
        flags = np.asarray(flags)
        if flags.shape != values.shape:
            raise ValueError(f"flags of shape {flags.shape} do not match values {values.shape}")
        valid &= flags == 0
    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64)
        if errors.shape != values.shape:
            raise ValueError(f"errors of shape {errors.shape} do not match values {values.shape}")
        if np.any(errors[valid & np.isfinite(errors)] < 0):
            raise ValueError("errors must be >= 0")
        valid &= np.isfinite(errors)
    clean = np.where(valid, values, np.nan)
    prof = line_profile(clean, line, y_axis, x_axis, order=0)
    count = line_profile(valid.astype(np.float64), line, y_axis, x_axis, order=0)
    n_valid = np.rint(np.nan_to_num(count.values) * count.n_across).astype(int)
    mean = np.where(n_valid > 0, prof.values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        sample_std = prof.std_across * np.sqrt(n_valid / np.maximum(n_valid - 1, 1))
        scatter = np.where(n_valid > 1, sample_std / np.sqrt(n_valid), np.nan)
        if errors is not None:
            var = line_profile(np.where(valid, errors ** 2, np.nan), line, y_axis, x_axis, order=0)
            err = np.where(n_valid > 0, np.sqrt(var.values / n_valid), np.nan)
        else:
            err = np.full(mean.shape, np.nan)
    return QuantityProfile(prof.distance_axis.values(), mean, err, scatter, n_valid,
                           prof.distance_axis.units, line)


@dataclass(frozen=True)
class LayerThickness:
    """Tanh-step fit of a profile: ``thickness`` = d₀ − surface position, with errors."""

    thickness: float
    thickness_std: float
    surface_value: float
    bulk_value: float
    width: float
    reduced_chi2: float
    n_points: int


def _step_model(d, q_s, q_b, d0, w):
    return q_b + (q_s - q_b) * 0.5 * (1.0 - np.tanh((d - d0) / w))


def layer_thickness(profile: QuantityProfile, *, surface_distance: float = 0.0,
                    fit_range=None, use_scatter: bool = False) -> LayerThickness:
    """Distance from the surface to the half-way point between surface and bulk values.

    Parameters
    ----------
    profile : QuantityProfile
        From :func:`quantity_profile`, running from the surface into the bulk.
    surface_distance : float
        Position of the surface along the profile (same units), 0 if the line starts on it.
    fit_range : (lo, hi), optional
        Distances to fit (default: all valid points beyond ``surface_distance``).
    use_scatter : bool
        Weight by ``error_scatter`` instead of the propagated ``error``.

    Raises
    ------
    ValueError
        With fewer than 6 usable points, no errors, or no step in the data.
    """
    from scipy.optimize import curve_fit  # deferred import

    d = profile.distance
    q = profile.values
    s = profile.error_scatter if use_scatter else profile.error
    lo, hi = fit_range if fit_range is not None else (surface_distance, np.inf)
    ok = np.isfinite(q) & np.isfinite(s) & (s > 0) & (d >= lo) & (d <= hi)
    if ok.sum() < 6:
        raise ValueError(f"layer_thickness needs >= 6 points with values and errors in the "
                         f"fit range; got {int(ok.sum())}")
    d, q, s = d[ok], q[ok], s[ok]
    n_edge = max(2, d.size // 6)
    q_s0, q_b0 = float(np.mean(q[:n_edge])), float(np.mean(q[-n_edge:]))
    if abs(q_s0 - q_b0) < 2 * np.sqrt(np.mean(s[:n_edge] ** 2) / n_edge
                                      + np.mean(s[-n_edge:] ** 2) / n_edge):
        raise ValueError("the profile shows no significant step between its surface and bulk "
                         "ends: no layer thickness can be measured")
    half = 0.5 * (q_s0 + q_b0)
    cross = np.flatnonzero(np.diff(np.sign(q - half)) != 0)
    d0_guess = float(d[cross[0]]) if cross.size else float(np.median(d))
    step = float(np.median(np.diff(d))) if d.size > 1 else 1.0
    try:
        popt, pcov = curve_fit(_step_model, d, q, p0=[q_s0, q_b0, d0_guess, 2 * step], sigma=s,
                               absolute_sigma=True,
                               bounds=([-np.inf, -np.inf, d[0], step / 10],
                                       [np.inf, np.inf, d[-1], d[-1] - d[0]]))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"the tanh step fit did not converge: {exc}") from exc
    chi2 = float(np.sum(((q - _step_model(d, *popt)) / s) ** 2) / max(d.size - 4, 1))
    scale = np.sqrt(max(chi2, 1.0))
    return LayerThickness(float(popt[2] - surface_distance), float(np.sqrt(pcov[2, 2]) * scale),
                          float(popt[0]), float(popt[1]), float(abs(popt[3])), chi2, int(d.size))
