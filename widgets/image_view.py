"""A calibrated image view: pyqtgraph image with physical axes, contrast histogram, readout."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from batteryscope.analysis.calibration import AxisCalibration

from .axis_label import axis_label


class ImageView(QWidget):
    """Shows one 2-D array with calibrated axes (y, x in array order).

    Signals
    -------
    cursorMoved(float, float, float)
        Calibrated x, y and the value under the cursor (NaN outside the image).
    """

    cursorMoved = Signal(float, float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image = None
        self._axes = None
        self._glw = pg.GraphicsLayoutWidget()
        self.plot = self._glw.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image_item)
        self.histogram = pg.HistogramLUTItem(image=self.image_item)
        self.histogram.gradient.loadPreset("grey")
        self._glw.addItem(self.histogram)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._glw)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    def set_image(self, image, axes: tuple[AxisCalibration, AxisCalibration], *,
                  levels=None, title: str = "") -> None:
        """Display ``image`` (y, x) with calibrations ``axes`` = (y_axis, x_axis)."""
        image = np.ascontiguousarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"ImageView needs a 2-D array, got shape {image.shape}")
        self._image, self._axes = image, axes
        if levels is None:
            finite = image[np.isfinite(image)]
            levels = np.percentile(finite, (0.5, 99.5)) if finite.size else (0.0, 1.0)
            if levels[1] <= levels[0]:
                levels = (levels[0], levels[0] + 1.0)
        self.image_item.setImage(image, levels=tuple(float(v) for v in levels))
        ay, ax = axes
        self.image_item.setRect(QRectF(ax.offset - ax.scale / 2, ay.offset - ay.scale / 2,
                                       ax.scale * ax.size, ay.scale * ay.size))
        self.plot.setLabel("bottom", axis_label(ax))
        self.plot.setLabel("left", axis_label(ay))
        self.plot.setTitle(title)
        self.plot.autoRange()

    def value_at(self, x: float, y: float) -> float:
        """Image value at calibrated (x, y), NaN outside."""
        if self._image is None:
            return float("nan")
        ay, ax = self._axes
        col = int(round(ax.index_of(x)))
        row = int(round(ay.index_of(y)))
        if 0 <= row < self._image.shape[0] and 0 <= col < self._image.shape[1]:
            return float(self._image[row, col])
        return float("nan")

    def _mouse_moved(self, pos: QPointF) -> None:
        if self._image is None or not self.plot.sceneBoundingRect().contains(pos):
            return
        p = self.plot.vb.mapSceneToView(pos)
        self.cursorMoved.emit(p.x(), p.y(), self.value_at(p.x(), p.y()))
