"""SpectrumImageController on in-memory and dask data: what is displayed equals numpy."""
import gc
import threading

import dask.array as da
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import LineROI, RectangleROI
from batteryscope.app.jobs import JobRunner
from batteryscope.app.spectrum_image_controller import ROI_TRACE, SpectrumImageController
from batteryscope.widgets.si_navigator import SpectrumImageNavigator

NY, NX, NE = 24, 32, 50
Y = AxisCalibration("y", "nm", 0.5, 0.0, NY, navigate=True)
X = AxisCalibration("x", "nm", 0.5, 0.0, NX, navigate=True)
E = AxisCalibration("Energy loss", "eV", 1.0, 500.0, NE)
DATA = np.random.default_rng(0).poisson(50.0, (NY, NX, NE)).astype(np.float32)
TIMEOUT = 10_000


class BlockLog:
    """A dask array over DATA that records which chunks are read, and on which thread."""

    def __init__(self, chunks=(8, 8, -1)):
        self.reads = []
        self._lock = threading.Lock()
        self.array = da.from_array(DATA, chunks=chunks).map_blocks(self._record, dtype=DATA.dtype)

    def _record(self, block, block_info=None):
        with self._lock:
            self.reads.append((threading.get_ident(), tuple(block_info[0]["chunk-location"])))
        return block


