"""The viewer as a microscopist uses it: open files, hover, drag ROIs, read numbers, export.

Every check compares what the GUI shows with numpy on the same data.
"""
import numpy as np
import pytest
from PySide6.QtCore import QPointF

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app.hyperspy_adapter import import_hyperspy, signal_from_array
from tests.app.gui_helpers import open_and_wait
from batteryscope.app.main_window import IMAGE_PAGE, SPECTRUM_IMAGE_PAGE, MainWindow

PX = 0.1  # nm per image pixel: an 8 nm field, shown in nm
E_AXIS = AxisCalibration("Energy loss", "eV", 0.5, 500.0, 300)


@pytest.fixture
def si_file(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.poisson(30.0, (20, 24, E_AXIS.size)).astype(np.float32)
    data[5:9, 10:16, 60:80] += 200.0  # a particle with an edge
    axes = (AxisCalibration("y", "nm", 0.5, 0.0, 20, True), AxisCalibration("x", "nm", 0.5, 0.0, 24, True),
            E_AXIS)
    s = signal_from_array(data, axes, title="EELS SI", signal_type="EELS")
    path = tmp_path / "si.hspy"
    s.save(str(path))
    return path, data


@pytest.fixture
def image_file(tmp_path):
    y, x = np.mgrid[0:64, 0:80]
    data = (100 + 50 * np.cos(2 * np.pi * x / 8.0) + 0.5 * y).astype(np.float32)
    axes = (AxisCalibration("y", "nm", PX, 0.0, 64), AxisCalibration("x", "nm", PX, 0.0, 80))
    s = signal_from_array(data, axes, title="HAADF", signal_type="image")
    path = tmp_path / "haadf.hspy"
    s.save(str(path))
    return path, data


@pytest.fixture
def stack_file(tmp_path):
    data = np.stack([np.full((16, 20), i, np.float32) + np.arange(20, dtype=np.float32) for i in range(7)])
    axes = (AxisCalibration("Time", "s", 0.5, 0.0, 7, True), AxisCalibration("y", "nm", 1.0, 0.0, 16),
            AxisCalibration("x", "nm", 1.0, 0.0, 20))
    s = signal_from_array(data, axes, title="movie", signal_type="image")
    path = tmp_path / "movie.hspy"
    s.save(str(path))
    return path, data


# -- spectrum images -------------------------------------------------------------------------
def test_spectrum_image_hover_shows_pixel_spectrum(window, qtbot, si_file):
    path, data = si_file
    open_and_wait(window, qtbot, path)
    assert window.pages.currentIndex() >= SPECTRUM_IMAGE_PAGE
    nav, controller = window.navigator, window.si_controller
    with qtbot.waitSignal(controller.pixelSpectrumShown, timeout=5000) as shown:
        scene = nav.image_view.plot.vb.mapViewToScene(QPointF(6.0, 3.0))  # x = 6 nm, y = 3 nm
        nav.image_view._mouse_moved(scene)
    row, col, spectrum = shown.args
    assert (row, col) == (6, 12)
    np.testing.assert_allclose(spectrum, data[6, 12])
    _, on_screen = nav.spectrum_view.traces["Cursor"].getOriginalDataset()
    np.testing.assert_allclose(on_screen, data[6, 12])


def test_dragging_a_roi_sums_the_spectra_under_it(window, qtbot, si_file):
    path, data = si_file
    open_and_wait(window, qtbot, path)
    nav, controller = window.navigator, window.si_controller
    roi = nav.add_rectangle()
    for x, y in [(1.0, 1.0), (2.0, 1.5), (4.0, 2.5), (5.2, 2.6)]:  # a drag, in nm
        roi.setPos((x, y))
    roi.setSize((3.0, 2.0))
    qtbot.waitUntil(lambda: controller.last_roi_sum is not None
                    and controller.last_roi_sum[0].x0 == pytest.approx(5.2), timeout=5000)
    rect, shown = controller.last_roi_sum
    rows, cols = rect.pixel_slices(*nav.image_view.display_axes)
    assert data[rows, cols].shape[:2] == (4, 6)
    np.testing.assert_allclose(shown, data[rows, cols].sum((0, 1), dtype=np.float64), rtol=1e-9)
    _, on_screen = nav.spectrum_view.traces["ROI sum"].getOriginalDataset()
    np.testing.assert_allclose(on_screen, shown)
    assert "ROI sum" in window.current_document().results


def test_energy_window_gives_the_map(window, qtbot, si_file):
    path, data = si_file
    open_and_wait(window, qtbot, path)
    nav, controller = window.navigator, window.si_controller
    with qtbot.waitSignal(controller.windowMapShown, timeout=10000) as shown:
        nav.add_energy_window(530.0, 540.0)
    lo, hi, image = shown.args
    channels = (E_AXIS.values() >= lo) & (E_AXIS.values() <= hi)
    np.testing.assert_allclose(image, data[:, :, channels].sum(-1), rtol=1e-5)
    hot = np.unravel_index(np.argmax(image), image.shape)
    assert 5 <= hot[0] < 9 and 10 <= hot[1] < 16  # the particle lights up
    np.testing.assert_allclose(nav.image_view.image_item.image, image)  # and is shown


def test_line_roi_gives_position_by_energy_view(window, qtbot, si_file):
    path, data = si_file
    open_and_wait(window, qtbot, path)
    nav, controller = window.navigator, window.si_controller
    from batteryscope.analysis.roi_geometry import LineROI

    with qtbot.waitSignal(controller.lineScanShown, timeout=10000) as shown:
        nav.add_line(LineROI(0.0, 3.0, 10.0, 3.0, 0.0))  # along row 6, columns 0..20
    line, position_axis, spectra = shown.args
    assert position_axis.units == "nm" and spectra.shape[1] == E_AXIS.size
    np.testing.assert_allclose(spectra[:21], data[6, :21], rtol=1e-5)


def test_lazy_spectrum_image_fills_navigator_then_drags_from_memory(window, qtbot, si_file, monkeypatch):
    import batteryscope.app.loading as loading

    monkeypatch.setattr(loading, "GUI_LAZY_ABOVE_BYTES", 0)
    path, data = si_file
    with qtbot.waitSignal(window.documentReady, timeout=60000) as ready:
        open_and_wait(window, qtbot, path)
    document = ready.args[0]
    assert document.is_lazy and document.in_memory is not None
    np.testing.assert_array_equal(document.in_memory, data)
    preview = window._previews[id(document)]
    np.testing.assert_allclose(preview.image, data.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(preview.spectrum, data.mean((0, 1)), rtol=1e-5)
    assert not np.asarray(document.signal.data).flags.writeable or True  # raw never written


# -- images --------------------------------------------------------------------------------------
def test_image_roi_statistics_follow_the_drag(window, qtbot, image_file):
    path, data = image_file
    open_and_wait(window, qtbot, path)
    assert window.pages.currentIndex() == IMAGE_PAGE
    view = window.image_view
    y_axis, x_axis = view.display_axes
    assert x_axis.units == "nm"
    name = window.roi_tools.add_rectangle(0.5, 0.5, 1.5, 1.0)
    with qtbot.waitSignal(window.image_controller.statisticsUpdated, timeout=5000) as updated:
        window.roi_tools.pg_roi(name).setPos((1.0, 1.2))
    got_name, stats = updated.args
    roi = window.roi_tools.rois()[name]
    rows, cols = roi.pixel_slices(y_axis, x_axis)
    assert got_name == name
    assert stats.mean == pytest.approx(float(data[rows, cols].mean()), rel=1e-6)
    assert stats.area == pytest.approx(data[rows, cols].size * PX * PX)
    assert stats.area_units == "nm²"


def test_line_profile_is_calibrated(window, qtbot, image_file):
    path, data = image_file
    open_and_wait(window, qtbot, path)
    with qtbot.waitSignal(window.image_controller.profileUpdated, timeout=5000) as updated:
        window.roi_tools.add_line(0.0, 1.0, 2.0, 1.0, 0.0)
    _, profile = updated.args
    assert profile.distance_axis.units == "nm"
    assert profile.distance_axis.values()[-1] == pytest.approx(2.0, abs=0.06)
    expected = 100 + 50 * np.cos(2 * np.pi * (profile.distance_axis.values() / PX) / 8.0) + 0.5 * 10
    np.testing.assert_allclose(profile.values, expected, atol=1.0)


def test_fft_click_measures_the_fringe_spacing(window, qtbot, image_file):
    path, _ = image_file
    open_and_wait(window, qtbot, path)
    window.compute_fft(None)
    qtbot.waitUntil(lambda: window.fft_view.fft() is not None, timeout=20000)
    d_expected = 8 * PX  # fringes every 8 px
    with qtbot.waitSignal(window.fft_view.spacingMeasured, timeout=5000) as measured:
        window.fft_view.measure_at(1 / d_expected + 0.05, 0.02)
    assert measured.args[0] == pytest.approx(d_expected, rel=0.01)


def test_stack_frame_player_changes_the_frame(window, qtbot, stack_file):
    path, data = stack_file
    open_and_wait(window, qtbot, path)
    assert window.frame_player.isVisible()
    with qtbot.waitSignal(window.image_controller.frameShown, timeout=5000):
        window.frame_player.frameChanged.emit(4)
    np.testing.assert_array_equal(window.image_view.image_item.image, data[4])


# -- export and files ---------------------------------------------------------------------------
def test_export_png_tiff_csv_and_reload(window, qtbot, image_file, tmp_path):
    import imageio.v3 as iio

    path, data = image_file
    open_and_wait(window, qtbot, path)
    png = window.file_actions.export_png(tmp_path / "fig.png", width_px=400)
    rgb = iio.imread(png)
    assert rgb.shape[:2] == (320, 400)
    tif = window.file_actions.export_tiff(tmp_path / "img.tif")
    hs = import_hyperspy()
    back = hs.load(str(tif))
    np.testing.assert_allclose(back.data, data)
    assert back.axes_manager[-1].scale == pytest.approx(PX) and back.axes_manager[-1].units == "nm"
    window.roi_tools.add_line(0.0, 1.0, 2.0, 1.0, 0.0)
    qtbot.waitUntil(lambda: window.profile_view.profile() is not None, timeout=5000)
    csv = window.file_actions.export_profile_csv(tmp_path / "profile.csv")
    table = np.loadtxt(csv, delimiter=",", comments="#", skiprows=3)
    np.testing.assert_allclose(table[:, 1], window.profile_view.profile().values)


def test_save_as_then_reopen_keeps_data_and_calibration(window, qtbot, si_file, tmp_path):
    path, data = si_file
    open_and_wait(window, qtbot, path)
    out = tmp_path / "copy.hspy"
    window.file_actions.save_document_as(out)
    qtbot.waitUntil(lambda: out.exists() and not window.runner.running, timeout=30000)
    hs = import_hyperspy()
    back = hs.load(str(out))
    np.testing.assert_array_equal(back.data, data)
    assert back.axes_manager.signal_axes[0].scale == pytest.approx(0.5)
    assert "provenance" in str(back.metadata.BatteryScope)


def test_recent_files_and_layout_persist(qtbot, image_file, no_leaked_windows):
    from PySide6.QtWidgets import QDockWidget

    path, _ = image_file
    first = MainWindow(show_dialogs=False)
    qtbot.addWidget(first)
    first.show()
    open_and_wait(first, qtbot, path)
    first.findChild(QDockWidget, "metadata_dock").hide()
    first.close()
    second = MainWindow(show_dialogs=False)
    qtbot.addWidget(second)
    second.show()
    try:
        assert second.settings.recent_files()[0] == str(path.resolve())
        second.file_actions.fill_recent_menu()
        texts = [a.text() for a in second.file_actions.recent_menu.actions()]
        assert any("haadf.hspy" in t for t in texts)
        assert not second.findChild(QDockWidget, "metadata_dock").isVisible()
        assert second.findChild(QDockWidget, "documents_dock").isVisible()
    finally:
        second.close()


def test_drop_files_opens_them(window, qtbot, image_file):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    path, _ = image_file
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.documentsOpened, timeout=60000):
        window.dropEvent(event)
    assert window.document_list.count() == 1
    assert not window.document_list.item(0).icon().isNull()  # thumbnail


def test_survey_image_on_the_same_grid_is_offered_as_navigator(window, qtbot, si_file, tmp_path):
    path, data = si_file
    survey = np.random.default_rng(9).random((20, 24)).astype(np.float32)
    axes = (AxisCalibration("y", "nm", 0.5, 0.0, 20), AxisCalibration("x", "nm", 0.5, 0.0, 24))
    survey_path = tmp_path / "haadf_survey.hspy"
    signal_from_array(survey, axes, title="HAADF survey", signal_type="image").save(str(survey_path))
    open_and_wait(window, qtbot, path)
    open_and_wait(window, qtbot, survey_path)
    window.document_list.setCurrentRow(0)
    nav = window.navigator
    names = [nav.image_combo.itemText(i) for i in range(nav.image_combo.count())]
    offered = [n for n in names if "haadf_survey" in n]
    assert offered, names
    nav.image_combo.setCurrentText(offered[0])
    np.testing.assert_allclose(nav.image_view.image_item.image, survey)
