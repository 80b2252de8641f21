"""A line-profile plot: intensity against calibrated distance, with the spread across the line."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from batteryscope.analysis.line_profile import LineProfile

from .axis_label import axis_label

PROFILE_COLOUR = "#1f77b4"
BAND_BRUSH = (31, 119, 180, 60)


class LineProfileView(QWidget):
    """Plots one :class:`~batteryscope.analysis.line_profile.LineProfile`.

    The mean across the line is drawn as a curve; when more than one parallel line was
    averaged, a shaded band shows mean ± the standard deviation across the width. Gaps
    (samples off the image) are left open. Moving the mouse over the plot shows the
    distance and intensity of the nearest sample in :attr:`readout_label`.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._profile: LineProfile | None = None
        self._name = ""
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        invisible = pg.mkPen((0, 0, 0, 0))
        self._upper = pg.PlotCurveItem(pen=invisible, connect="finite")
        self._lower = pg.PlotCurveItem(pen=invisible, connect="finite")
        self.band = pg.FillBetweenItem(self._upper, self._lower, brush=BAND_BRUSH)
        self.curve = pg.PlotDataItem(pen=pg.mkPen(PROFILE_COLOUR, width=1.5), connect="finite")
        for item in (self._upper, self._lower, self.band, self.curve):
            self.plot.addItem(item)
        self.readout_label = QLabel("")
        # the title lives in a wrapping label: as a plot title it would set the dock's
        # minimum width and push the plot's right edge out of a narrow panel
        self.title_label = QLabel("")
        self.title_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title_label)
        layout.addWidget(self.plot_widget)
        layout.addWidget(self.readout_label)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    def set_profile(self, profile: LineProfile, name: str = "L1") -> None:
        """Show ``profile``, titled with ``name``, the line's length and its width."""
        axis = profile.distance_axis
        distance = axis.values()
        values = np.asarray(profile.values, dtype=np.float64)
        if values.shape != (axis.size,):
            raise ValueError(f"profile values of shape {values.shape} do not match the "
                             f"distance axis of size {axis.size}")
        self._profile, self._name = profile, name
        self.curve.setData(distance, values)
        show_band = profile.n_across > 1
        std = np.asarray(profile.std_across, dtype=np.float64)
        for item, sign in ((self._upper, 1.0), (self._lower, -1.0)):
            if show_band:
                item.setData(distance, values + sign * std)
            else:
                item.setData([], [])  # stale band data would still count in auto-range
        self.band.setVisible(show_band)
        self.plot.setLabel("bottom", axis_label(axis))
        self.plot.setLabel("left", "Intensity")
        self.title_label.setText(self.title_text())
        self.readout_label.setText("")
        self.plot.enableAutoRange()

    def profile(self) -> LineProfile | None:
        """The profile shown last (None after :meth:`clear`), e.g. for CSV export."""
        return self._profile

    def clear(self) -> None:
        """Remove the profile from the plot."""
        self._profile, self._name = None, ""
        for item in (self.curve, self._upper, self._lower):
            item.setData([], [])
        self.band.setVisible(False)
        self.title_label.setText("")
        self.readout_label.setText("")

    def title_text(self) -> str:
        """ "L1: length 12.3 nm, width 1.5 nm (5 lines)" for the shown profile, "" if none."""
        p = self._profile
        if p is None:
            return ""
        units = p.distance_axis.units or "px"
        text = f"{self._name}: length {p.length:.4g} {units}"
        if p.n_across > 1:
            text += f", width {p.line.width:.3g} {units} ({p.n_across} lines)"
        return text

    def readout(self, distance: float) -> str:
        """ "d = 1.23 nm  I = 456" for the sample nearest ``distance``; "" when off the profile."""
        p = self._profile
        if p is None or not np.isfinite(distance):
            return ""
        i = int(round(p.distance_axis.index_of(distance)))
        if not 0 <= i < p.distance_axis.size:
            return ""
        units = p.distance_axis.units or "px"
        d = p.distance_axis.offset + p.distance_axis.scale * i
        return f"d = {d:.3g} {units}  I = {p.values[i]:.4g}"

    def _mouse_moved(self, pos: QPointF) -> None:
        if self._profile is None or not self.plot.vb.sceneBoundingRect().contains(pos):
            return
        self.readout_label.setText(self.readout(self.plot.vb.mapSceneToView(pos).x()))
