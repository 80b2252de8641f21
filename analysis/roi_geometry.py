"""Regions of interest in calibrated coordinates, and the pixels they cover.

Geometry is stored in the calibrated units of the axes it was drawn on (so it
survives zooming and can be saved with a result). A pixel belongs to a region when
its *centre* lies inside it; ``AxisCalibration.values()`` are pixel centres.
Axes are passed as ``(y_axis, x_axis)``, in array order, everywhere.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .calibration import AxisCalibration, check_calibrated_image
from .length_units import nm_per_unit


def _index_range(axis: AxisCalibration, lo: float, hi: float) -> tuple[int, int]:
    """[start, stop) of the samples of ``axis`` whose centres lie in [lo, hi]."""
    a, b = sorted((axis.index_of(lo), axis.index_of(hi)))
    start = max(0, math.ceil(a - 1e-9))
    stop = min(axis.size, math.floor(b + 1e-9) + 1)
    return start, max(start, stop)


@dataclass(frozen=True)
class RectangleROI:
    """Axis-aligned rectangle from (x0, y0) to (x1, y1), calibrated."""

    x0: float
    y0: float
    x1: float
    y1: float
    kind = "rectangle"

    def pixel_slices(self, y_axis: AxisCalibration, x_axis: AxisCalibration) -> tuple[slice, slice]:
        """(rows, columns) slices of the pixels whose centres are inside."""
        r0, r1 = _index_range(y_axis, self.y0, self.y1)
        c0, c1 = _index_range(x_axis, self.x0, self.x1)
        return slice(r0, r1), slice(c0, c1)

    def mask(self, y_axis: AxisCalibration, x_axis: AxisCalibration) -> np.ndarray:
        out = np.zeros((y_axis.size, x_axis.size), dtype=bool)
        out[self.pixel_slices(y_axis, x_axis)] = True
        return out


@dataclass(frozen=True)
class EllipseROI:
    """Axis-aligned ellipse with centre (cx, cy) and semi-axes rx, ry, calibrated."""

    cx: float
    cy: float
    rx: float
    ry: float
    kind = "ellipse"

    def mask(self, y_axis: AxisCalibration, x_axis: AxisCalibration) -> np.ndarray:
        if self.rx <= 0 or self.ry <= 0:
            return np.zeros((y_axis.size, x_axis.size), dtype=bool)
        dy = (y_axis.values() - self.cy) / self.ry
        dx = (x_axis.values() - self.cx) / self.rx
        return dy[:, None] ** 2 + dx[None, :] ** 2 <= 1.0


@dataclass(frozen=True)
class PolygonROI:
    """Closed polygon through ``vertices`` ((x, y), calibrated), even-odd filled."""

    vertices: tuple[tuple[float, float], ...]
    kind = "polygon"

    def __post_init__(self):
        object.__setattr__(self, "vertices", tuple((float(x), float(y)) for x, y in self.vertices))

    def mask(self, y_axis: AxisCalibration, x_axis: AxisCalibration) -> np.ndarray:
        out = np.zeros((y_axis.size, x_axis.size), dtype=bool)
        if len(self.vertices) < 3:
            return out
        from skimage.draw import polygon as _polygon_pixels  # deferred: slow import

        v = np.asarray(self.vertices)
        rows, cols = _polygon_pixels(y_axis.index_of(v[:, 1]), x_axis.index_of(v[:, 0]),
                                     shape=out.shape)
        out[rows, cols] = True
        return out


@dataclass(frozen=True)
class LineROI:
    """Line from (x0, y0) to (x1, y1) with a full ``width`` across it, calibrated.

    ``width`` 0 means one pixel wide (no averaging across the line).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.0
    kind = "line"

    @property
    def length(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


ROI_TYPES = {cls.kind: cls for cls in (RectangleROI, EllipseROI, PolygonROI, LineROI)}


def roi_to_dict(roi) -> dict:
    """JSON-serialisable description: {"kind": ..., **fields}."""
    d = asdict(roi)
    if "vertices" in d:
        d["vertices"] = [list(v) for v in d["vertices"]]
    return {"kind": roi.kind, **d}


def roi_from_dict(d: dict):
    """Inverse of :func:`roi_to_dict` (ValueError for an unknown kind)."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in ROI_TYPES:
        raise ValueError(f"unknown ROI kind {kind!r}; known: {', '.join(ROI_TYPES)}")
    return ROI_TYPES[kind](**d)


@dataclass(frozen=True)
class RoiStatistics:
    """Statistics of the finite pixel values inside a region."""

    n_pixels: int
    mean: float
    std: float
    sum: float
    minimum: float
    maximum: float
    area: float
    area_units: str


def pixel_area(y_axis: AxisCalibration, x_axis: AxisCalibration) -> tuple[float, str]:
    """Area of one pixel, in nm² when both axes are lengths, else in their own units."""
    fy, fx = nm_per_unit(y_axis.units), nm_per_unit(x_axis.units)
    if fy is not None and fx is not None:
        return abs(y_axis.scale * fy * x_axis.scale * fx), "nm²"
    if not y_axis.units and not x_axis.units:
        return abs(y_axis.scale * x_axis.scale), "px²"
    units = y_axis.units if y_axis.units == x_axis.units else f"{y_axis.units}·{x_axis.units}"
    return abs(y_axis.scale * x_axis.scale), (f"{units}²" if y_axis.units == x_axis.units else units)


def roi_statistics(image, roi, y_axis: AxisCalibration, x_axis: AxisCalibration) -> RoiStatistics:
    """Mean, standard deviation, sum, extremes and area of ``image`` inside ``roi``.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
    roi : RectangleROI, EllipseROI or PolygonROI, in the units of the axes
    y_axis, x_axis : AxisCalibration
        Calibrations of the image rows and columns.

    Non-finite pixels are left out of the values but counted in the area.
    """
    image = check_calibrated_image(image, y_axis, x_axis, what="roi_statistics")
    if isinstance(roi, LineROI):
        raise ValueError("a line has no area; use line_profile for line statistics")
    if isinstance(roi, RectangleROI):
        values = image[roi.pixel_slices(y_axis, x_axis)].ravel()
    else:
        values = image[roi.mask(y_axis, x_axis)]
    n = int(values.size)
    per_pixel, units = pixel_area(y_axis, x_axis)
    finite = values[np.isfinite(values)].astype(np.float64)
    if finite.size == 0:
        nan = float("nan")
        return RoiStatistics(n, nan, nan, 0.0, nan, nan, n * per_pixel, units)
    return RoiStatistics(n, float(finite.mean()), float(finite.std()), float(finite.sum()),
                         float(finite.min()), float(finite.max()), n * per_pixel, units)
