"""A scale bar that stays in the bottom-right corner of an image view, and its pure spec."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from batteryscope.analysis.length_units import display_length_units, nice_length, nm_per_unit

#: Fraction of the visible field of view that a scale bar aims at.
DEFAULT_FRACTION = 0.2


def scale_bar_spec(field_width: float, units: str, *,
                   fraction: float = DEFAULT_FRACTION) -> tuple[float, str]:
    """Length and label of the scale bar for a field of view ``field_width`` wide.

    The length is the largest 1, 2 or 5 × 10^n not above ``fraction`` of the field, and
    the label is written in the Å, nm or µm that suits the field (a 3 nm field gets
    "5 Å", a 10 µm field "2 µm"). Units that are not lengths keep their own name.

    Parameters
    ----------
    field_width : float
        Visible width, in ``units`` (> 0).
    units : str
        Units of ``field_width``; "" or "px" for uncalibrated axes.
    fraction : float, default 0.2
        Target bar length as a fraction of the field.

    Returns
    -------
    length : float
        Bar length in ``units`` (to draw it).
    label : str
        Text under the bar, e.g. "2 nm", "5 Å", "1 µm", "50 px".
    """
    if not (math.isfinite(field_width) and field_width > 0):
        raise ValueError(f"field width must be positive and finite, got {field_width}")
    factor = nm_per_unit(units)
    if factor is None:
        length = nice_length(fraction * field_width)
        return length, f"{length:g} {units or 'px'}"
    label_units = display_length_units(field_width, units)
    to_label = factor / nm_per_unit(label_units)
    shown = nice_length(fraction * field_width * to_label)
    return shown / to_label, f"{shown:g} {label_units}"


class ScaleBar(pg.GraphicsObject):
    """Bar and label, white on a translucent dark box, in a view box's bottom-right corner.

    The item is a child of the :class:`pyqtgraph.ViewBox` (not of its data group), so it
    is laid out in screen pixels and does not zoom; its length in data units follows the
    visible range through :func:`scale_bar_spec`.

    Parameters
    ----------
    view_box : pyqtgraph.ViewBox, optional
        The view to decorate; see :meth:`attach`.
    fraction : float, default 0.2
        Target length as a fraction of the visible width.
    margin : float, default 12
        Distance from the view's edges, in screen pixels.
    """

    def __init__(self, view_box=None, *, fraction: float = DEFAULT_FRACTION, margin: float = 12.0):
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(1e6)
        self._fraction, self._margin = fraction, margin
        self._units = ""
        self._length, self._label, self._bar_px = 0.0, "", 0.0
        self._font = QFont()
        self._font.setPointSizeF(10.0)
        self._font.setBold(True)
        self._box = QRectF()
        self.setVisible(False)
        if view_box is not None:
            self.attach(view_box)

    def attach(self, view_box) -> None:
        """Draw in ``view_box`` and follow its zoom and size."""
        self.setParentItem(view_box)
        view_box.sigRangeChanged.connect(self.update_bar)
        view_box.sigResized.connect(self.update_bar)
        self.update_bar()

    def set_length_units(self, units: str | None) -> None:
        """Units of the view's x axis; "" / "px" / None hides the bar (uncalibrated)."""
        self._units = "" if units in (None, "px") else units
        self.update_bar()

    @property
    def units(self) -> str:
        """Units of :attr:`length` ("" when hidden for lack of calibration)."""
        return self._units

    @property
    def length(self) -> float:
        """Bar length in the view's x units (0 before the first layout)."""
        return self._length

    @property
    def label(self) -> str:
        """The text drawn under the bar."""
        return self._label

    @property
    def bar_pixels(self) -> float:
        """Bar length on screen, in pixels."""
        return self._bar_px

    def update_bar(self, *args) -> None:
        """Recompute length, label and placement from the view's range and size."""
        view = self.parentItem()
        if view is None or not self._units:
            self.setVisible(False)
            return
        (x0, x1), _ = view.viewRange()
        width_px = view.width()
        if not (x1 > x0 and width_px > 0):
            return
        self._length, self._label = scale_bar_spec(x1 - x0, self._units, fraction=self._fraction)
        self._bar_px = self._length * width_px / (x1 - x0)
        metrics = QFontMetricsF(self._font)
        pad, bar_h = 5.0, 5.0
        w = max(self._bar_px, metrics.horizontalAdvance(self._label)) + 2 * pad
        h = pad + metrics.height() + 3.0 + bar_h + pad
        self.prepareGeometryChange()
        self._box = QRectF(0.0, 0.0, w, h)
        self.setPos(QPointF(width_px - self._margin - w, view.height() - self._margin - h))
        self.setVisible(True)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._box)

    def paint(self, painter: QPainter, *args) -> None:
        if self._box.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(self._box, 4.0, 4.0)
        metrics = QFontMetricsF(self._font)
        pad, bar_h = 5.0, 5.0
        painter.setFont(self._font)
        painter.setPen(QPen(QColor(255, 255, 255)))
        text_rect = QRectF(0.0, pad, self._box.width(), metrics.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, self._label)
        bar = QRectF((self._box.width() - self._bar_px) / 2, pad + metrics.height() + 3.0,
                     self._bar_px, bar_h)
        painter.setPen(QPen(QColor(0, 0, 0), 1.0))
        painter.setBrush(QColor(255, 255, 255))
        painter.drawRect(bar)
