"""A diffractogram view: log power spectrum on calibrated k axes, click a spot to read d."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from batteryscope.analysis.image_fft import ImageFFT, d_spacing, refine_peak

from .axis_label import axis_label
from .colormaps import colormap as named_colormap

MARK_COLOUR = "#00e5ff"
HINT = "Click a spot to measure its lattice spacing"
#: Peaks closer than this to the centre (pixels) are not lattice spots: the DC pixel is
#: empty (mean removed) and fewer than two periods in the field give no spacing.
MIN_K_PX = 2.0


@dataclass(frozen=True)
class SpotMeasurement:
    """One measured spot: refined k, the spacing d = 1/|k| and the angle of k from +kx."""

    kx: float
    ky: float
    d: float
    angle_deg: float
    k_units: str

    @property
    def d_units(self) -> str:
        """Units of ``d``: "nm" for k in "1/nm", "px" for "1/px"."""
        return self.k_units[2:] if self.k_units.startswith("1/") else f"1/({self.k_units})"

    def text(self) -> str:
        """ "d = 0.3472 nm (2.88 1/nm), angle 32.1°"."""
        k = math.hypot(self.kx, self.ky)
        return (f"d = {self.d:.4g} {self.d_units} ({k:.3g} {self.k_units}), "
                f"angle {self.angle_deg:.1f}°")


class FFTView(QWidget):
    """Shows an :class:`~batteryscope.analysis.image_fft.ImageFFT` and measures spots on it.

    A left click (or :meth:`measure_at`) snaps to the nearby spectral peak, marks it and
    its Friedel mate at -k with circles and a dashed ring of radius |k|, and reports the
    spacing in :attr:`result_label` and in a list of the last :attr:`max_measurements`.
    Markers and measurements survive :meth:`set_fft` (a live FFT updates every frame);
    :meth:`clear_measurements` (the Clear button) removes them.

    Parameters
    ----------
    colormap : str, optional
        A name from :data:`batteryscope.widgets.colormaps.COLORMAPS` ("inferno", "gray", ...).
    max_measurements : int, optional
        How many measurements the list keeps.

    Signals
    -------
    spacingMeasured(float, float, float)
        d (nm, or px when uncalibrated), kx and ky of the refined spot.
    """

    spacingMeasured = Signal(float, float, float)

    def __init__(self, parent=None, *, colormap: str = "inferno", max_measurements: int = 10):
        super().__init__(parent)
        self._fft: ImageFFT | None = None
        self._measurements: list[SpotMeasurement] = []
        self.max_measurements = max_measurements
        self.graphics_view = pg.GraphicsLayoutWidget()
        self.plot = self.graphics_view.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)  # same orientation as the image: +ky points down
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setColorMap(named_colormap(colormap))  # "inferno", "gray", ...
        self.plot.addItem(self.image_item)
        self.spots = pg.ScatterPlotItem(symbol="o", size=16, pen=pg.mkPen(MARK_COLOUR, width=2),
                                        brush=None)
        self.ring = pg.PlotCurveItem(pen=pg.mkPen(MARK_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        for item in (self.spots, self.ring):
            item.setZValue(10)
            self.plot.addItem(item)
        self.result_label = QLabel(HINT)
        self.measurement_list = QListWidget()
        self.measurement_list.setMaximumHeight(110)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear_measurements)
        row = QHBoxLayout()
        row.addWidget(self.result_label, 1)
        row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics_view, 1)
        layout.addLayout(row)
        layout.addWidget(self.measurement_list)
        self.plot.scene().sigMouseClicked.connect(self._mouse_clicked)

    def set_fft(self, fft: ImageFFT, title: str = "") -> None:
        """Display ``fft``; the view is re-ranged only when its axes change."""
        log_power = np.ascontiguousarray(fft.log_power, dtype=np.float32)
        if log_power.shape != (fft.ky_axis.size, fft.kx_axis.size):
            raise ValueError(f"spectrum of shape {log_power.shape} does not match axes "
                             f"({fft.ky_axis.size}, {fft.kx_axis.size})")
        new_axes = self._fft is None or (self._fft.ky_axis, self._fft.kx_axis) != (fft.ky_axis, fft.kx_axis)
        self._fft = fft
        self.image_item.setImage(log_power, levels=_display_levels(log_power))
        ky, kx = fft.ky_axis, fft.kx_axis
        self.image_item.setRect(QRectF(kx.offset - kx.scale / 2, ky.offset - ky.scale / 2,
                                       kx.scale * kx.size, ky.scale * ky.size))
        self.plot.setLabel("bottom", axis_label(kx))
        self.plot.setLabel("left", axis_label(ky))
        self.plot.setTitle(title)
        if new_axes:
            self.plot.autoRange()

    def fft(self) -> ImageFFT | None:
        """The spectrum shown."""
        return self._fft

    def measure_at(self, kx: float, ky: float) -> SpotMeasurement | None:
        """Refine the spot nearest (kx, ky), mark it, record it and emit ``spacingMeasured``.

        Returns None (and measures nothing) when no spectrum is shown or the peak found is
        within :data:`MIN_K_PX` pixels of the zero frequency, or so is the click.
        """
        if self._fft is None:
            return None
        rkx, rky = refine_peak(self._fft, kx, ky)
        if min(self._px_from_centre(kx, ky), self._px_from_centre(rkx, rky)) < MIN_K_PX:
            self.result_label.setText("Too close to the centre (fewer than 2 periods in the "
                                      "field of view): click a spot further out")
            return None
        d = d_spacing(rkx, rky)
        m = SpotMeasurement(rkx, rky, d, math.degrees(math.atan2(rky, rkx)), self._fft.kx_axis.units)
        self._mark(m)
        self._measurements = (self._measurements + [m])[-self.max_measurements:]
        self.measurement_list.insertItem(0, m.text())
        while self.measurement_list.count() > self.max_measurements:
            self.measurement_list.takeItem(self.measurement_list.count() - 1)
        self.result_label.setText(m.text())
        self.spacingMeasured.emit(m.d, m.kx, m.ky)
        return m

    def measurements(self) -> list[SpotMeasurement]:
        """The kept measurements, oldest first."""
        return list(self._measurements)

    def clear_measurements(self) -> None:
        """Forget the measurements and remove the markers."""
        self._measurements.clear()
        self.measurement_list.clear()
        self.spots.setData([], [])
        self.ring.setData([], [])
        self.result_label.setText(HINT)

    def _px_from_centre(self, kx: float, ky: float) -> float:
        return math.hypot(kx / self._fft.kx_axis.scale, ky / self._fft.ky_axis.scale)

    def _mark(self, m: SpotMeasurement) -> None:
        self.spots.setData([m.kx, -m.kx], [m.ky, -m.ky])
        theta = np.linspace(0.0, 2 * np.pi, 181)
        k = math.hypot(m.kx, m.ky)
        self.ring.setData(k * np.cos(theta), k * np.sin(theta))

    def _mouse_clicked(self, event) -> None:
        if (self._fft is None or event.button() != Qt.MouseButton.LeftButton or event.double()
                or not self.plot.vb.sceneBoundingRect().contains(event.scenePos())):
            return
        p = self.plot.vb.mapSceneToView(event.scenePos())
        ix, iy = self._fft.kx_axis.index_of(p.x()), self._fft.ky_axis.index_of(p.y())
        if -0.5 <= ix <= self._fft.kx_axis.size - 0.5 and -0.5 <= iy <= self._fft.ky_axis.size - 0.5:
            self.measure_at(p.x(), p.y())


def _display_levels(log_power: np.ndarray) -> tuple[float, float]:
    """Black at the median (the noise floor), white at the 99.9th percentile."""
    finite = log_power[np.isfinite(log_power)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, (50.0, 99.9)))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)
