"""A calibrated image view: pyqtgraph image with physical axes, contrast, colour map, scale bar."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.length_units import (convert_length_axis, display_length_units,
                                                nm_per_unit)

from .axis_label import axis_label
from .colormaps import COLORMAPS, colormap, lookup_table
from .scale_bar import ScaleBar

TITLE_CHARS = 60

#: Percentile levels are computed on at most this many pixels (a regular subsample).
_LEVEL_SAMPLES = 1 << 20
#: Entries of the image lookup table: 256 keeps pyqtgraph on its indexed-8-bit fast path.
_LUT_SIZE = 256
#: Fastest histogram refresh while frames are streamed through :meth:`ImageView.set_frame`.
_HISTOGRAM_INTERVAL_MS = 250


def display_axes_for(axes: tuple[AxisCalibration, AxisCalibration]) -> tuple[AxisCalibration, AxisCalibration]:
    """``axes`` converted to the Å, nm or µm that suit the field of view (lengths only).

    Both axes get the same units, chosen from the larger extent; axes that are not both
    lengths are returned unchanged.
    """
    ay, ax = axes
    fy, fx = nm_per_unit(ay.units), nm_per_unit(ax.units)
    if fy is None or fx is None:
        return ay, ax
    extent_nm = max(abs(ay.scale) * ay.size * fy, abs(ax.scale) * ax.size * fx)
    units = display_length_units(extent_nm, "nm")
    return convert_length_axis(ay, units), convert_length_axis(ax, units)


def percentile_levels(image: np.ndarray, low_pct: float, high_pct: float) -> tuple[float, float]:
    """(low, high) percentiles of the finite values, on a subsample of large images."""
    flat = image.reshape(-1)
    if flat.size > _LEVEL_SAMPLES:
        flat = flat[:: math.ceil(flat.size / _LEVEL_SAMPLES)]
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, (low_pct, high_pct)))
    return (lo, lo + 1.0) if hi <= lo else (lo, hi)


def _display_array(image) -> np.ndarray:
    """C-contiguous uint8/uint16/float32 (pyqtgraph's fast paths); other dtypes → float32."""
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    return np.ascontiguousarray(image)


class ImageView(QWidget):
    """Shows one 2-D array with calibrated axes (y, x in array order).

    Lengths are shown in the Å, nm or µm that suit the field of view (:attr:`display_axes`);
    every coordinate the view emits or accepts is in those display units.

    Signals
    -------
    cursorMoved(float, float, float)
        x, y (display units) and the value under the cursor (NaN outside the image).
    levelsChanged(float, float)
        Black and white levels, whenever they change (histogram drag or code).
    colormapChanged(str), gammaChanged(float)
        The lookup table changed (set_colormap, set_gamma).
    displayAxesChanged(object)
        New ``(y_axis, x_axis)`` display calibrations after :meth:`set_image`.
    """

    cursorMoved = Signal(float, float, float)
    levelsChanged = Signal(float, float)
    colormapChanged = Signal(str)
    gammaChanged = Signal(float)
    displayAxesChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image = None
        self._axes = None  # display axes: the units of every emitted coordinate
        self._data_axes = None  # the calibrations given to set_image
        self._colormap_name, self._base_cmap, self._gamma = "gray", colormap("gray"), 1.0
        self._auto_percentiles = (0.5, 99.5)
        self._last_levels = None
        self._glw = pg.GraphicsLayoutWidget()
        self.plot = self._glw.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # units are in the label
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image_item)
        self.histogram = pg.HistogramLUTItem(image=self.image_item)
        # The gradient only shows our lookup table: colour maps are chosen through
        # set_colormap (ContrastPanel), not the gradient's own menu or ticks.
        gradient = self.histogram.gradient
        gradient.sigGradientChanged.disconnect(self.histogram.gradientChanged)
        gradient.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.histogram.sigLevelsChanged.connect(self._histogram_levels_changed)
        self._glw.addItem(self.histogram)
        self.scale_bar = ScaleBar(self.plot.vb)
        self._histogram_timer = QTimer(self, singleShot=True, interval=_HISTOGRAM_INTERVAL_MS)
        self._histogram_timer.timeout.connect(self._refresh_histogram)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._glw)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self._apply_lookup_table()

    # ---- data -----------------------------------------------------------------------
    def set_image(self, image, axes: tuple[AxisCalibration, AxisCalibration], *,
                  levels=None, title: str = "") -> None:
        """Display ``image`` (y, x) with calibrations ``axes`` = (y_axis, x_axis).

        ``levels`` = (black, white); None takes the last auto-levels percentiles.
        Length axes are shown in display units (see :attr:`display_axes`).
        """
        image = _display_array(image)
        if image.ndim != 2:
            raise ValueError(f"ImageView needs a 2-D array, got shape {image.shape}")
        if image.shape != (axes[0].size, axes[1].size):
            raise ValueError(f"image of shape {image.shape} does not match axes "
                             f"({axes[0].size}, {axes[1].size})")
        self._image, self._data_axes = image, tuple(axes)
        self._axes = display_axes_for(axes)
        if levels is None:
            levels = percentile_levels(image, *self._auto_percentiles)
        self.image_item.setImage(image, levels=tuple(float(v) for v in levels))
        ay, ax = self._axes
        self.image_item.setRect(QRectF(ax.offset - ax.scale / 2, ay.offset - ay.scale / 2,
                                       ax.scale * ax.size, ay.scale * ay.size))
        self.plot.setAspectLocked(ax.units == ay.units)
        self.plot.setLabel("bottom", axis_label(ax))
        self.plot.setLabel("left", axis_label(ay))
        # a long title would widen the plot beyond its widget and push the histogram out
        self.plot.setTitle(title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…")
        self.setToolTip(title)
        # a scale bar only means something when both axes are lengths (not position × energy)
        both_lengths = nm_per_unit(ax.units) is not None and nm_per_unit(ay.units) is not None
        self.scale_bar.set_length_units(ax.units if both_lengths else None)
        self.plot.autoRange()
        self.displayAxesChanged.emit(self._axes)

    def set_frame(self, image) -> None:
        """Replace the pixels with another frame of the same shape, for playback.

        Axes, levels, colour map and zoom are kept; nothing is rescanned (no percentiles,
        no auto-range) and the histogram is refreshed at most every 250 ms. Pass
        C-contiguous uint16 or float32 frames to avoid a copy.
        """
        if self._image is None:
            raise RuntimeError("set_image must be called before set_frame")
        frame = _display_array(image)
        if frame.shape != self._image.shape:
            raise ValueError(f"frame of shape {frame.shape} does not match the image "
                             f"{self._image.shape}; use set_image for a new shape")
        self._image = frame
        blocked = self.image_item.blockSignals(True)  # keeps the histogram from rescanning
        try:
            self.image_item.setImage(frame, autoLevels=False)
        finally:
            self.image_item.blockSignals(blocked)
        if not self._histogram_timer.isActive():
            self._histogram_timer.start()

    @property
    def display_axes(self) -> tuple[AxisCalibration, AxisCalibration] | None:
        """(y_axis, x_axis) as shown: the units of cursor positions and ROI geometry."""
        return self._axes

    @property
    def data_axes(self) -> tuple[AxisCalibration, AxisCalibration] | None:
        """(y_axis, x_axis) as given to :meth:`set_image`."""
        return self._data_axes

    @property
    def image(self) -> np.ndarray | None:
        """The frame shown (uint8, uint16 or float32), or None."""
        return self._image

    def value_at(self, x: float, y: float) -> float:
        """Image value at (x, y) in display units, NaN outside."""
        if self._image is None:
            return float("nan")
        ay, ax = self._axes
        col = int(round(ax.index_of(x)))
        row = int(round(ay.index_of(y)))
        if 0 <= row < self._image.shape[0] and 0 <= col < self._image.shape[1]:
            return float(self._image[row, col])
        return float("nan")

    # ---- contrast -------------------------------------------------------------------
    def levels(self) -> tuple[float, float]:
        """Current (black, white) levels."""
        lo, hi = self.histogram.getLevels()
        return float(lo), float(hi)

    def set_levels(self, lo: float, hi: float) -> None:
        """Set the black and white levels (swapped if given in the wrong order)."""
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"levels must be finite, got ({lo}, {hi})")
        lo, hi = sorted((float(lo), float(hi)))
        self.histogram.setLevels(lo, hi)

    def auto_levels(self, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
        """Levels at the given percentiles of the current frame; also used by later images."""
        if not 0.0 <= low_pct < high_pct <= 100.0:
            raise ValueError(f"need 0 <= low < high <= 100, got {low_pct}, {high_pct}")
        self._auto_percentiles = (float(low_pct), float(high_pct))
        if self._image is None:
            return self.levels()
        lo, hi = percentile_levels(self._image, low_pct, high_pct)
        self.set_levels(lo, hi)
        return lo, hi

    @property
    def colormap_name(self) -> str:
        """Name of the colour map, from :data:`COLORMAPS`."""
        return self._colormap_name

    @property
    def colormap(self) -> pg.ColorMap:
        """The colour map (before gamma)."""
        return self._base_cmap

    def set_colormap(self, name: str) -> None:
        """Use the colour map ``name`` (one of :data:`COLORMAPS`)."""
        if name not in COLORMAPS:
            raise ValueError(f"unknown colour map {name!r}; known: {', '.join(COLORMAPS)}")
        self._colormap_name, self._base_cmap = name, colormap(name)
        self._apply_lookup_table()
        self.colormapChanged.emit(name)

    @property
    def gamma(self) -> float:
        """Display gamma of the lookup table."""
        return self._gamma

    def set_gamma(self, gamma: float) -> None:
        """Apply ``gamma`` through the lookup table (the data are not changed)."""
        if not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma must be positive and finite, got {gamma}")
        if gamma == self._gamma:
            return
        self._gamma = float(gamma)
        self._apply_lookup_table()
        self.gammaChanged.emit(self._gamma)

    def lookup_table(self) -> np.ndarray:
        """The uint8 (256, 3) table mapping black…white levels to colours (gamma applied)."""
        return self.image_item.lut

    # ---- internals ------------------------------------------------------------------
    def _apply_lookup_table(self) -> None:
        self.image_item.setLookupTable(lookup_table(self._base_cmap, self._gamma, n=_LUT_SIZE))
        shown = lookup_table(self._base_cmap, self._gamma, n=33)
        self.histogram.gradient.setColorMap(pg.ColorMap(np.linspace(0.0, 1.0, 33), shown))
        self.histogram.gradient.showTicks(False)

    def _histogram_levels_changed(self, *args) -> None:
        levels = self.levels()
        if levels != self._last_levels:
            self._last_levels = levels
            self.levelsChanged.emit(*levels)

    def _refresh_histogram(self) -> None:
        self.histogram.imageChanged(autoLevel=False)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self._image is None or not self.plot.sceneBoundingRect().contains(pos):
            return
        p = self.plot.vb.mapSceneToView(pos)
        self.cursorMoved.emit(p.x(), p.y(), self.value_at(p.x(), p.y()))
