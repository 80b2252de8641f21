"""Publication PNG of an image: display levels, colormap, chosen resolution and a scale bar.

The image is mapped through the same levels and lookup table the user sees, resampled
(nearest neighbour, so no pixel is invented) to the requested width, and a scale bar
with its label is painted in the bottom-right corner with Qt (fonts need a
QGuiApplication, which the GUI and the ``--screenshot`` path have).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.length_units import nm_per_unit

from .atomic_write import atomic_target
from .errors import FileSaveError
from .export import image_to_8bit

MAX_WIDTH_PX = 16384


def scale_bar_for(x_axis: AxisCalibration, *, fraction: float = 0.2) -> tuple[float, str] | None:
    """(length in x units, label) of a bar about ``fraction`` of the field; None if uncalibrated.

    The same rule as the bar in the image view, so the exported figure matches the screen.
    """
    from batteryscope.widgets.scale_bar import scale_bar_spec

    if nm_per_unit(x_axis.units) is None:
        return None
    return scale_bar_spec(abs(x_axis.scale) * x_axis.size, x_axis.units, fraction=fraction)


def render_rgb(image, *, levels=None, lut=None, width_px: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 rendering of ``image`` at ``levels`` through ``lut`` ((n, 3|4) uint8)."""
    index = image_to_8bit(image, levels=levels)
    if lut is None:
        rgb = np.repeat(index[..., None], 3, axis=2)
    else:
        lut = np.asarray(lut, dtype=np.uint8)[:, :3]
        rgb = lut[(index.astype(np.int32) * (len(lut) - 1) + 127) // 255]
    if width_px and width_px != rgb.shape[1]:
        if not 1 <= width_px <= MAX_WIDTH_PX:
            raise ValueError(f"width must be between 1 and {MAX_WIDTH_PX} pixels, got {width_px}")
        height_px = max(1, round(rgb.shape[0] * width_px / rgb.shape[1]))
        rows = np.minimum((np.arange(height_px) + 0.5) * rgb.shape[0] / height_px, rgb.shape[0] - 1)
        cols = np.minimum((np.arange(width_px) + 0.5) * rgb.shape[1] / width_px, rgb.shape[1] - 1)
        rgb = rgb[rows.astype(int)][:, cols.astype(int)]
    return np.ascontiguousarray(rgb)


def _paint_scale_bar(qimage, bar_px: float, label: str) -> None:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPainter

    w, h = qimage.width(), qimage.height()
    margin = max(4.0, 0.03 * w)
    thickness = max(2.0, 0.012 * w)
    font = QFont()
    font.setPixelSize(max(9, int(0.035 * w)))
    font.setBold(True)
    painter = QPainter(qimage)
    try:
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(font)
        text_h = painter.fontMetrics().height()
        text_w = painter.fontMetrics().horizontalAdvance(label)
        box_w = max(bar_px, text_w) + margin
        box = QRectF(w - margin - box_w, h - margin - thickness - text_h - 0.75 * margin,
                     box_w, thickness + text_h + 0.75 * margin)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        bar = QRectF(box.right() - margin / 2 - bar_px, box.bottom() - margin / 2 - thickness,
                     bar_px, thickness)
        painter.fillRect(bar, QColor("white"))
        painter.setPen(QColor("white"))
        painter.drawText(QRectF(bar.center().x() - box_w / 2, box.top(), box_w, text_h + margin / 4),
                         Qt.AlignHCenter | Qt.AlignVCenter, label)
    finally:
        painter.end()


def export_figure_png(image, path, *, x_axis: AxisCalibration, levels=None, lut=None,
                      width_px: int | None = None, scale_bar: bool = True,
                      overwrite: bool = False) -> Path:
    """Write ``image`` as an RGB PNG as displayed, optionally with a calibrated scale bar."""
    from PySide6.QtGui import QImage

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise FileSaveError(path, "figure export writes .png files")
    rgb = render_rgb(image, levels=levels, lut=lut, width_px=width_px)
    qimage = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
    bar = scale_bar_for(x_axis) if scale_bar else None
    if bar is not None:
        length, label = bar
        _paint_scale_bar(qimage, length / abs(x_axis.scale) * rgb.shape[1] / np.asarray(image).shape[1],
                         label)
    with atomic_target(path, overwrite=overwrite) as tmp:
        if not qimage.save(str(tmp), "PNG"):
            raise FileSaveError(path, "the PNG writer failed (disk full or folder not writable?)")
    return path
