"""Connects the image widgets (view, ROI tools, statistics, profile, FFT, frame player)
to the image or image-stack document on screen.

Cheap updates (ROI statistics, line profiles) run on the GUI thread, coalesced to one
per display refresh; FFTs and frames of lazily opened stacks are computed in workers,
latest request wins.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from batteryscope.analysis.roi_geometry import LineROI, RectangleROI, roi_statistics, roi_to_dict

REFRESH_MS = 16


def _frame_job(context, data, index):
    return index, np.ascontiguousarray(np.asarray(data[index].compute()))


def _fft_job(context, image, y_axis, x_axis):
    from batteryscope.analysis.image_fft import power_spectrum

    return power_spectrum(image, y_axis, x_axis)


class ImageController(QObject):
    """Keeps the image tools in step with the current image document.

    Signals
    -------
    statisticsUpdated(str, object)
        ROI name and its RoiStatistics, after each (coalesced) change.
    profileUpdated(str, object)
        Line ROI name and its LineProfile.
    frameShown(int)
        Index of the frame now on screen.
    """

    statisticsUpdated = Signal(str, object)
    profileUpdated = Signal(str, object)
    frameShown = Signal(int)

    def __init__(self, image_view, roi_tools, stats_table, profile_view, fft_view,
                 frame_player, runner, parent=None):
        super().__init__(parent)
        self.view, self.roi_tools, self.table = image_view, roi_tools, stats_table
        self.profile_view, self.fft_view, self.player = profile_view, fft_view, frame_player
        self.runner = runner
        self.document = None
        self.image = None            # the 2-D array on screen (float32)
        self.frame_index = 0
        self.stack_axis = None
        self._pending_rois: set[str] = set()
        self._frame_job = None
        self._wanted_frame = None    # newest frame asked for while a lazy read was running
        self._fft_job = None
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._timer.timeout.connect(self._refresh_rois)
        roi_tools.roiChanged.connect(self._roi_changed)
        roi_tools.roiRemoved.connect(self._roi_removed)
        frame_player.frameChanged.connect(self.show_frame)

    # -- documents ---------------------------------------------------------------------------
    def show(self, document, preview) -> None:
        """Show ``document`` (an image or stack) starting from its preview image."""
        self._remember_rois()
        self.document = document
        self.roi_tools.clear()
        self.table.clear()
        self.profile_view.clear()
        self.image = np.ascontiguousarray(preview.image, dtype=np.float32)
        self.view.set_image(self.image, preview.image_axes,
                            title=f"{document.name} — {preview.image_title}".strip(" —"))
        nav = [a for a in document.axes if a.navigate]
        self.stack_axis = nav[0] if len(nav) == 1 else None
        self.frame_index = 0
        self.player.setVisible(self.stack_axis is not None)
        if self.stack_axis is not None:
            self.player.set_frame_count(self.stack_axis.size)
            if hasattr(self.player, "set_time_axis"):
                self.player.set_time_axis(self.stack_axis)
        for roi in document.rois:
            self.restore_roi(roi)

    def _remember_rois(self) -> None:
        if self.document is not None:
            self.document.rois = list(self.roi_tools.rois().values())

    def restore_roi(self, roi) -> str:
        """Draw a saved ROI geometry again (in display units of the current view)."""
        tools = self.roi_tools
        if isinstance(roi, RectangleROI):
            return tools.add_rectangle(roi.x0, roi.y0, roi.x1, roi.y1)
        if isinstance(roi, LineROI):
            return tools.add_line(roi.x0, roi.y0, roi.x1, roi.y1, roi.width)
        if roi.kind == "ellipse":
            return tools.add_ellipse(roi.cx, roi.cy, roi.rx, roi.ry)
        return tools.add_polygon(roi.vertices)

    @property
    def axes(self):
        """(y_axis, x_axis) of the image as displayed (the units ROIs are drawn in)."""
        return self.view.display_axes

    # -- frames ------------------------------------------------------------------------------
    def show_frame(self, index: int) -> None:
        """Put frame ``index`` of a stack on screen (from memory, or read in a worker)."""
        if self.document is None or self.stack_axis is None:
            return
        data = self.document.data
        if hasattr(data, "compute"):
            if self._frame_job is not None and self._frame_job.job_id in {j.job_id for j in self.runner.running}:
                self._wanted_frame = index  # one read at a time; the newest request follows
                return
            self._frame_job = self.runner.start(_frame_job, data, index, on_done=self._frame_read)
            return
        self._set_frame(index, np.asarray(data[index]))

    def _frame_read(self, result) -> None:
        index, frame = result
        self._set_frame(index, frame)
        wanted = self._wanted_frame
        self._wanted_frame = None
        if wanted is not None and wanted != index:
            self.show_frame(wanted)

    def _set_frame(self, index: int, frame) -> None:
        self.frame_index = index
        self.image = np.ascontiguousarray(frame, dtype=np.float32)
        self.view.set_frame(self.image)
        self._pending_rois.update(self.roi_tools.rois())
        self._refresh_rois()
        self.frameShown.emit(index)

    # -- ROIs --------------------------------------------------------------------------------
    def _roi_changed(self, name: str, roi) -> None:
        self._pending_rois.add(name)
        if not self._timer.isActive():
            self._timer.start()

    def _roi_removed(self, name: str) -> None:
        self._pending_rois.discard(name)
        self.table.remove(name)

    def _refresh_rois(self) -> None:
        rois = self.roi_tools.rois()
        names, self._pending_rois = self._pending_rois, set()
        if self.image is None:
            return
        y_axis, x_axis = self.axes
        for name in sorted(names):
            roi = rois.get(name)
            if roi is None:
                continue
            if isinstance(roi, LineROI):
                if roi.length <= 0:
                    continue
                from batteryscope.analysis.line_profile import line_profile  # scipy.ndimage: deferred

                profile = line_profile(self.image, roi, y_axis, x_axis)
                self.profile_view.set_profile(profile, name)
                self.profileUpdated.emit(name, profile)
            else:
                stats = roi_statistics(self.image, roi, y_axis, x_axis)
                self.table.set_statistics(name, stats)
                self.statisticsUpdated.emit(name, stats)

    def roi_records(self) -> list[dict]:
        """Geometry of every ROI, for saving with results."""
        return [{"name": n, **roi_to_dict(r)} for n, r in self.roi_tools.rois().items()]

    # -- FFT ---------------------------------------------------------------------------------
    def fft_region(self, roi_name: str | None = None):
        """(image, y_axis, x_axis) of the whole image or of a ROI's bounding box."""
        y_axis, x_axis = self.axes
        if not roi_name:
            return self.image, y_axis, x_axis
        roi = self.roi_tools.rois()[roi_name]
        if isinstance(roi, LineROI):
            raise ValueError("choose an area ROI (rectangle, ellipse, polygon) for an FFT")
        if isinstance(roi, RectangleROI):
            rows, cols = roi.pixel_slices(y_axis, x_axis)
        else:
            mask_rows, mask_cols = np.nonzero(roi.mask(y_axis, x_axis))
            if mask_rows.size == 0:
                raise ValueError(f"ROI {roi_name} covers no pixel")
            rows = slice(mask_rows.min(), mask_rows.max() + 1)
            cols = slice(mask_cols.min(), mask_cols.max() + 1)
        from dataclasses import replace

        crop = self.image[rows, cols]
        if min(crop.shape) < 8:
            raise ValueError(f"ROI {roi_name} is too small for an FFT ({crop.shape[1]}×{crop.shape[0]} px)")
        return (crop, replace(y_axis, offset=y_axis.offset + rows.start * y_axis.scale, size=crop.shape[0]),
                replace(x_axis, offset=x_axis.offset + cols.start * x_axis.scale, size=crop.shape[1]))

    def compute_fft(self, roi_name: str | None = None, on_done=None) -> None:
        """FFT of the image or a ROI in a worker; shown in the FFT view when done."""
        image, y_axis, x_axis = self.fft_region(roi_name)
        if self._fft_job is not None:
            self._fft_job.cancel()
        title = f"FFT of {roi_name}" if roi_name else "FFT of the image"
        job = None

        def done(fft):
            if job is not self._fft_job:
                return  # superseded by a newer request
            self.fft_view.set_fft(fft, title)
            if on_done:
                on_done(fft)

        job = self._fft_job = self.runner.start(_fft_job, np.array(image), y_axis, x_axis, on_done=done)
