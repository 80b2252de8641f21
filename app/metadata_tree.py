"""The metadata panel: file, kind, axes calibrations and acquisition parameters of a document."""
from __future__ import annotations

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


def format_value(value) -> str:
    """Metadata value for display: 5 significant digits, units where known."""
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']:.5g} {value.get('units', '')}".strip()
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


class MetadataTree(QTreeWidget):
    """Two columns, property and value; full values in tooltips (they are often long paths)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Property", "Value"])

    def _item(self, parent, key: str, value: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [key, value])
        item.setToolTip(1, value)
        return item

    def show_document(self, document) -> None:
        self.clear()
        self._item(self, "File", str(document.source_path or "generated"))
        self._item(self, "Kind", document.kind + (" (lazy)" if document.is_lazy else ""))
        axes_item = self._item(self, "Axes", "")
        for a in document.axes:
            role = "navigation" if a.navigate else "signal"
            self._item(axes_item, a.name, f"{a.size} × {a.scale:.5g} {a.units} from {a.offset:.5g} ({role})")
        acquisition = self._item(self, "Acquisition", "")
        for key, value in document.acquisition.items():
            self._item(acquisition, key, format_value(value))
        if len(document.provenance) > 1:
            history = self._item(self, "History", "")
            for step in document.provenance:
                self._item(history, step.operation, step.timestamp)
        self.expandAll()
        self.resizeColumnToContents(0)
