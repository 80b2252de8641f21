"""The File menu: open, open recent, save as, export; every action also callable with a path.

Dialogs only ask for a path; the work is done by methods that tests and scripts call
directly (``save_document_as(path)``, ``export_png(path, width_px=...)`` …). A failed
write gives a dialog with the one-line reason; the source file is never overwritten.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

from .errors import UserFacingError
from .file_formats import file_dialog_filter


def _save_job(context, signal, path, document):
    from .export import save_result

    context.progress(0.0, f"Saving {Path(path).name}…")
    return save_result(signal, path, document=document, overwrite=True)


class FileActions(QObject):
    """Builds the File menu of ``window`` and implements its actions."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        menu = window.menuBar().addMenu("&File")
        self.menu = menu
        self._add(menu, "&Open…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self._add(menu, "Open &demo data", window.open_demo)
        menu.addSeparator()
        self._add(menu, "&Save As…", self.save_as_dialog, QKeySequence.SaveAs)
        export = menu.addMenu("&Export")
        self.export_menu = export
        self._add(export, "Image as &PNG (with scale bar)…", self.export_png_dialog, "Ctrl+E")
        self._add(export, "Image as &TIFF (calibrated)…", self.export_tiff_dialog)
        self._add(export, "&Spectra as CSV…", self.export_spectra_dialog)
        self._add(export, "Line &profile as CSV…", self.export_profile_dialog)
        self._add(export, "ROI &statistics as CSV…", self.export_statistics_dialog)
        self._add(export, "ROI &result as HyperSpy (.hspy)…", self.save_result_dialog)
        menu.addSeparator()
        self._add(menu, "&Quit", window.close, QKeySequence.Quit)
        self.fill_recent_menu()

    def _add(self, menu: QMenu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    # -- opening -------------------------------------------------------------------------
    def _start_dir(self) -> str:
        return self.window.settings.get("last_directory", "") or ""

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.window, "Open microscope data", self._start_dir(),
                                                file_dialog_filter())
        if paths:
            self.window.open_files(paths)

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.window.settings.recent_files()
        for i, path in enumerate(recent):
            action = self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(path).name}")
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(lambda *_, p=path: self.window.open_files([p]))
        if not recent:
            self.recent_menu.addAction("(no recent files)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.window.settings.clear_recent_files()
        self.window.settings.save()

    # -- dialogs -----------------------------------------------------------------------------
    def _ask_path(self, title: str, suggestion: str, filters: str) -> Path | None:
        start = str(Path(self._start_dir()) / suggestion) if self._start_dir() else suggestion
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, filters)
        if not path:
            return None
        self.window.settings.set("last_directory", str(Path(path).parent))
        return Path(path)

    def _guarded(self, action, *args, **kwargs):
        try:
            return action(*args, **kwargs)
        except (UserFacingError, ValueError) as exc:
            self.window.report_problem("Cannot export", str(exc))
            return None

    def _stem(self) -> str:
        doc = self.window.current_document()
        return Path(doc.source_path).stem if doc and doc.source_path else "batteryscope"

    def save_as_dialog(self) -> None:
        path = self._ask_path("Save document as", f"{self._stem()}.hspy",
                              "HyperSpy (*.hspy);;Zarr HyperSpy (*.zspy)")
        if path:
            self._guarded(self.save_document_as, path)

    def export_png_dialog(self) -> None:
        image = self.window.current_image()
        width, ok = QInputDialog.getInt(self.window, "Export PNG", "Width in pixels:",
                                        max(1024, image[0].shape[1]) if image else 1024, 64, 16384)
        if not ok:
            return
        path = self._ask_path("Export image as PNG", f"{self._stem()}.png", "PNG image (*.png)")
        if path:
            self._guarded(self.export_png, path, width_px=width)

    def export_tiff_dialog(self) -> None:
        path = self._ask_path("Export image as TIFF", f"{self._stem()}.tif", "TIFF (*.tif *.tiff)")
        if path:
            self._guarded(self.export_tiff, path)

    def export_spectra_dialog(self) -> None:
        path = self._ask_path("Export spectra as CSV", f"{self._stem()}_spectra.csv", "CSV (*.csv)")
        if path:
            self._guarded(self.export_spectra_csv, path)

    def export_profile_dialog(self) -> None:
        path = self._ask_path("Export line profile as CSV", f"{self._stem()}_profile.csv", "CSV (*.csv)")
        if path:
            self._guarded(self.export_profile_csv, path)

    def export_statistics_dialog(self) -> None:
        path = self._ask_path("Export ROI statistics as CSV", f"{self._stem()}_rois.csv", "CSV (*.csv)")
        if path:
            self._guarded(self.export_statistics_csv, path)

    def save_result_dialog(self) -> None:
        doc = self.window.current_document()
        names = list(doc.results) if doc else []
        if not names:
            self.window.report_problem("Nothing to save", "Draw a ROI, an energy window or a line "
                                       "first: their results can then be saved.")
            return
        name, ok = QInputDialog.getItem(self.window, "Save result", "Result:", names, len(names) - 1, False)
        if not ok:
            return
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        path = self._ask_path("Save result as", f"{self._stem()}_{safe}.hspy", "HyperSpy (*.hspy)")
        if path:
            self._guarded(self.save_result, name, path)

    # -- the work (callable without dialogs) ----------------------------------------------
    def save_document_as(self, path) -> None:
        """Save the current document (data, calibration, metadata, provenance) in a worker."""
        doc = self.window.current_document()
        if doc is None:
            raise UserFacingError("no document to save")
        self.window.start_job(_save_job, doc.signal, Path(path), doc,
                              done=lambda p: self.window.statusBar().showMessage(f"Saved {p}", 8000))

    def save_result(self, name: str, path) -> Path:
        """Save the document's result ``name`` as .hspy/.zspy with its provenance."""
        import json

        from .document import ArrayResult
        from .export import save_result
        from .hyperspy_adapter import signal_from_array

        doc = self.window.current_document()
        if doc is None or name not in doc.results:
            raise UserFacingError(f"no result named {name!r}")
        result = doc.results[name]
        value = result.value
        if isinstance(value, ArrayResult):
            value = signal_from_array(np.asarray(value.data), value.axes, title=value.title,
                                      signal_type=value.signal_type, quantity=value.quantity,
                                      acquisition=doc.acquisition)
        value.metadata.set_item("BatteryScope.provenance",
                                json.dumps([s.to_dict() for s in result.provenance], indent=1))
        saved = save_result(value, path, overwrite=True)
        self.window.statusBar().showMessage(f"Saved {name} to {saved}", 8000)
        return saved

    def export_png(self, path, *, width_px: int | None = None, scale_bar: bool = True) -> Path:
        from .figure_export import export_figure_png

        image = self.window.current_image()
        if image is None:
            raise UserFacingError("no image on screen to export")
        array, (y_axis, x_axis), levels, lut = image
        return export_figure_png(array, path, x_axis=x_axis, levels=levels, lut=lut,
                                 width_px=width_px, scale_bar=scale_bar, overwrite=True)

    def export_tiff(self, path) -> Path:
        from .export import export_tiff
        from .hyperspy_adapter import signal_from_array

        image = self.window.current_image()
        if image is None:
            raise UserFacingError("no image on screen to export")
        array, axes, _, _ = image
        doc = self.window.current_document()
        signal = signal_from_array(np.asarray(array, dtype=np.float32), axes,
                                   title=doc.name if doc else "", acquisition=doc.acquisition if doc else None)
        return export_tiff(signal, path, document=doc, overwrite=True)

    def export_spectra_csv(self, path) -> Path:
        from .export import export_csv

        traces = self.window.current_spectra()
        if not traces:
            raise UserFacingError("no spectrum on screen to export")
        axis = traces[0][1]
        columns = {name: values for name, axis_, values in traces if axis_.size == axis.size}
        doc = self.window.current_document()
        return export_csv(axis.values(), columns, path, x_name=axis.name, x_units=axis.units,
                          header={"source": doc.name if doc else ""}, overwrite=True)

    def export_profile_csv(self, path) -> Path:
        from .export import export_csv

        profile = self.window.profile_view.profile()
        if profile is None:
            raise UserFacingError("no line profile: draw a line ROI first")
        a = profile.distance_axis
        line = profile.line
        header = {"line": [line.x0, line.y0, line.x1, line.y1], "width": line.width}
        return export_csv(a.values(), {"mean": profile.values, "std_across": profile.std_across},
                          path, x_name=a.name, x_units=a.units, header=header, overwrite=True)

    def export_statistics_csv(self, path) -> Path:
        from .atomic_write import write_text_atomic
        import csv
        import io

        rows = self.window.roi_table.as_rows()
        if len(rows) < 2:
            raise UserFacingError("no ROI statistics: draw a rectangle, ellipse or polygon first")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        write_text_atomic(path, buf.getvalue())
        return Path(path)
