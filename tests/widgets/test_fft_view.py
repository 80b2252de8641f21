"""FFTView: a spectrum set from the model shows up; clicks on spots measure d."""
import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.image_fft import power_spectrum
from batteryscope.widgets.fft_view import FFTView

D_NM, ANGLE = 0.35, 32.0
K = (math.cos(math.radians(ANGLE)) / D_NM, math.sin(math.radians(ANGLE)) / D_NM)


@pytest.fixture
def view(qtbot, no_leaked_windows):
    w = FFTView()
    qtbot.addWidget(w)
    w.resize(520, 640)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture(scope="module")
def fft():
    ay = AxisCalibration("y", "nm", 0.012, 0.0, 256)
    ax = AxisCalibration("x", "nm", 0.012, 0.0, 256)
    x, y = ax.values()[None, :], ay.values()[:, None]
    image = 100 + 10 * np.cos(2 * np.pi * (x * K[0] + y * K[1]) + 0.3)
    return power_spectrum(image.astype(np.float32), ay, ax)


def test_spectrum_is_shown_on_calibrated_axes(view, fft):
    view.set_fft(fft, title="ROI 1")
    np.testing.assert_array_equal(view.image_item.image, fft.log_power)
    rect = view.image_item.mapRectToParent(view.image_item.boundingRect())
    assert rect.center().x() == pytest.approx(-fft.kx_axis.scale / 2)  # DC at index n // 2
    assert rect.width() == pytest.approx(256 * fft.kx_axis.scale)
    assert view.plot.getAxis("bottom").labelText == "kx (1/nm)"
    assert view.plot.getAxis("left").labelText == "ky (1/nm)"
    lo, hi = view.image_item.getLevels()
    assert np.median(fft.log_power) == pytest.approx(lo) and hi < fft.log_power.max()
    assert view.plot.vb.state["yInverted"] and view.plot.vb.state["aspectLocked"]
    assert view.fft() is fft


def test_measure_at_refines_marks_and_reports(view, qtbot, fft):
    view.set_fft(fft)
    click = (K[0] + 2 * fft.kx_axis.scale, K[1] - fft.ky_axis.scale)
    with qtbot.waitSignal(view.spacingMeasured, timeout=2000) as measured:
        m = view.measure_at(*click)
    d, kx, ky = measured.args
    assert d == pytest.approx(D_NM, rel=5e-3)
    assert (kx, ky) == pytest.approx(K, rel=1e-3)
    assert m.angle_deg == pytest.approx(ANGLE, abs=0.2) and m.d_units == "nm"
    text = view.result_label.text()
    assert text.startswith("d = 0.35") and "nm (2.86 1/nm)" in text and "angle 32.0°" in text
    xs, ys = view.spots.getData()
    np.testing.assert_allclose(xs, [kx, -kx])
    np.testing.assert_allclose(ys, [ky, -ky])
    rx, ry = view.ring.getData()
    np.testing.assert_allclose(np.hypot(rx, ry), math.hypot(kx, ky))
    assert view.measurements() == [m] and view.measurement_list.item(0).text() == text


def test_real_mouse_click_on_the_friedel_mate(view, qtbot, fft):
    view.set_fft(fft)
    target = QPointF(-K[0] - fft.kx_axis.scale, -K[1] + fft.ky_axis.scale)  # ~1.4 px off
    scene = view.plot.vb.mapViewToScene(target)
    pos = view.graphics_view.mapFromScene(scene)
    with qtbot.waitSignal(view.spacingMeasured, timeout=3000) as measured:
        qtbot.mouseClick(view.graphics_view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    d, kx, ky = measured.args
    assert d == pytest.approx(D_NM, rel=5e-3)
    assert (kx, ky) == pytest.approx((-K[0], -K[1]), rel=1e-3)
    assert view.measurements()[0].angle_deg == pytest.approx(ANGLE - 180.0, abs=0.2)


def test_keeps_the_last_measurements_and_clears(view, qtbot, fft):
    view.max_measurements = 3
    view.set_fft(fft)
    for i in range(5):
        view.measure_at(K[0] * (-1) ** i, K[1] * (-1) ** i)
    assert len(view.measurements()) == 3 and view.measurement_list.count() == 3
    view.set_fft(fft)  # a new frame of a live FFT keeps the measurements
    assert len(view.measurements()) == 3
    qtbot.mouseClick(view.clear_button, Qt.MouseButton.LeftButton)
    assert view.measurements() == [] and view.measurement_list.count() == 0
    assert len(view.spots.getData()[0]) == 0


def test_centre_click_measures_nothing(view, qtbot, fft):
    view.set_fft(fft)
    with qtbot.assertNotEmitted(view.spacingMeasured):
        assert view.measure_at(0.0, 0.0) is None
    assert "centre" in view.result_label.text() and view.measurements() == []


def test_without_spectrum_nothing_happens(view, qtbot):
    with qtbot.assertNotEmitted(view.spacingMeasured):
        assert view.measure_at(1.0, 1.0) is None


def test_gray_colour_map(qtbot):
    w = FFTView(colormap="gray")
    qtbot.addWidget(w)
    lut = w.image_item.lut
    lut = lut(None) if callable(lut) else lut
    assert tuple(lut[0][:3]) == (0, 0, 0) and tuple(lut[-1][:3]) == (255, 255, 255)
