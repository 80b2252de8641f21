"""A calibrated spectrum view: overlaid traces, energy spans, edge markers, readout.

Signals
-------
spanChanged(str, float, float)
    Name and (lo, hi) of a span, emitted on every move while it is dragged.
cursorMoved(float, float)
    Energy under the mouse and the value of the first trace at that energy (NaN if none).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from batteryscope.analysis.calibration import AxisCalibration

from .axis_label import axis_label
from .edge_marker_field import EdgeMarkerField

TRACE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
SPAN_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#17becf")
EDGE_COLOUR = "#555555"


def format_intensity(value: float) -> str:
    """Compact intensity: '812.5', '1.23e4', '-3.1e-5', 'nan'."""
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:.4g}"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10 ** exponent
    if abs(round(mantissa, 2)) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent}"


class SpectrumView(QWidget):
    """Plots spectra against a calibrated axis, with a legend and a small toolbar."""

    spanChanged = Signal(str, float, float)
    cursorMoved = Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        self.legend = self.plot.addLegend()
        self.traces: dict[str, pg.PlotDataItem] = {}
        self.spans: dict[str, pg.LinearRegionItem] = {}
        self.edge_markers: list[pg.InfiniteLine] = []
        self._axis: AxisCalibration | None = None
        self._colours: dict[str, int] = {}          # trace → index into TRACE_COLOURS
        self._trace_axes: dict[str, AxisCalibration] = {}

        self.log_check = QCheckBox("Log scale")
        self.log_check.toggled.connect(self._log_toggled)
        self.plot.ctrl.logYCheck.toggled.connect(self.log_check.setChecked)  # context menu
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        toolbar = QHBoxLayout()
        toolbar.setContentsMargins(4, 0, 4, 0)
        toolbar.addWidget(self.log_check)
        self.edge_field = EdgeMarkerField(self)
        toolbar.addWidget(self.edge_field)
        toolbar.addStretch(1)
        toolbar.addWidget(self.readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(toolbar)
        layout.addWidget(self.plot_widget)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    @property
    def axis(self) -> AxisCalibration | None:
        """Energy axis of the traces shown (None before the first trace)."""
        return self._axis

    # ------------------------------------------------------------------ traces
    def set_trace(self, name: str, spectrum, axis: AxisCalibration) -> None:
        """Add or replace the trace ``name``."""
        y = np.asarray(spectrum, dtype=np.float64)
        if y.ndim != 1 or y.size != axis.size:
            raise ValueError(f"spectrum of shape {y.shape} does not match axis of size {axis.size}")
        if name in self.traces:
            self.traces[name].setData(axis.values(), y)
        else:
            # first free colour, so a trace removed and added again keeps its colour
            used = set(self._colours.values())
            index = next(i for i in range(len(used) + 1) if i not in used)
            self._colours[name] = index
            pen = pg.mkPen(TRACE_COLOURS[index % len(TRACE_COLOURS)], width=1.5)
            self.traces[name] = self.plot.plot(axis.values(), y, pen=pen, name=name)
        self._trace_axes[name] = axis
        if axis != self._axis:
            self._axis = axis
            self.plot.setLabel("bottom", axis_label(axis))
            self.plot.setLabel("left", "Intensity (counts)")

    def remove_trace(self, name: str) -> None:
        """Remove the trace ``name`` (no error if there is none)."""
        item = self.traces.pop(name, None)
        self._colours.pop(name, None)
        self._trace_axes.pop(name, None)
        if item is not None:
            self.plot.removeItem(item)       # also takes it out of the legend

    def trace_data(self) -> list[tuple[str, AxisCalibration, np.ndarray]]:
        """(name, axis, values) of every trace in the order added, as given (not
        log-transformed), for export."""
        return [(name, self._trace_axes[name], np.array(item.getOriginalDataset()[1]))
                for name, item in self.traces.items()]

    def clear(self) -> None:
        """Remove every trace (spans and edge markers stay)."""
        for name in list(self.traces):
            self.remove_trace(name)
        self.legend.clear()

    # ------------------------------------------------------------------ log scale
    def set_log_y(self, on: bool) -> None:
        """Logarithmic intensity axis; non-positive values are left out of the curve."""
        self.log_check.setChecked(bool(on))          # toggled -> _log_toggled

    def _log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(x=False, y=on)          # PlotDataItem maps <= 0 to NaN (gap)
        self.plot.enableAutoRange(y=True)

    # ------------------------------------------------------------------ spans
    def add_span(self, name: str, lo: float, hi: float, colour=None) -> pg.LinearRegionItem:
        """Add (or move) a draggable energy span; its moves emit :attr:`spanChanged`."""
        lo, hi = sorted((float(lo), float(hi)))
        if name in self.spans:
            self.spans[name].setRegion((lo, hi))
            return self.spans[name]
        colour = pg.mkColor(colour or SPAN_COLOURS[len(self.spans) % len(SPAN_COLOURS)])
        brush = pg.mkColor(colour)
        brush.setAlpha(50)
        span = pg.LinearRegionItem(values=(lo, hi), brush=brush, pen=pg.mkPen(colour, width=1.5),
                                   swapMode="sort")
        span.setZValue(-10)
        span.sigRegionChanged.connect(lambda item, n=name: self._span_moved(n, item))
        self.plot.addItem(span)
        self.spans[name] = span
        return span

    def _span_moved(self, name: str, item: pg.LinearRegionItem) -> None:
        lo, hi = item.getRegion()
        self.spanChanged.emit(name, float(lo), float(hi))

    def remove_span(self, name: str) -> None:
        """Remove the span ``name`` (no error if there is none)."""
        span = self.spans.pop(name, None)
        if span is not None:
            self.plot.removeItem(span)

    # ------------------------------------------------------------------ edge markers
    def set_edge_markers(self, markers) -> None:
        """Dashed vertical lines with labels, e.g. ``[("O K", 532.0), ("Mn L₃", 640.0)]``."""
        self.clear_edge_markers()
        pen = pg.mkPen(EDGE_COLOUR, width=1, style=Qt.PenStyle.DashLine)
        for label, energy in markers:
            line = pg.InfiniteLine(pos=float(energy), angle=90, movable=False, pen=pen,
                                   label=str(label),
                                   labelOpts={"position": 0.92, "color": EDGE_COLOUR,
                                              "anchors": [(0, 0), (0, 0)]})
            self.plot.addItem(line, ignoreBounds=True)
            self.edge_markers.append(line)

    def clear_edge_markers(self) -> None:
        for line in self.edge_markers:
            self.plot.removeItem(line)
        self.edge_markers.clear()

    # ------------------------------------------------------------------ readout
    def value_at(self, energy: float) -> float:
        """Value of the first trace at the channel nearest ``energy`` (NaN outside)."""
        if not self.traces:
            return float("nan")
        x, y = next(iter(self.traces.values())).getOriginalDataset()
        if x is None or len(x) == 0:
            return float("nan")
        i = int(np.argmin(np.abs(x - energy)))
        step = abs(x[1] - x[0]) if len(x) > 1 else math.inf
        return float(y[i]) if abs(x[i] - energy) <= step / 2 + 1e-12 else float("nan")

    def _mouse_moved(self, pos: QPointF) -> None:
        if not self.plot.vb.sceneBoundingRect().contains(pos):
            return
        energy = float(self.plot.vb.mapSceneToView(pos).x())
        value = self.value_at(energy)
        units = f" {self._axis.units}" if self._axis and self._axis.units else ""
        self.readout.setText(f"E = {energy:.1f}{units}   I = {format_intensity(value)}")
        self.cursorMoved.emit(energy, value)
