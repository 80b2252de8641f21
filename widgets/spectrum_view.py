"""A calibrated spectrum view: one or more traces on a physical energy axis."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from batteryscope.analysis.calibration import AxisCalibration

from .axis_label import axis_label

TRACE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


class SpectrumView(QWidget):
    """Plots spectra against a calibrated axis, with a legend."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        self.legend = self.plot.addLegend()
        self.traces: dict[str, pg.PlotDataItem] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def set_trace(self, name: str, spectrum, axis: AxisCalibration) -> None:
        """Add or replace the trace ``name``."""
        y = np.asarray(spectrum, dtype=np.float64)
        if y.ndim != 1 or y.size != axis.size:
            raise ValueError(f"spectrum of shape {y.shape} does not match axis of size {axis.size}")
        if name in self.traces:
            self.traces[name].setData(axis.values(), y)
        else:
            pen = pg.mkPen(TRACE_COLOURS[len(self.traces) % len(TRACE_COLOURS)], width=1.5)
            self.traces[name] = self.plot.plot(axis.values(), y, pen=pen, name=name)
        self.plot.setLabel("bottom", axis_label(axis))
        self.plot.setLabel("left", "Intensity (counts)")

    def clear(self) -> None:
        for item in self.traces.values():
            self.plot.removeItem(item)
        self.legend.clear()
        self.traces.clear()