@pytest.fixture(autouse=True)
def gc_only_on_the_gui_thread():
    """Automatic garbage collection may run in whichever thread allocates, and a cycle
    holding Qt objects collected in a worker (dask allocates a lot) destroys them there:
    a deadlock with the GUI thread was seen. The app must do the same as pyqtgraph's
    ``GarbageCollector``: collect only on the GUI thread."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()
    gc.collect()


@pytest.fixture
def runner():
    r = JobRunner()
    yield r
    assert r.stop_all(timeout_s=10)


@pytest.fixture
def navigator(qtbot, no_leaked_windows):
    nav = SpectrumImageNavigator()
    qtbot.addWidget(nav)
    nav.set_navigation_images({"Total counts": DATA.sum(axis=2)}, (Y, X))
    return nav


@pytest.fixture(params=["numpy", "dask"])
def setup(request, navigator, runner):
    log = BlockLog() if request.param == "dask" else None
    data = log.array if log else DATA
    controller = SpectrumImageController(navigator, data, (Y, X, E), runner)
    yield navigator, controller, log
    controller.shutdown()


def numpy_rect(rect):
    return DATA[rect.pixel_slices(Y, X)].sum(axis=(0, 1), dtype=np.float64)


def test_dragging_the_rectangle_shows_the_numpy_roi_sum(setup, qtbot):
    nav, controller, log = setup
    with qtbot.waitSignal(controller.roiSumShown, timeout=TIMEOUT):
        nav.add_rectangle(RectangleROI(1.75, 0.75, 5.75, 4.75))
    path = [(1.75 + 0.5 * k, 0.75 + 0.5 * (k // 2)) for k in range(1, 9)] + [(9.25, 2.25), (3.0, 6.0)]
    for x, y in path:                        # one drag step per refresh, like a slow mouse
        shown = []
        controller.roiSumShown.connect(lambda rect, s: shown.append(rect))
        nav.rect_roi.setPos((x, y), finish=False)
        qtbot.waitUntil(lambda: bool(shown) and shown[-1] == nav.rectangle, timeout=TIMEOUT)
        rect, spectrum = controller.last_roi_sum
        assert rect == nav.rectangle
        np.testing.assert_allclose(spectrum, numpy_rect(rect), rtol=1e-9)
        np.testing.assert_allclose(nav.spectrum_view.traces[ROI_TRACE].getOriginalDataset()[1],
                                   numpy_rect(rect), rtol=1e-9)
    if log is None:
        assert controller.tracker.n_incremental >= 8           # strips, not whole re-reads
    else:
        main = threading.main_thread().ident
        assert log.reads and all(thread != main for thread, _ in log.reads)


def test_a_burst_of_moves_costs_one_update(setup, qtbot):
    nav, controller, log = setup
    with qtbot.waitSignal(controller.roiSumShown, timeout=TIMEOUT):
        nav.add_rectangle(RectangleROI(1.75, 0.75, 5.75, 4.75))
    qtbot.wait(50)
    shown = []
    controller.roiSumShown.connect(lambda rect, s: shown.append((rect, s)))
    for k in range(1, 30):                   # 29 moves before the event loop runs once
        nav.rect_roi.setPos((1.75 + 0.25 * k, 0.75), finish=False)
    qtbot.waitUntil(lambda: bool(shown) and shown[-1][0] == nav.rectangle, timeout=TIMEOUT)
    qtbot.wait(100)
    assert len(shown) == 1
    np.testing.assert_allclose(shown[0][1], numpy_rect(nav.rectangle), rtol=1e-9)


def test_dask_roi_sum_reads_only_the_chunks_it_touches(navigator, runner, qtbot):
    log = BlockLog()
    controller = SpectrumImageController(navigator, log.array, (Y, X, E), runner)
    rect = RectangleROI(0.0, 0.0, 3.0, 3.0)                  # pixels 0..6: chunk (0, 0) only
    with qtbot.waitSignal(controller.roiSumShown, timeout=TIMEOUT) as blocker:
        navigator.add_rectangle(rect)
    np.testing.assert_allclose(blocker.args[1], numpy_rect(rect), rtol=1e-9)
    assert {loc for _, loc in log.reads} == {(0, 0, 0)}
    controller.shutdown()


def test_energy_window_map_equals_numpy(setup, qtbot):
    nav, controller, _ = setup
    with qtbot.waitSignal(controller.windowMapShown, timeout=TIMEOUT) as blocker:
        nav.add_energy_window(510.2, 520.0)
    lo, hi, image = blocker.args
    assert (lo, hi) == (510.2, 520.0)
    expected = DATA[:, :, 11:21].sum(axis=2, dtype=np.float64)
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    assert nav.image_combo.currentText() == nav.MAP_ENTRY
    np.testing.assert_allclose(nav.image_view.image_item.image, expected, rtol=1e-6)
    np.testing.assert_allclose(controller.window_map(520.0, 510.2), expected, rtol=1e-6)


def test_latest_window_wins(setup, qtbot):
    nav, controller, _ = setup
    nav.add_energy_window(505, 510)
    shown = []
    controller.windowMapShown.connect(lambda lo, hi, image: shown.append((lo, hi, image)))
    for k in range(10):
        nav.energy_span.setRegion((505 + k, 510 + k))
        qtbot.wait(3)                        # some of these become jobs, some are superseded
    qtbot.waitUntil(lambda: bool(shown) and shown[-1][:2] == (514.0, 519.0), timeout=TIMEOUT)
    qtbot.wait(200)                          # nothing older may arrive afterwards
    assert shown[-1][:2] == (514.0, 519.0)
    np.testing.assert_allclose(shown[-1][2], DATA[:, :, 14:20].sum(axis=2), rtol=1e-6)


def test_large_in_memory_windows_run_in_the_runner(navigator, runner, qtbot):
    controller = SpectrumImageController(navigator, DATA, (Y, X, E), runner)
    controller.GUI_THREAD_BYTES = 0
    navigator.add_energy_window(500, 549)
    with qtbot.waitSignal(controller.windowMapShown, timeout=TIMEOUT) as blocker:
        pass
    np.testing.assert_allclose(blocker.args[2], DATA.sum(axis=2), rtol=1e-6)
    controller.shutdown()


def test_window_outside_the_axis_reports_failure(setup, qtbot):
    nav, controller, _ = setup
    nav.add_energy_window(505, 510)
    with qtbot.waitSignal(controller.failed, timeout=TIMEOUT) as blocker:
        nav.energy_span.setRegion((700, 800))
    assert "outside" in blocker.args[0]


def reference_line_scan(row, c0, c1, half_width):
    return DATA[row - half_width:row + half_width + 1, c0:c1 + 1].mean(axis=0)


def test_line_scan_equals_numpy_reference(setup, qtbot):
    nav, controller, _ = setup
    row, c0, c1 = 9, 3, 27
    line = LineROI(X.values()[c0], Y.values()[row], X.values()[c1], Y.values()[row], 3 * Y.scale)
    with qtbot.waitSignal(controller.lineScanShown, timeout=TIMEOUT) as blocker:
        nav.add_line(line)
    shown_line, axis, spectra = blocker.args
    assert shown_line == line and axis.size == c1 - c0 + 1 and axis.units == "nm"
    np.testing.assert_allclose(spectra, reference_line_scan(row, c0, c1, 1), rtol=1e-6)
    assert not nav.line_view.isHidden()                     # navigator itself not shown
    np.testing.assert_allclose(nav.line_view.image_item.image, spectra, rtol=1e-6)
    with qtbot.waitSignal(controller.lineScanShown, timeout=TIMEOUT) as moved:
        nav.line_roi.setPos((0.0, -2 * Y.scale))            # two rows up
    np.testing.assert_allclose(moved.args[2], reference_line_scan(row - 2, c0, c1, 1), rtol=1e-6)


def test_line_partly_outside_is_nan_there(setup, qtbot):
    nav, controller, _ = setup
    line = LineROI(X.values()[28], Y.values()[4], X.values()[28] + 6 * X.scale, Y.values()[4], 0)
    with qtbot.waitSignal(controller.lineScanShown, timeout=TIMEOUT) as blocker:
        nav.add_line(line)
    spectra = blocker.args[2]
    np.testing.assert_allclose(spectra[:4], DATA[4, 28:32], rtol=1e-6)
    assert np.isnan(spectra[4:]).all()


def test_hovered_and_pinned_pixels_show_their_spectra(setup, qtbot):
    nav, controller, _ = setup
    with qtbot.waitSignal(controller.pixelSpectrumShown, timeout=TIMEOUT) as hovered:
        nav.pixelHovered.emit(5, 7)
    assert hovered.args[:2] == [5, 7]
    np.testing.assert_array_equal(hovered.args[2], DATA[5, 7])
    assert "Cursor" in nav.spectrum_view.traces
    for row, col in [(1, 2), (3, 4)]:
        with qtbot.waitSignal(controller.pixelSpectrumShown, timeout=TIMEOUT):
            nav.select_pixel(row, col)
    assert "Pixel (1, 2)" not in nav.spectrum_view.traces
    np.testing.assert_array_equal(nav.spectrum_view.traces["Pixel (3, 4)"].getOriginalDataset()[1],
                                  DATA[3, 4])
    np.testing.assert_array_equal(controller.spectrum_at(3, 4), DATA[3, 4])


def test_synchronous_api_matches_numpy(setup):
    _, controller, _ = setup
    rect = RectangleROI(2.0, 1.0, 7.5, 9.0)
    np.testing.assert_allclose(controller.roi_sum(rect), numpy_rect(rect), rtol=1e-9)
    axis, spectra = controller.line_scan(LineROI(0, 1.0, 5.0, 1.0))
    np.testing.assert_allclose(spectra, DATA[2, 0:11], rtol=1e-6)


def test_set_data_switches_from_dask_to_memory(navigator, runner, qtbot):
    controller = SpectrumImageController(navigator, BlockLog().array, (Y, X, E), runner)
    assert controller.lazy and controller.tracker is None
    controller.set_data(DATA)                                # the lazy file is now in memory
    assert not controller.lazy and controller.tracker is not None
    with qtbot.waitSignal(controller.roiSumShown, timeout=TIMEOUT) as blocker:
        navigator.add_rectangle(RectangleROI(1.0, 1.0, 4.0, 4.0))
    np.testing.assert_allclose(blocker.args[1], numpy_rect(blocker.args[0]), rtol=1e-9)
    with pytest.raises(ValueError, match="does not match"):
        controller.set_data(DATA[:3])
    controller.shutdown()


def test_shape_mismatch_and_shutdown(navigator, runner, qtbot):
    with pytest.raises(ValueError, match="does not match"):
        SpectrumImageController(navigator, DATA[:, :5], (Y, X, E), runner)
    controller = SpectrumImageController(navigator, BlockLog().array, (Y, X, E), runner)
    shown = []
    controller.roiSumShown.connect(lambda *a: shown.append(a))
    navigator.add_rectangle()
    controller.shutdown()                                   # results still to come are dropped
    qtbot.wait(300)
    assert shown == []
