"""Spectrum-image navigator: a navigation image with ROI tools beside a spectrum view.

The widget shows what it is given and reports what the user does; it computes nothing
from the data (the app's controller does, and calls the display methods back).
All geometry is in the calibrated units of the navigation axes.

Signals
-------
pixelHovered(int, int)
    Row and column under the mouse, emitted only when the pixel changes.
pixelSelected(int, int)
    A pixel pinned by a left click (marked with a cross).
regionChanged(object), regionFinished(object)
    The :class:`RectangleROI` on every move of the rectangle, and when a drag ends.
energyWindowChanged(float, float)
    (lo, hi) of the energy-window span, on every move.
lineChanged(object)
    The :class:`LineROI` (with the width of the spin box) on every change.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import LineROI, RectangleROI

from .image_view import ImageView
from .spectrum_view import SpectrumView

ROI_PEN = pg.mkPen("#ffb000", width=2)
MARKER_PEN = pg.mkPen("#ff2020", width=2)


class SpectrumImageNavigator(QWidget):
    """Navigation image + spectrum + (when a line exists) line-scan view."""

    pixelHovered = Signal(int, int)
    pixelSelected = Signal(int, int)
    regionChanged = Signal(object)
    regionFinished = Signal(object)
    energyWindowChanged = Signal(float, float)
    lineChanged = Signal(object)

    MAP_ENTRY = "Energy-window map"
    WINDOW_SPAN = "Energy window"

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images: dict[str, np.ndarray] = {}
        self._nav_axes: tuple[AxisCalibration, AxisCalibration] | None = None
        self._shown_axes = None
        self._map_title = self.MAP_ENTRY
        self._energy_axis: AxisCalibration | None = None
        self._hovered: tuple[int, int] | None = None
        self.rect_roi: pg.RectROI | None = None
        self.line_roi: pg.LineSegmentROI | None = None
        self.energy_span: pg.LinearRegionItem | None = None

        self.image_view = ImageView()
        self.spectrum_view = SpectrumView()
        self.line_view = ImageView()
        self.line_view.plot.setAspectLocked(False)      # position vs energy: no common unit
        self.line_view.hide()
        self.marker = pg.ScatterPlotItem(symbol="+", size=16, pen=MARKER_PEN, brush=None)
        self.marker.setZValue(20)
        self.marker.hide()
        self.image_view.plot.addItem(self.marker)
        self._build_toolbar()

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.spectrum_view)
        right.addWidget(self.line_view)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.image_view)
        split.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._toolbar)
        layout.addWidget(split, 1)

        self.image_view.cursorMoved.connect(self._cursor_moved)
        self.image_view.plot.scene().sigMouseClicked.connect(self._clicked)
        self.spectrum_view.spanChanged.connect(self._span_changed)

    def _build_toolbar(self) -> None:
        self.image_combo = QComboBox(toolTip="What the navigation image shows")
        self.image_combo.currentTextChanged.connect(self._show_current)
        self.rect_button = self._tool_button("Rectangle ROI", self.add_rectangle,
                                             self.remove_rectangle)
        self.line_button = self._tool_button("Line scan", self.add_line, self.remove_line)
        self.width_spin = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1e9,
                                         toolTip="Line-scan width (0: one pixel)")
        self.width_spin.valueChanged.connect(self._emit_line)
        self.window_button = self._tool_button("Energy window", self.add_energy_window,
                                               self.remove_energy_window)
        self._toolbar = bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (self.image_combo, self.rect_button, self.line_button, QLabel("Width"),
                  self.width_spin, self.window_button):
            bar.addWidget(w)
        bar.addStretch(1)

    @staticmethod
    def _tool_button(text: str, add, remove) -> QPushButton:
        """A checkable button: checked adds the tool, unchecked removes it."""
        button = QPushButton(text, checkable=True)
        button.toggled.connect(lambda on: add() if on else remove())
        return button

    # ------------------------------------------------------------------ images
    def set_navigation_images(self, images: dict, axes) -> None:
        """Offer ``images`` (name → (ny, nx) array) in the combo, on ``axes`` = (y, x)."""
        axes = tuple(axes)
        for name, image in images.items():
            if np.shape(image) != (axes[0].size, axes[1].size):
                raise ValueError(f"navigation image {name!r} of shape {np.shape(image)} does not "
                                 f"match axes ({axes[0].size}, {axes[1].size})")
        kept = {self.MAP_ENTRY: self._images[self.MAP_ENTRY]} if (
            axes == self._nav_axes and self.MAP_ENTRY in self._images) else {}
        current = self.image_combo.currentText()
        self._images = {**{n: np.asarray(i) for n, i in images.items()}, **kept}
        self._nav_axes = axes
        self.width_spin.setSingleStep(abs(axes[1].scale))
        self.width_spin.setSuffix(f" {axes[1].units}" if axes[1].units else " px")
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(list(self._images))
        self.image_combo.setCurrentText(current if current in self._images
                                        else next(iter(self._images), ""))
        self.image_combo.blockSignals(False)
        self._show_current()

    def show_map(self, image, title: str = "") -> None:
        """Show an energy-window map (adds/updates the "Energy-window map" entry)."""
        if self._nav_axes is None:
            raise ValueError("set_navigation_images must be called before show_map")
        self._images[self.MAP_ENTRY] = np.asarray(image)
        self._map_title = title or self.MAP_ENTRY
        if self.image_combo.findText(self.MAP_ENTRY) < 0:
            self.image_combo.addItem(self.MAP_ENTRY)
        if self.image_combo.currentText() == self.MAP_ENTRY:
            self._show_current()
        else:
            self.image_combo.setCurrentText(self.MAP_ENTRY)

    def _show_current(self, *_) -> None:
        name = self.image_combo.currentText()
        if name not in self._images:
            return
        vb = self.image_view.plot.vb
        keep = self._shown_axes == self._nav_axes
        ranges = vb.viewRange()
        title = self._map_title if name == self.MAP_ENTRY else name
        self.image_view.set_image(self._images[name], self._nav_axes, title=title)
        if keep:      # a new map while dragging the window must not reset the zoom
            vb.setRange(xRange=ranges[0], yRange=ranges[1], padding=0)
        self._shown_axes = self._nav_axes

    # ------------------------------------------------------------------ pixels
    def pixel_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of the pixel at calibrated (x, y), None outside the image."""
        if self._nav_axes is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        ay, ax = self._nav_axes
        row, col = math.floor(ay.index_of(y) + 0.5), math.floor(ax.index_of(x) + 0.5)
        return (row, col) if 0 <= row < ay.size and 0 <= col < ax.size else None

    def _cursor_moved(self, x: float, y: float, _value: float) -> None:
        pixel = self.pixel_at(x, y)
        if pixel is not None and pixel != self._hovered:
            self.pixelHovered.emit(*pixel)
        self._hovered = pixel

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.image_view.plot.vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        pixel = self.pixel_at(p.x(), p.y())
        if pixel is not None:
            self.select_pixel(*pixel)

    def select_pixel(self, row: int, col: int) -> None:
        """Pin pixel (row, col): draw the cross and emit :attr:`pixelSelected`."""
        ay, ax = self._nav_axes
        self.marker.setData([ax.offset + ax.scale * col], [ay.offset + ay.scale * row])
        self.marker.show()
        self.pixelSelected.emit(int(row), int(col))

    # ------------------------------------------------------------------ rectangle
    def add_rectangle(self, rect: RectangleROI | None = None) -> pg.RectROI:
        """Add the rectangle ROI (default: the central quarter, on pixel edges)."""
        ay, ax = self._require_axes()
        if rect is None:
            r0, c0 = ay.size // 4, ax.size // 4
            r1, c1 = max(r0 + 1, 3 * ay.size // 4), max(c0 + 1, 3 * ax.size // 4)
            edge = lambda axis, i: axis.offset + axis.scale * (i - 0.5)  # noqa: E731
            rect = RectangleROI(edge(ax, c0), edge(ay, r0), edge(ax, c1), edge(ay, r1))
        self.remove_rectangle()
        x0, x1 = sorted((rect.x0, rect.x1))
        y0, y1 = sorted((rect.y0, rect.y1))
        roi = pg.RectROI((x0, y0), (x1 - x0, y1 - y0), pen=ROI_PEN, rotatable=False)
        roi.addScaleHandle([0, 0], [1, 1])
        roi.sigRegionChanged.connect(lambda *_: self.regionChanged.emit(self.rectangle))
        roi.sigRegionChangeFinished.connect(lambda *_: self.regionFinished.emit(self.rectangle))
        self.rect_roi = roi
        self.image_view.plot.addItem(roi)
        self._set_checked(self.rect_button, True)
        self.regionChanged.emit(self.rectangle)
        self.regionFinished.emit(self.rectangle)
        return roi

    @property
    def rectangle(self) -> RectangleROI | None:
        """The rectangle ROI in calibrated coordinates, None if there is none."""
        if self.rect_roi is None:
            return None
        pos, size = self.rect_roi.pos(), self.rect_roi.size()
        x0, x1 = sorted((pos.x(), pos.x() + size.x()))
        y0, y1 = sorted((pos.y(), pos.y() + size.y()))
        return RectangleROI(x0, y0, x1, y1)

    def remove_rectangle(self) -> None:
        if self.rect_roi is not None:
            self.image_view.plot.removeItem(self.rect_roi)
            self.rect_roi = None
        self._set_checked(self.rect_button, False)

    # ------------------------------------------------------------------ line
    def add_line(self, line: LineROI | None = None) -> pg.LineSegmentROI:
        """Add the line-scan ROI (default: across the middle row); sets the width box."""
        ay, ax = self._require_axes()
        if line is None:
            y = ay.offset + ay.scale * (ay.size // 2)
            line = LineROI(ax.offset + ax.scale * (ax.size // 8), y,
                           ax.offset + ax.scale * (7 * ax.size // 8), y, 0.0)
        self.remove_line()
        roi = pg.LineSegmentROI([(line.x0, line.y0), (line.x1, line.y1)], pen=ROI_PEN)
        roi.sigRegionChanged.connect(self._emit_line)
        self.line_roi = roi
        self.image_view.plot.addItem(roi)
        self._set_checked(self.line_button, True)
        self.width_spin.blockSignals(True)
        self.width_spin.setValue(line.width)
        self.width_spin.blockSignals(False)
        self._emit_line()
        return roi

    @property
    def line(self) -> LineROI | None:
        """The line ROI in calibrated coordinates with the current width, None if none."""
        if self.line_roi is None:
            return None
        (p0, p1) = [self.line_roi.mapToParent(h.pos()) for h in self.line_roi.getHandles()]
        return LineROI(p0.x(), p0.y(), p1.x(), p1.y(), float(self.width_spin.value()))

    def _emit_line(self, *_) -> None:
        if self.line_roi is not None:
            self.lineChanged.emit(self.line)

    def remove_line(self) -> None:
        if self.line_roi is not None:
            self.image_view.plot.removeItem(self.line_roi)
            self.line_roi = None
        self.line_view.hide()
        self._set_checked(self.line_button, False)

    def show_line_scan(self, spectra, position_axis: AxisCalibration) -> None:
        """Show line-scan spectra (n_positions, n_energy) in the third view."""
        if self._energy_axis is None:
            raise ValueError("set_energy_axis must be called before show_line_scan")
        self.line_view.set_image(spectra, (position_axis, self._energy_axis), title="Line scan")
        self.line_view.show()

    # ------------------------------------------------------------------ spectrum side
    def set_energy_axis(self, axis: AxisCalibration) -> None:
        """Calibration of the spectra shown; traces of another length are removed."""
        if self._energy_axis is not None and axis.size != self._energy_axis.size:
            self.spectrum_view.clear()
        self._energy_axis = axis

    def show_spectrum(self, name: str, spectrum) -> None:
        """Add or replace the spectrum trace ``name`` (e.g. "ROI sum")."""
        if self._energy_axis is None:
            raise ValueError("set_energy_axis must be called before show_spectrum")
        self.spectrum_view.set_trace(name, spectrum, self._energy_axis)

    def remove_spectrum(self, name: str) -> None:
        self.spectrum_view.remove_trace(name)

    def add_energy_window(self, lo: float | None = None, hi: float | None = None):
        """Add the energy-window span (default: the middle tenth of the axis)."""
        e = self._energy_axis
        if e is None:
            raise ValueError("set_energy_axis must be called before add_energy_window")
        if lo is None or hi is None:
            mid, half = (e.offset + e.high) / 2, abs(e.high - e.offset) / 20
            lo, hi = mid - half, mid + half
        self.energy_span = self.spectrum_view.add_span(self.WINDOW_SPAN, lo, hi)
        self._set_checked(self.window_button, True)
        self.energyWindowChanged.emit(*map(float, self.energy_span.getRegion()))
        return self.energy_span

    def _span_changed(self, name: str, lo: float, hi: float) -> None:
        if name == self.WINDOW_SPAN:
            self.energyWindowChanged.emit(lo, hi)

    def remove_energy_window(self) -> None:
        self.spectrum_view.remove_span(self.WINDOW_SPAN)
        self.energy_span = None
        self._set_checked(self.window_button, False)

    def clear_regions(self) -> None:
        """Remove the rectangle, the line (and its view) and the energy window."""
        self.remove_rectangle()
        self.remove_line()
        self.remove_energy_window()

    # ------------------------------------------------------------------ helpers
    def _require_axes(self):
        if self._nav_axes is None:
            raise ValueError("set_navigation_images must be called before adding regions")
        return self._nav_axes

    @staticmethod
    def _set_checked(button: QPushButton, on: bool) -> None:
        button.blockSignals(True)
        button.setChecked(on)
        button.blockSignals(False)
