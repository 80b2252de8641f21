"""A table of ROI statistics: one row per region, numbers ready for CSV export."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from batteryscope.analysis.roi_geometry import RoiStatistics

from .image_rois import KIND_PREFIX

_KIND_OF_PREFIX = {prefix: kind for kind, prefix in KIND_PREFIX.items()}
_FIELDS = ("n_pixels", "mean", "std", "sum", "minimum", "maximum", "area")


def _format(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:.5g}"


class RoiStatisticsTable(QTableWidget):
    """Rows: name, kind, N px, mean, std, sum, min, max, area; read-only.

    The area column is headed with the units of the statistics ("nm²" for calibrated
    lengths, "px²" for uncalibrated images).
    """

    def __init__(self, parent=None):
        super().__init__(0, 9, parent)
        self._stats: dict[str, tuple[str, RoiStatistics]] = {}
        self._area_units = "nm²"
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._update_headers()

    def headers(self) -> list[str]:
        """Column titles, as in the first row of :meth:`as_rows`."""
        return ["name", "kind", "N px", "mean", "std", "sum", "min", "max",
                f"area ({self._area_units})"]

    def set_statistics(self, name: str, stats: RoiStatistics, *, kind: str | None = None) -> None:
        """Add or update the row ``name``.

        ``kind`` defaults to the one the name's prefix stands for ("R1" → rectangle).
        """
        if kind is None:
            kind = _KIND_OF_PREFIX.get(name[:1], "")
        self._stats[name] = (kind, stats)
        if stats.area_units != self._area_units:
            self._area_units = stats.area_units
            self._update_headers()
        row = self._row_of(name)
        if row < 0:
            row = self.rowCount()
            self.insertRow(row)
        cells = [name, kind] + [_format(getattr(stats, f)) for f in _FIELDS]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column >= 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, column, item)

    def statistics(self, name: str) -> RoiStatistics:
        """The statistics shown for ``name`` (KeyError if absent)."""
        return self._stats[name][1]

    def names(self) -> list[str]:
        """ROI names in row order."""
        return [self.item(r, 0).text() for r in range(self.rowCount())]

    def remove(self, name: str) -> None:
        """Remove the row ``name`` (no error if absent)."""
        self._stats.pop(name, None)
        row = self._row_of(name)
        if row >= 0:
            self.removeRow(row)

    def clear(self) -> None:
        """Remove every row (the headers stay)."""
        self._stats.clear()
        self.setRowCount(0)

    def as_rows(self) -> list[list]:
        """Header row then one row per ROI with full-precision numbers, for ``csv.writer``."""
        rows = [self.headers()]
        for name in self.names():
            kind, stats = self._stats[name]
            rows.append([name, kind] + [getattr(stats, f) for f in _FIELDS])
        return rows

    def _row_of(self, name: str) -> int:
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == name:
                return row
        return -1

    def _update_headers(self) -> None:
        self.setHorizontalHeaderLabels(self.headers())
