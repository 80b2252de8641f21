"""The main window: open documents, show them calibrated, report errors without dying."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QSplitter,
                               QTreeWidget, QTreeWidgetItem)

from batteryscope.widgets.image_view import ImageView
from batteryscope.widgets.spectrum_view import SpectrumView

from .errors import UserFacingError
from .file_formats import file_dialog_filter
from .jobs import JobRunner
from .loading import load_demo_job, load_files_job


def _format_value(value) -> str:
    """Metadata value for display: 5 significant digits, units where known."""
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']:.5g} {value.get('units', '')}".strip()
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


class MainWindow(QMainWindow):
    """BatteryScope's main window.

    Signals
    -------
    documentsOpened(list)
        Documents added (on the GUI thread, after loading finished).
    loadFailed(str)
        One-line reason a file could not be opened (also shown in a dialog).
    """

    documentsOpened = Signal(list)
    loadFailed = Signal(str)

    def __init__(self, runner: JobRunner | None = None, *, show_dialogs: bool = True):
        super().__init__()
        self.setWindowTitle("BatteryScope")
        self.resize(1280, 800)
        self.runner = runner or JobRunner()
        self.show_dialogs = show_dialogs
        self.documents: list = []
        self._previews: dict[int, object] = {}
        self._build_views()
        self._build_docks()
        self._build_menus()
        self._build_status_bar()
        self.setAcceptDrops(True)

    # -- construction --------------------------------------------------------------
    def _build_views(self) -> None:
        self.image_view = ImageView()
        self.spectrum_view = SpectrumView()
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.image_view)
        splitter.addWidget(self.spectrum_view)
        splitter.setSizes([560, 240])
        self.setCentralWidget(splitter)
        self.image_view.cursorMoved.connect(self._show_cursor)

    def _build_docks(self) -> None:
        self.document_list = QListWidget()
        self.document_list.setWordWrap(True)
        self.document_list.setAlternatingRowColors(True)
        self.document_list.setSpacing(2)
        self.document_list.setTextElideMode(Qt.ElideMiddle)
        self.document_list.currentRowChanged.connect(self.show_document)
        dock = QDockWidget("Documents", self)
        dock.setObjectName("documents_dock")
        dock.setWidget(self.document_list)
        dock.setMinimumWidth(260)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.metadata_tree = QTreeWidget()
        self.metadata_tree.setHeaderLabels(["Property", "Value"])
        self.metadata_tree.setMinimumWidth(330)
        dock = QDockWidget("Metadata", self)
        dock.setObjectName("metadata_dock")
        dock.setWidget(self.metadata_tree)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (("&Open…", QKeySequence.Open, self.open_dialog),
                                     ("Open &demo data", None, self.open_demo),
                                     ("&Quit", QKeySequence.Quit, self.close)):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.addAction(action)

    def _build_status_bar(self) -> None:
        self.cursor_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.setRange(0, 100)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_jobs)
        bar = self.statusBar()
        bar.addWidget(self.cursor_label, 1)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        self._set_busy(False)

    # -- opening ---------------------------------------------------------------------
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open microscope data", "", file_dialog_filter())
        if paths:
            self.open_files(paths)

    def open_files(self, paths) -> None:
        """Load ``paths`` in a worker; documents appear when loading finishes."""
        self._start(load_files_job, [str(p) for p in paths])

    def open_demo(self) -> None:
        """Generate (first time) and open the demo specimens in a worker."""
        self._start(load_demo_job)

    def _start(self, function, *args) -> None:
        self._set_busy(True, "Loading…")
        self.runner.start(function, *args, on_done=self._loaded, on_error=self._job_error,
                          on_progress=self._progress, on_cancelled=lambda: self._set_busy(False))

    def _loaded(self, outcome) -> None:
        self._set_busy(False)
        for document, preview in outcome.opened:
            self._add_document(document, preview)
        if outcome.opened:
            self.documentsOpened.emit([d for d, _ in outcome.opened])
        for message in outcome.errors:
            self._report_error(message)

    def _job_error(self, exc, tb) -> None:
        self._set_busy(False)
        self._report_error(f"internal error while loading: {type(exc).__name__}: {exc}")

    def _report_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)
        self.loadFailed.emit(message)
        if self.show_dialogs:
            box = QMessageBox(QMessageBox.Warning, "Cannot open file", message, parent=self)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()  # not exec(): the GUI keeps running

    def _progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(round(100 * fraction)))
        if message:
            self.statusBar().showMessage(message)

    def cancel_jobs(self) -> None:
        for job in self.runner.running:
            job.cancel()

    def _set_busy(self, busy: bool, message: str = "") -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress_bar.setValue(0)
        if message:
            self.statusBar().showMessage(message)
        elif not busy:
            self.statusBar().clearMessage()

    # -- showing -----------------------------------------------------------------------
    def _add_document(self, document, preview) -> None:
        self.documents.append(document)
        self._previews[id(document)] = preview
        item = QListWidgetItem(f"{document.name}\n{document.kind}, "
                               + " × ".join(str(a.size) for a in document.axes))
        item.setToolTip(str(document.source_path or document.name))
        self.document_list.addItem(item)
        if self.document_list.currentRow() < 0:
            self.document_list.setCurrentRow(0)

    def show_document(self, row: int) -> None:
        """Display the document at ``row`` of the list."""
        if not 0 <= row < len(self.documents):
            return
        document = self.documents[row]
        preview = self._previews[id(document)]
        if preview.image is not None and preview.image_axes is not None:
            self.image_view.set_image(preview.image, preview.image_axes,
                                      title=f"{document.name} — {preview.image_title}".strip(" —"))
        self.spectrum_view.clear()
        if preview.spectrum is not None:
            self.spectrum_view.set_trace(preview.spectrum_title, preview.spectrum, preview.spectrum_axis)
        self.spectrum_view.setVisible(preview.spectrum is not None)
        self.image_view.setVisible(preview.image is not None)
        self._fill_metadata(document)

    def _fill_metadata(self, document) -> None:
        tree = self.metadata_tree
        tree.clear()
        QTreeWidgetItem(tree, ["File", str(document.source_path or "generated")])
        QTreeWidgetItem(tree, ["Kind", document.kind])
        axes_item = QTreeWidgetItem(tree, ["Axes", ""])
        for a in document.axes:
            role = "navigation" if a.navigate else "signal"
            QTreeWidgetItem(axes_item, [a.name, f"{a.size} × {a.scale:.5g} {a.units} from "
                                               f"{a.offset:.5g} ({role})"])
        acq = QTreeWidgetItem(tree, ["Acquisition", ""])
        for key, value in document.acquisition.items():
            QTreeWidgetItem(acq, [key, _format_value(value)])
        tree.expandAll()
        tree.resizeColumnToContents(0)

    def _show_cursor(self, x: float, y: float, value: float) -> None:
        axes = self.image_view._axes
        if axes is None:
            return
        ay, ax = axes
        self.cursor_label.setText(f"x = {x:.4g} {ax.units}   y = {y:.4g} {ay.units}   value = {value:.5g}")

    def panel_names(self) -> list[str]:
        """Names accepted by :meth:`show_panel` (dock widgets' object names without "_dock")."""
        return [d.objectName().removesuffix("_dock") for d in self.findChildren(QDockWidget)]

    def show_panel(self, name: str) -> None:
        """Show and raise the dock panel ``name`` (raises UserFacingError if unknown)."""
        for dock in self.findChildren(QDockWidget):
            if dock.objectName() == f"{name}_dock":
                dock.show()
                dock.raise_()
                return
        raise UserFacingError(f"no panel named {name!r}; panels: {', '.join(self.panel_names())}")

    # -- drag and drop, closing -----------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_files(paths)

    def closeEvent(self, event) -> None:
        self.runner.stop_all(timeout_s=5.0)
        super().closeEvent(event)
