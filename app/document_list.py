"""The list of open documents, each with a thumbnail, its kind and its shape."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from .export import image_to_8bit

THUMBNAIL_PX = 64


def thumbnail_pixmap(image, size: int = THUMBNAIL_PX) -> QPixmap:
    """A grey-scale thumbnail of a 2-D array (strided down first: cheap on large images)."""
    image = np.asarray(image)
    step = max(1, int(np.ceil(max(image.shape) / (2 * size))))
    small = image_to_8bit(image[::step, ::step])
    small = np.ascontiguousarray(small)
    qimage = QImage(small.data, small.shape[1], small.shape[0], small.strides[0],
                    QImage.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def spectrum_thumbnail(spectrum, size: int = THUMBNAIL_PX) -> QPixmap:
    """A small line plot of a spectrum, for documents without an image."""
    from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
    from PySide6.QtCore import QPointF

    y = np.nan_to_num(np.asarray(spectrum, dtype=np.float64))
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("white"))
    if y.size < 2 or np.ptp(y) == 0:
        return pixmap
    y = (y - y.min()) / np.ptp(y)
    xs = np.linspace(2, size - 2, y.size)
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor("#1f77b4"), 1.2))
    painter.drawPolyline(QPolygonF([QPointF(float(a), float(size - 3 - b * (size - 6)))
                                    for a, b in zip(xs, y)]))
    painter.end()
    return pixmap


class DocumentList(QListWidget):
    """Open documents, newest last; the current row is the document on screen."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.setSpacing(2)
        self.setTextElideMode(Qt.ElideMiddle)
        self.setUniformItemSizes(False)

    def add_document(self, document, preview) -> QListWidgetItem:
        lazy = " (lazy)" if document.is_lazy else ""
        text = f"{document.name}\n{document.kind}{lazy}, " + " × ".join(str(a.size) for a in document.axes)
        item = QListWidgetItem(text)
        item.setToolTip(str(document.source_path or document.name))
        self.set_thumbnail(item, preview)
        self.addItem(item)
        return item

    def set_thumbnail(self, item: QListWidgetItem, preview) -> None:
        if preview.image is not None and np.isfinite(preview.image).any():
            item.setIcon(QIcon(thumbnail_pixmap(preview.image)))
        elif preview.spectrum is not None:
            item.setIcon(QIcon(spectrum_thumbnail(preview.spectrum)))
