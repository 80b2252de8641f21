"""One navigator page per open spectrum image, so switching documents keeps each one's
ROIs, energy window and pinned pixel; results of each page are recorded on its document."""
from __future__ import annotations

from dataclasses import replace

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import roi_to_dict
from batteryscope.widgets.si_navigator import SpectrumImageNavigator

from .document import ArrayResult, ProvenanceStep


def _warm_up_kernels(context, dtype) -> None:
    from batteryscope.analysis.spectrum_sums import warm_up

    warm_up(dtype)


class SpectrumImagePages:
    """Creates and keeps (navigator, controller) pairs in ``stack`` for spectrum images."""

    def __init__(self, stack, runner, on_cursor=None, on_problem=None, companions=None):
        self.stack, self.runner = stack, runner
        self.on_cursor, self.on_problem = on_cursor, on_problem
        #: companions(document) -> {name: (ny, nx) image}: other open images on the same scan
        #: grid (a HAADF survey, the paired low-loss SI) offered as navigation images
        self.companions = companions or (lambda document: {})
        self._pages: dict[int, tuple] = {}   # id(document) -> (navigator, controller)
        self._previews: dict[int, tuple[object, object]] = {}

    def page_for(self, document, preview) -> tuple:
        """The page of ``document``, created (and filled from ``preview``) on first use."""
        # deferred: the controller's numba kernels are not needed to show the first window
        from .spectrum_image_controller import SpectrumImageController

        key = id(document)
        if key not in self._pages:
            navigator = SpectrumImageNavigator()
            if self.on_cursor:
                navigator.image_view.cursorMoved.connect(self.on_cursor)
            controller = SpectrumImageController(navigator, document.data, tuple(document.axes[:3]),
                                                 self.runner, parent=navigator)
            self._record_results(document, controller)
            if self.on_problem:
                controller.failed.connect(lambda m: self.on_problem("Spectrum image", m))
            self.stack.addWidget(navigator)
            self._pages[key] = (navigator, controller)
            self.runner.start(_warm_up_kernels, document.data.dtype)
            self.update_preview(document, preview)
        return self._pages[key]

    def update_preview(self, document, preview) -> None:
        """Navigator image and mean spectrum (again, as a lazy file is read)."""
        if id(document) not in self._pages:
            return
        navigator, _ = self._pages[id(document)]
        self._previews[id(document)] = (document, preview)
        if preview.image is not None:
            images = {"Total counts": preview.image, **self.companions(document)}
            navigator.set_navigation_images(images, preview.image_axes)
        if preview.spectrum is not None:
            navigator.show_spectrum("Mean spectrum", preview.spectrum)

    def refresh_companions(self) -> None:
        """Offer newly opened images on the same scan grid in every navigator."""
        for document, preview in list(self._previews.values()):
            self.update_preview(document, preview)

    def use_in_memory(self, document) -> None:
        """The document's data are now in memory: compute from there from now on."""
        if id(document) in self._pages:
            self._pages[id(document)][1].set_data(document.data)

    def _record_results(self, document, controller) -> None:
        y_axis, x_axis, e_axis = document.axes[:3]
        e_axis = replace(e_axis, navigate=False)

        def roi_sum(rect, spectrum):
            document.add_result("ROI sum", ArrayResult(spectrum, (e_axis,), f"ROI sum of {document.name}",
                                                       "EELS"),
                                ProvenanceStep("roi_sum", {"roi": roi_to_dict(rect)}))

        def window_map(lo, hi, image):
            document.add_result(f"Map {lo:.1f}–{hi:.1f} {e_axis.units}",
                                ArrayResult(image, (replace(y_axis, navigate=False),
                                                    replace(x_axis, navigate=False)),
                                            f"Counts {lo:.1f}–{hi:.1f} {e_axis.units}", "image"),
                                ProvenanceStep("energy_window_map", {"low": lo, "high": hi,
                                                                     "units": e_axis.units}))

        def line_scan(line, position_axis: AxisCalibration, spectra):
            document.add_result("Line scan",
                                ArrayResult(spectra, (replace(position_axis, navigate=True), e_axis),
                                            f"Line scan of {document.name}", "EELS"),
                                ProvenanceStep("line_scan", {"line": roi_to_dict(line)}))

        controller.roiSumShown.connect(roi_sum)
        controller.windowMapShown.connect(window_map)
        controller.lineScanShown.connect(line_scan)
