"""The main window: documents, the view for each kind of data, tool panels, status bar.

Central area: one page per kind of document — images and stacks (ROI tools, calibrated
view, frame player), single spectra, and spectrum images (navigator + spectrum).
Dock panels: documents, metadata, contrast, ROI statistics, line profile, FFT.
Loading runs in workers; large files open lazily and are read in the background.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QStackedWidget,
                               QToolBar, QVBoxLayout, QWidget)

from batteryscope.widgets.contrast_panel import ContrastPanel
from batteryscope.widgets.fft_view import FFTView
from batteryscope.widgets.frame_player import FramePlayer
from batteryscope.widgets.image_rois import ImageRoiTools
from batteryscope.widgets.image_view import ImageView
from batteryscope.widgets.line_profile_view import LineProfileView
from batteryscope.widgets.roi_statistics_table import RoiStatisticsTable
from batteryscope.widgets.spectrum_view import SpectrumView

from .document_list import DocumentList
from .errors import UserFacingError
from .file_actions import FileActions
from .image_controller import ImageController
from .job_status import JobStatus
from .jobs import JobRunner
from .loading import load_demo_job, load_files_job
from .metadata_tree import MetadataTree
from .settings import Settings
from .spectrum_image_pages import SpectrumImagePages

IMAGE_PAGE, SPECTRUM_PAGE, SPECTRUM_IMAGE_PAGE = 0, 1, 2


class MainWindow(QMainWindow):
    """BatteryScope's main window.

    Signals
    -------
    documentsOpened(list)
        Documents added (on the GUI thread, after loading finished).
    loadFailed(str)
        One-line reason a file could not be opened (also shown in a dialog).
    documentReady(object)
        A lazily opened document has been read (navigator complete; in memory if it fits).
    """

    documentsOpened = Signal(list)
    loadFailed = Signal(str)
    documentReady = Signal(object)

    def __init__(self, runner: JobRunner | None = None, *, show_dialogs: bool = True,
                 settings: Settings | None = None):
        super().__init__()
        self.setWindowTitle("BatteryScope")
        self.resize(1400, 880)
        self.runner = runner or JobRunner()
        self.show_dialogs = show_dialogs
        self.settings = settings or Settings()
        self.documents: list = []
        self._previews: dict[int, object] = {}
        self._reading: dict[int, object] = {}   # id(document) -> block-reading job
        self._hidden_tools = None   # image-tool docks hidden while another page is shown
        self._build_pages()
        self._build_docks()
        self.file_actions = FileActions(self)
        self._build_view_menu()
        self._build_status_bar()
        self.image_controller = ImageController(self.image_view, self.roi_tools, self.roi_table,
                                                self.profile_view, self.fft_view, self.frame_player,
                                                self.runner, parent=self)
        self.image_controller.profileUpdated.connect(self._record_profile)
        self.setAcceptDrops(True)
        self._restore_layout()
        if self.settings.problem:
            self.statusBar().showMessage(self.settings.problem, 15000)

    # -- construction --------------------------------------------------------------------
    def _build_pages(self) -> None:
        self.image_view = ImageView()
        self.roi_tools = ImageRoiTools(self.image_view)
        self.frame_player = FramePlayer()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.roi_tools)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(self.frame_player)
        self.spectrum_view = SpectrumView()
        self.pages = QStackedWidget()
        for widget in (page, self.spectrum_view):
            self.pages.addWidget(widget)
        self.si_pages = SpectrumImagePages(self.pages, self.runner, on_cursor=self._show_nav_cursor,
                                           on_problem=self.report_problem,
                                           companions=self._navigation_companions)
        self.setCentralWidget(self.pages)
        self.image_view.cursorMoved.connect(self._show_cursor)
        self.spectrum_view.cursorMoved.connect(self._show_energy_cursor)

    def _dock(self, name: str, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}_dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.document_list = DocumentList()
        self.document_list.currentRowChanged.connect(self.show_document)
        self._dock("documents", "Documents", self.document_list, Qt.LeftDockWidgetArea).setMinimumWidth(240)
        self.metadata_tree = MetadataTree()
        metadata = self._dock("metadata", "Metadata", self.metadata_tree, Qt.LeftDockWidgetArea)
        self.contrast_panel = ContrastPanel(self.image_view)
        contrast = self._dock("contrast", "Contrast", self.contrast_panel, Qt.RightDockWidgetArea)
        self.roi_table = RoiStatisticsTable()
        rois = self._dock("rois", "ROI statistics", self.roi_table, Qt.RightDockWidgetArea)
        self.profile_view = LineProfileView()
        profile = self._dock("profile", "Line profile", self.profile_view, Qt.RightDockWidgetArea)
        fft_box = QWidget()
        fft_layout = QVBoxLayout(fft_box)
        fft_layout.setContentsMargins(0, 0, 0, 0)
        bar = QToolBar()
        bar.addAction("FFT of image", lambda: self.compute_fft(None))
        bar.addAction("FFT of selected ROI", self._fft_of_selected_roi)
        fft_layout.addWidget(bar)
        self.fft_view = FFTView()
        fft_layout.addWidget(self.fft_view, 1)
        fft = self._dock("fft", "FFT", fft_box, Qt.RightDockWidgetArea)
        self.tabifyDockWidget(contrast, rois)
        self.tabifyDockWidget(rois, profile)
        self.tabifyDockWidget(profile, fft)
        contrast.raise_()
        documents = self.findChild(QDockWidget, "documents_dock")
        self.splitDockWidget(documents, metadata, Qt.Vertical)
        self.resizeDocks([documents, contrast], [300, 360], Qt.Horizontal)

    def _build_view_menu(self) -> None:
        menu = self.menuBar().addMenu("&View")
        for dock in self.findChildren(QDockWidget):
            menu.addAction(dock.toggleViewAction())
        menu.addSeparator()
        action = QAction("&FFT of image", self)
        action.setShortcut("Ctrl+F")
        action.triggered.connect(lambda *_: self.compute_fft(None))
        menu.addAction(action)

    def _build_status_bar(self) -> None:
        self.cursor_label = QLabel("")
        self.statusBar().addWidget(self.cursor_label, 1)
        self.job_status = JobStatus(self.runner, self.statusBar(), self.report_problem, parent=self)

    def _restore_layout(self) -> None:
        geometry = self.settings.get_bytes("window_geometry")
        state = self.settings.get_bytes("window_state")
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        if state:
            self.restoreState(QByteArray(state))

    def save_layout(self) -> None:
        self._show_image_tools(True)  # save the user's layout, not the temporary one
        self.settings.set_bytes("window_geometry", bytes(self.saveGeometry()))
        self.settings.set_bytes("window_state", bytes(self.saveState()))
        self.settings.save()

    # -- jobs ----------------------------------------------------------------------------
    def open_dialog(self) -> None:
        self.file_actions.open_dialog()

    def open_files(self, paths) -> None:
        """Load ``paths`` in a worker; documents appear when loading finishes."""
        self.start_job(load_files_job, [str(p) for p in paths], done=self._loaded, what="loading")

    def open_demo(self) -> None:
        """Generate (first time) and open the demo specimens in a worker."""
        self.start_job(load_demo_job, done=self._loaded, what="loading")

    def start_job(self, function, *args, done=None, what: str = "working", partial=None, **kwargs):
        """Run ``function(context, *args, **kwargs)`` in a worker with status-bar progress + cancel."""
        return self.job_status.start(function, *args, done=done, what=what, partial=partial, **kwargs)

    def _loaded(self, outcome) -> None:
        for document, preview in outcome.opened:
            self._add_document(document, preview)
        for path in outcome.paths:
            self.settings.add_recent_file(path)
            self.settings.set("last_directory", str(Path(path).parent))
        if outcome.paths:
            self.settings.save()
        if outcome.opened:
            self.si_pages.refresh_companions()
            self.documentsOpened.emit([d for d, _ in outcome.opened])
        for message in outcome.errors:
            self._load_error(message)

    def _load_error(self, message: str) -> None:
        self.loadFailed.emit(message)
        self.report_problem("Cannot open file", message)

    def report_problem(self, title: str, message: str) -> None:
        """One line in the status bar and a non-modal dialog; the GUI keeps running."""
        self.statusBar().showMessage(message, 15000)
        if self.show_dialogs:
            box = QMessageBox(QMessageBox.Warning, title, message, parent=self)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()  # not exec(): the GUI keeps running

    def cancel_jobs(self) -> None:
        self.job_status.cancel_all()

    # -- documents --------------------------------------------------------------------------
    def _add_document(self, document, preview) -> None:
        self.documents.append(document)
        self._previews[id(document)] = preview
        self.document_list.add_document(document, preview)
        if document.is_lazy:
            self._read_in_background(document)
        if self.document_list.currentRow() < 0:
            self.document_list.setCurrentRow(0)

    def _read_in_background(self, document) -> None:
        from .block_reading import read_in_blocks_job
        from .hyperspy_adapter import DEFAULT_LAZY_FRACTION, total_memory_bytes

        data = document.signal.data
        keep = data.nbytes <= DEFAULT_LAZY_FRACTION * total_memory_bytes()
        spectrum_image = self._page_for(document) == SPECTRUM_IMAGE_PAGE
        if not keep and not spectrum_image:
            return  # frames are read on demand; nothing to precompute

        def partial(update):
            self._navigator_update(document, update)

        def done(result):
            self._reading.pop(id(document), None)
            if result.in_memory is not None:
                document.in_memory = result.in_memory
                self.si_pages.use_in_memory(document)
            self._navigator_update(document, result.last)
            if self.current_document() is document:
                self.show_document(self.documents.index(document))
            self.documentReady.emit(document)

        self._reading[id(document)] = self.start_job(read_in_blocks_job, data, keep=keep,
                                                     spectrum_image=spectrum_image, done=done,
                                                     partial=partial, what=f"reading {document.name}")

    def _navigator_update(self, document, update) -> None:
        from dataclasses import replace

        if update.navigator is None:
            return
        preview = self._previews[id(document)]
        mean = update.spectrum_sum / max(update.pixels_read, 1)
        preview = replace(preview, image=update.navigator, spectrum=mean,
                          pending=update.rows_done < update.rows_total)
        self._previews[id(document)] = preview
        row = self.documents.index(document)
        self.document_list.set_thumbnail(self.document_list.item(row), preview)
        self.si_pages.update_preview(document, preview)

    def _record_profile(self, name: str, profile) -> None:
        from batteryscope.analysis.roi_geometry import roi_to_dict

        from .document import ArrayResult, ProvenanceStep

        document = self.current_document()
        if document is not None:
            document.add_result(f"Line profile {name}",
                                ArrayResult(profile.values, (profile.distance_axis,),
                                            f"Line profile {name} of {document.name}"),
                                ProvenanceStep("line_profile", {"line": roi_to_dict(profile.line)}))

    def _navigation_companions(self, document) -> dict:
        """Other open images on the scan grid of spectrum image ``document`` (HAADF survey,
        paired low-loss total counts), by name, for its navigator."""
        grid = (document.axes[0].size, document.axes[1].size)
        found = {}
        for other in self.documents:
            preview = self._previews.get(id(other))
            if other is document or preview is None or preview.pending or preview.image is None:
                continue
            if preview.image.shape == grid:
                what = "total counts" if self._page_for(other) == SPECTRUM_IMAGE_PAGE else "image"
                found[f"{other.name} ({what})"] = preview.image
        return found

    def current_document(self):
        row = self.document_list.currentRow()
        return self.documents[row] if 0 <= row < len(self.documents) else None

    @staticmethod
    def _page_for(document) -> int:
        sig = [a for a in document.axes if not a.navigate]
        nav = [a for a in document.axes if a.navigate]
        if len(sig) == 1 and len(nav) == 2:
            return SPECTRUM_IMAGE_PAGE
        if len(sig) == 1 and not nav:
            return SPECTRUM_PAGE
        return IMAGE_PAGE

    def show_document(self, row: int) -> None:
        """Display the document at ``row`` of the list."""
        if not 0 <= row < len(self.documents):
            return
        document = self.documents[row]
        preview = self._previews[id(document)]
        page = self._page_for(document)
        if page == IMAGE_PAGE and preview.image is None:
            page = SPECTRUM_PAGE
        if page != SPECTRUM_IMAGE_PAGE:
            self.pages.setCurrentIndex(page)
        self._show_image_tools(page == IMAGE_PAGE)
        if page == IMAGE_PAGE:
            self.image_controller.show(document, preview)
        elif page == SPECTRUM_PAGE:
            self.spectrum_view.clear()
            if preview.spectrum is not None:
                self.spectrum_view.set_trace(preview.spectrum_title, preview.spectrum, preview.spectrum_axis)
        else:
            self._show_spectrum_image(document, preview)
        self.metadata_tree.show_document(document)

    IMAGE_TOOL_DOCKS = ("contrast_dock", "rois_dock", "profile_dock", "fft_dock")

    def _show_image_tools(self, show: bool) -> None:
        """The image tools (contrast, ROIs, profile, FFT) act on the image page only: hide them
        elsewhere so spectra and spectrum images get the width, and bring back what was open."""
        docks = [self.findChild(QDockWidget, name) for name in self.IMAGE_TOOL_DOCKS]
        if not show and self._hidden_tools is None:
            self._hidden_tools = [d for d in docks if d.isVisible()]
            for dock in self._hidden_tools:
                dock.hide()
        elif show and self._hidden_tools is not None:
            for dock in self._hidden_tools:
                dock.show()
            self._hidden_tools = None

    def _show_spectrum_image(self, document, preview) -> None:
        navigator, _ = self.si_pages.page_for(document, preview)
        self.pages.setCurrentWidget(navigator)

    @property
    def navigator(self):
        """The spectrum-image navigator on screen (None when another kind is shown)."""
        widget = self.pages.currentWidget()
        return widget if self.pages.currentIndex() >= SPECTRUM_IMAGE_PAGE else None

    @property
    def si_controller(self):
        navigator = self.navigator
        return self.si_pages.page_for(self.current_document(), None)[1] if navigator else None

    # -- what is on screen (for export and tests) ---------------------------------------------
    def current_image(self):
        """(array, (y_axis, x_axis), levels, lut) of the image on screen, or None."""
        page = min(self.pages.currentIndex(), SPECTRUM_IMAGE_PAGE)
        if page == SPECTRUM_PAGE:
            return None
        view = self.image_view if page == IMAGE_PAGE else self.navigator.image_view
        if view.image_item.image is None:
            return None
        lut = view.lookup_table()
        return np.asarray(view.image_item.image), view.display_axes, view.levels(), lut

    def current_spectra(self) -> list:
        """[(name, axis, values)] of the traces on screen."""
        page = min(self.pages.currentIndex(), SPECTRUM_IMAGE_PAGE)
        if page == IMAGE_PAGE:
            return []
        view = self.spectrum_view if page == SPECTRUM_PAGE else self.navigator.spectrum_view
        return view.trace_data()

    def compute_fft(self, roi_name=None) -> None:
        try:
            self.image_controller.compute_fft(roi_name)
        except (ValueError, KeyError) as exc:
            self.report_problem("Cannot compute FFT", str(exc))
            return
        self.show_panel("fft")

    def _fft_of_selected_roi(self) -> None:
        names = [n for n, r in self.roi_tools.rois().items() if r.kind != "line"]
        if not names:
            self.report_problem("No ROI", "Draw a rectangle, ellipse or polygon ROI first.")
            return
        self.compute_fft(names[-1])

    # -- status bar ---------------------------------------------------------------------------
    def _show_cursor(self, x: float, y: float, value: float) -> None:
        axes = self.image_view.display_axes
        if axes is None:
            return
        ay, ax = axes
        frame = ""
        if self.image_controller.stack_axis is not None:
            frame = f"   frame {self.image_controller.frame_index + 1}"
        self.cursor_label.setText(f"x = {x:.4g} {ax.units}   y = {y:.4g} {ay.units}   "
                                  f"value = {value:.5g}{frame}")

    def _show_nav_cursor(self, x: float, y: float, value: float) -> None:
        axes = self.navigator.image_view.display_axes if self.navigator else None
        if axes is not None:
            self.cursor_label.setText(f"x = {x:.4g} {axes[1].units}   y = {y:.4g} {axes[0].units}   "
                                      f"navigator = {value:.5g}")

    def _show_energy_cursor(self, energy: float, value: float) -> None:
        self.cursor_label.setText(f"E = {energy:.2f} eV   I = {value:.5g}")

    # -- panels ----------------------------------------------------------------------------------
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
        self.save_layout()
        self.runner.stop_all(timeout_s=5.0)
        super().closeEvent(event)
