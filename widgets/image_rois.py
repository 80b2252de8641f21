"""Region-of-interest tools on an ImageView: draw, drag, and report calibrated geometry."""
from __future__ import annotations

import functools
import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from batteryscope.analysis.roi_geometry import EllipseROI, LineROI, PolygonROI, RectangleROI

from .image_view import ImageView

#: Name prefix of each ROI kind ("R1", "E1", "P1", "L1").
KIND_PREFIX = {"rectangle": "R", "ellipse": "E", "polygon": "P", "line": "L"}
ROI_COLOURS = ("#ffd400", "#00e5ff", "#ff4fd8", "#7dff4f", "#ff8c1a", "#b18cff")


class _AxisAlignedEllipse(pg.EllipseROI):
    """pyqtgraph's ellipse without the rotate handle: one scale handle per semi-axis."""

    def _addHandles(self):
        self.addScaleHandle([1.0, 0.5], [0.5, 0.5])
        self.addScaleHandle([0.5, 1.0], [0.5, 0.5])
        self.addScaleHandle([0.5 * 2 ** -0.5 + 0.5] * 2, [0.5, 0.5])


def roi_geometry(kind: str, roi: pg.ROI, pixel: float = 0.0):
    """The :mod:`batteryscope.analysis.roi_geometry` value of a pyqtgraph ROI.

    Parameters
    ----------
    kind : {"rectangle", "ellipse", "polygon", "line"}
    roi : pyqtgraph.ROI
        In the coordinates of the view it was added to.
    pixel : float
        Pixel size in those coordinates: a line no wider than one pixel has width 0.
    """
    pos, size = roi.pos(), roi.size()
    if kind == "rectangle":
        xs, ys = sorted((pos.x(), pos.x() + size.x())), sorted((pos.y(), pos.y() + size.y()))
        return RectangleROI(xs[0], ys[0], xs[1], ys[1])
    if kind == "ellipse":
        return EllipseROI(pos.x() + size.x() / 2, pos.y() + size.y() / 2,
                          abs(size.x()) / 2, abs(size.y()) / 2)
    if kind == "polygon":
        points = (roi.mapToParent(h.pos()) for h in roi.getHandles())
        return PolygonROI(tuple((p.x(), p.y()) for p in points))
    if kind == "line":
        a = roi.mapToParent(QPointF(0.0, size.y() / 2))
        b = roi.mapToParent(QPointF(size.x(), size.y() / 2))
        width = abs(size.y()) if abs(size.y()) > pixel * (1 + 1e-6) else 0.0
        return LineROI(a.x(), a.y(), b.x(), b.y(), width)
    raise ValueError(f"unknown ROI kind {kind!r}")


