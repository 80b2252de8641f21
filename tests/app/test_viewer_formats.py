"""The viewer on microscope formats: DigitalMicrograph, TIA SER, EMD and TIFF files open
on the right page with calibrated axes, and the tools give the numbers numpy gives."""
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app.hyperspy_adapter import signal_from_array
from tests.app.gui_helpers import open_and_wait
from batteryscope.app.main_window import IMAGE_PAGE, SPECTRUM_IMAGE_PAGE
from tests.fixtures.dm_writer import dm_calibration, write_dm
from tests.fixtures.ser_writer import write_ser


@pytest.mark.parametrize("version", [3, 4])
def test_dm_spectrum_image_navigates_and_sums(window, qtbot, tmp_path, version):
    rng = np.random.default_rng(version)
    data = rng.poisson(40, (9, 11, 200)).astype(np.float32)
    path = write_dm(tmp_path / f"si.dm{version}", data, version=version, signal="EELS",
                    calibrations=[dm_calibration(0.0, 0.8, "nm"), dm_calibration(0.0, 0.8, "nm"),
                                  dm_calibration(280.0, 0.25, "eV")])
    open_and_wait(window, qtbot, path)
    assert window.pages.currentIndex() >= SPECTRUM_IMAGE_PAGE
    nav, controller = window.navigator, window.si_controller
    y_axis, x_axis = nav.image_view.display_axes
    assert x_axis.units == "nm" and x_axis.scale == pytest.approx(0.8)
    np.testing.assert_allclose(nav.image_view.image_item.image, data.sum(-1), rtol=1e-6)
    roi = nav.add_rectangle()
    roi.setPos((1.5, 2.0))
    roi.setSize((3.0, 2.4))
    qtbot.waitUntil(lambda: controller.last_roi_sum is not None
                    and controller.last_roi_sum[0].x0 == pytest.approx(1.5), timeout=5000)
    rect, shown = controller.last_roi_sum
    rows, cols = rect.pixel_slices(y_axis, x_axis)
    np.testing.assert_allclose(shown, data[rows, cols].sum((0, 1), dtype=np.float64))
    energy = nav.spectrum_view.trace_data()[0][1]
    assert energy.units == "eV" and energy.scale == pytest.approx(0.25)
    assert energy.offset == pytest.approx(280.0)  # first channel at 280 eV


def test_dm3_image_in_angstrom_shows_angstrom_axes_and_area_in_nm2(window, qtbot, tmp_path):
    data = np.arange(64 * 48, dtype=np.float32).reshape(64, 48)
    path = write_dm(tmp_path / "hrstem.dm3", data, version=3,
                    calibrations=[dm_calibration(0.0, 0.5, "Å"), dm_calibration(0.0, 0.5, "Å")])
    open_and_wait(window, qtbot, path)
    assert window.pages.currentIndex() == IMAGE_PAGE
    y_axis, x_axis = window.image_view.display_axes
    assert x_axis.units == "Å"  # a 2.4 nm field reads in Å
    name = window.roi_tools.add_rectangle(2.0, 2.0, 10.0, 6.0)
    qtbot.waitUntil(lambda: name in window.roi_table.names(), timeout=5000)
    stats = window.roi_table.statistics(name)
    rows, cols = window.roi_tools.rois()[name].pixel_slices(y_axis, x_axis)
    assert stats.mean == pytest.approx(float(data[rows, cols].mean()))
    assert stats.area_units == "nm²"
    assert stats.area == pytest.approx(data[rows, cols].size * 0.05 * 0.05)


def test_ser_image_series_plays(window, qtbot, tmp_path):
    frames = np.stack([np.full((32, 40), i, np.float32) for i in range(5)])
    path = write_ser(tmp_path / "series_1.ser", frames, kind="image",
                     calibrations=[(0.0, 2e-10), (0.0, 2e-10)])
    open_and_wait(window, qtbot, path)
    assert window.frame_player.isVisible()
    with qtbot.waitSignal(window.image_controller.frameShown, timeout=5000):
        window.frame_player.set_index(3)
    assert float(window.image_view.image_item.image.mean()) == 3.0


@pytest.mark.parametrize("ext", ["emd", "tif"])
def test_emd_and_tiff_images_keep_calibration(window, qtbot, tmp_path, ext):
    y, x = np.mgrid[0:50, 0:60]
    data = (np.cos(2 * np.pi * x / 6.0) * 100 + 200).astype(np.float32)
    axes = (AxisCalibration("y", "nm", 0.2, 0.0, 50), AxisCalibration("x", "nm", 0.2, 0.0, 60))
    path = tmp_path / f"image.{ext}"
    signal_from_array(data, axes, title="survey").save(str(path))
    open_and_wait(window, qtbot, path)
    y_axis, x_axis = window.image_view.display_axes
    assert x_axis.units == "nm" and x_axis.scale == pytest.approx(0.2, rel=1e-5)
    with qtbot.waitSignal(window.image_controller.profileUpdated, timeout=5000) as updated:
        window.roi_tools.add_line(0.0, 5.0, 6.0, 5.0, 0.0)
    profile = updated.args[1]
    period = 6 * 0.2  # nm
    expected = np.cos(2 * np.pi * profile.distance_axis.values() / period) * 100 + 200
    np.testing.assert_allclose(profile.values, expected, atol=1e-3)