class ImageRoiTools(QWidget):
    """A row of buttons that put ROIs on an :class:`ImageView`, plus the same as an API.

    Geometry is in the view's :attr:`ImageView.display_axes` units. New shapes are placed
    in the centre of the visible area, a fifth of its size; the user drags and reshapes
    them (polygon vertices too; a right-click on a ROI offers "Remove").

    Signals
    -------
    roiChanged(str, object)
        Name and geometry, on creation and continuously while the ROI is dragged.
    roiRemoved(str)
        Name of a removed ROI.
    """

    roiChanged = Signal(str, object)
    roiRemoved = Signal(str)

    def __init__(self, image_view: ImageView, parent=None):
        super().__init__(parent)
        self._view = image_view
        self._rois: dict[str, tuple[str, pg.ROI]] = {}
        self._counters = dict.fromkeys(KIND_PREFIX, 0)
        self._n_created = 0
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, slot in (("Rectangle", self._new_rectangle), ("Ellipse", self._new_ellipse),
                           ("Polygon", self._new_polygon), ("Line profile", self._new_line),
                           ("Clear", self.clear)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            layout.addWidget(button)
            setattr(self, f"{text.split()[0].lower()}_button", button)
        self.width_spin = QDoubleSpinBox()
        self.width_spin.setRange(0.0, 1e9)
        self.width_spin.setDecimals(3)
        self.width_spin.setToolTip("Width of new line profiles (0: one pixel)")
        layout.addWidget(QLabel("width"))
        layout.addWidget(self.width_spin)
        layout.addStretch(1)
        image_view.displayAxesChanged.connect(self._show_units)
        if image_view.display_axes is not None:
            self._show_units(image_view.display_axes)

    # ---- programmatic API -----------------------------------------------------------
    def add_rectangle(self, x0: float, y0: float, x1: float, y1: float) -> str:
        """Add a rectangle with corners (x0, y0), (x1, y1); returns its name ("R1" …)."""
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        roi = pg.RectROI((xa, ya), (xb - xa, yb - ya), sideScalers=True, removable=True)
        return self._register("rectangle", roi)

    def add_ellipse(self, cx: float, cy: float, rx: float, ry: float) -> str:
        """Add an axis-aligned ellipse; returns its name ("E1" …)."""
        rx, ry = abs(rx), abs(ry)
        roi = _AxisAlignedEllipse((cx - rx, cy - ry), (2 * rx, 2 * ry), removable=True)
        return self._register("ellipse", roi)

    def add_polygon(self, vertices) -> str:
        """Add a closed polygon through ``vertices`` [(x, y), …]; returns its name ("P1" …)."""
        vertices = [(float(x), float(y)) for x, y in vertices]
        if len(vertices) < 3:
            raise ValueError(f"a polygon needs at least 3 vertices, got {len(vertices)}")
        roi = pg.PolyLineROI(vertices, closed=True, removable=True)
        return self._register("polygon", roi)

    def add_line(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.0) -> str:
        """Add a line profile (``width`` 0: one pixel); returns its name ("L1" …)."""
        if math.hypot(x1 - x0, y1 - y0) == 0:
            raise ValueError("a line profile needs two distinct end points")
        roi = pg.LineROI((x0, y0), (x1, y1), max(abs(width), self._pixel_size()), removable=True)
        return self._register("line", roi)

    def rois(self) -> dict:
        """{name: geometry} of every ROI, in display units."""
        return {name: self.geometry(name) for name in self._rois}

    def geometry(self, name: str):
        """Geometry of the ROI ``name`` (KeyError if unknown)."""
        kind, roi = self._rois[name]
        return roi_geometry(kind, roi, self._pixel_size())

    def pg_roi(self, name: str) -> pg.ROI:
        """The pyqtgraph ROI item ``name`` (to move it from code, as a drag would)."""
        return self._rois[name][1]

    def remove(self, name: str) -> None:
        """Remove the ROI ``name`` and emit roiRemoved."""
        _, roi = self._rois.pop(name)
        self._view.plot.removeItem(roi)
        self.roiRemoved.emit(name)

    def clear(self) -> None:
        """Remove every ROI; numbering starts again at 1."""
        for name in list(self._rois):
            self.remove(name)
        self._counters = dict.fromkeys(KIND_PREFIX, 0)

    # ---- internals ------------------------------------------------------------------
    def _register(self, kind: str, roi: pg.ROI) -> str:
        self._counters[kind] += 1
        name = f"{KIND_PREFIX[kind]}{self._counters[kind]}"
        colour = ROI_COLOURS[self._n_created % len(ROI_COLOURS)]
        self._n_created += 1
        roi.setPen(pg.mkPen(colour, width=2))
        self._rois[name] = (kind, roi)
        self._view.plot.addItem(roi)
        roi.sigRegionChanged.connect(functools.partial(self._emit_changed, name))
        roi.sigRemoveRequested.connect(functools.partial(self._remove_requested, name))
        self._emit_changed(name)
        return name

    def _emit_changed(self, name: str, *args) -> None:
        if name in self._rois:
            self.roiChanged.emit(name, self.geometry(name))

    def _remove_requested(self, name: str, *args) -> None:
        if name in self._rois:
            self.remove(name)

    def _pixel_size(self) -> float:
        axes = self._view.display_axes
        return abs(axes[1].scale) if axes is not None else 1.0

    def _show_units(self, axes) -> None:
        units = axes[1].units
        self.width_spin.setSuffix(f" {units}" if units else " px")
        self.width_spin.setSingleStep(abs(axes[1].scale))

    def _visible_box(self) -> tuple[float, float, float]:
        """Centre (x, y) and a fifth of the smaller side of the visible area."""
        (x0, x1), (y0, y1) = self._view.plot.vb.viewRange()
        return (x0 + x1) / 2, (y0 + y1) / 2, min(abs(x1 - x0), abs(y1 - y0)) / 5

    def _new_rectangle(self) -> None:
        cx, cy, d = self._visible_box()
        self.add_rectangle(cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2)

    def _new_ellipse(self) -> None:
        cx, cy, d = self._visible_box()
        self.add_ellipse(cx, cy, d / 2, d / 2)

    def _new_polygon(self) -> None:
        cx, cy, d = self._visible_box()
        angles = [2 * math.pi * k / 5 - math.pi / 2 for k in range(5)]
        self.add_polygon([(cx + d / 2 * math.cos(a), cy + d / 2 * math.sin(a)) for a in angles])

    def _new_line(self) -> None:
        cx, cy, d = self._visible_box()
        self.add_line(cx - d, cy, cx + d, cy, self.width_spin.value())
