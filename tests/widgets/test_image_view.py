"""ImageView: display units, contrast, gamma, colour maps, scale bar, fast frame updates."""
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.widgets.colormaps import lookup_table
from batteryscope.widgets.image_view import ImageView


def axes(ny, nx, scale, units="nm"):
    return AxisCalibration("y", units, scale, 0.0, ny), AxisCalibration("x", units, scale, 0.0, nx)


@pytest.fixture
def view(qtbot, no_leaked_windows):
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(700, 500)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.close()


@pytest.fixture
def image():
    return np.random.default_rng(0).normal(100.0, 10.0, (64, 80)).astype(np.float32)


@pytest.mark.parametrize("scale, units, shown, shown_scale", [
    (0.02, "nm", "Å", 0.2),        # 1.6 nm field: lattice image in Å
    (0.5, "nm", "nm", 0.5),        # 40 nm field
    (100.0, "nm", "µm", 0.1),      # 8 µm field
    (0.5, "Å", "Å", 0.5),
    (1.0, "", "", 1.0),            # uncalibrated stays in px
])
def test_display_axes_in_natural_units(view, image, scale, units, shown, shown_scale):
    view.set_image(image, axes(64, 80, scale, units))
    ay, ax = view.display_axes
    assert ay.units == ax.units == shown
    assert ax.scale == pytest.approx(shown_scale) and ay.size == 64 and ax.size == 80
    assert view.data_axes == axes(64, 80, scale, units)
    assert view.plot.getAxis("bottom").labelText.startswith("x")
    assert (shown or "px") in view.plot.getAxis("bottom").labelText
    assert view.scale_bar.isVisible() == bool(shown)


def test_cursor_reports_display_units_and_value(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.02))        # shown in Å, 0.2 Å per pixel
    with qtbot.waitSignal(view.cursorMoved, timeout=2000) as moved:
        view._mouse_moved(view.plot.vb.mapViewToScene(QPointF(4.0, 2.0)))
    x, y, value = moved.args
    assert x == pytest.approx(4.0, abs=0.01) and y == pytest.approx(2.0, abs=0.01)
    assert value == pytest.approx(image[10, 20])
    assert view.value_at(4.0, 2.0) == pytest.approx(image[10, 20])
    assert np.isnan(view.value_at(-5.0, 2.0))


def test_set_levels_reaches_image_and_signal(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5))
    with qtbot.waitSignal(view.levelsChanged, timeout=2000) as changed:
        view.set_levels(120.0, 80.0)                 # reversed on purpose
    assert changed.args == [80.0, 120.0]
    assert view.levels() == (80.0, 120.0)
    np.testing.assert_allclose(view.image_item.levels, (80.0, 120.0))
    with pytest.raises(ValueError, match="finite"):
        view.set_levels(0.0, float("nan"))


def test_dragging_the_histogram_emits_levels(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5), levels=(90.0, 110.0))
    with qtbot.waitSignal(view.levelsChanged, timeout=2000) as changed:
        view.histogram.region.lines[1].setValue(130.0)   # what a drag of the upper line does
    assert changed.args == [90.0, 130.0]
    np.testing.assert_allclose(view.image_item.levels, (90.0, 130.0))


def test_auto_levels_are_percentiles_and_stick_for_the_next_image(view, image):
    view.set_image(image, axes(64, 80, 0.5))
    np.testing.assert_allclose(view.levels(), np.percentile(image, (0.5, 99.5)), rtol=1e-6)
    lo, hi = view.auto_levels(2.0, 98.0)
    np.testing.assert_allclose((lo, hi), np.percentile(image, (2.0, 98.0)), rtol=1e-6)
    np.testing.assert_allclose(view.levels(), (lo, hi), rtol=1e-6)
    other = image * 2
    view.set_image(other, axes(64, 80, 0.5))
    np.testing.assert_allclose(view.levels(), np.percentile(other, (2.0, 98.0)), rtol=1e-6)
    with pytest.raises(ValueError):
        view.auto_levels(60.0, 40.0)


def test_levels_ignore_nan_pixels(view, image):
    image[:10] = np.nan
    view.set_image(image, axes(64, 80, 0.5))
    np.testing.assert_allclose(view.levels(), np.percentile(image[10:], (0.5, 99.5)), rtol=1e-6)


def test_gamma_goes_through_the_lookup_table_not_the_data(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5))
    data_before = view.image_item.image.copy()
    with qtbot.waitSignal(view.gammaChanged, timeout=2000) as changed:
        view.set_gamma(0.5)
    assert changed.args == [0.5] and view.gamma == 0.5
    np.testing.assert_array_equal(view.lookup_table(), lookup_table("gray", 0.5, n=256))
    np.testing.assert_array_equal(view.image_item.image, data_before)
    with pytest.raises(ValueError, match="gamma"):
        view.set_gamma(0.0)


def test_colormap_by_name(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5))
    with qtbot.waitSignal(view.colormapChanged, timeout=2000) as changed:
        view.set_colormap("viridis")
    assert changed.args == ["viridis"] and view.colormap_name == "viridis"
    assert view.colormap.name == "viridis"
    np.testing.assert_array_equal(view.lookup_table(), lookup_table("viridis", 1.0, n=256))
    with pytest.raises(ValueError, match="unknown colour map"):
        view.set_colormap("jet")
    assert view.colormap_name == "viridis"


def test_gradient_shows_the_table_but_takes_no_clicks(view, image):
    """Colour maps are chosen by name (ContrastPanel); the gradient's own menu is off."""
    view.set_image(image, axes(64, 80, 0.5))
    view.set_colormap("inferno")
    view.set_gamma(2.0)
    gradient = view.histogram.gradient
    assert gradient.acceptedMouseButtons() == Qt.MouseButton.NoButton
    shown = gradient.colorMap().map(np.linspace(0, 1, 33), mode="byte")[:, :3]
    np.testing.assert_array_equal(shown, lookup_table("inferno", 2.0, n=33))


def test_resizing_does_not_reapply_gamma(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5))
    view.set_colormap("inferno")
    view.set_gamma(2.0)
    lut = view.lookup_table().copy()
    view.resize(500, 300)
    qtbot.wait(50)
    assert view.colormap_name == "inferno"
    np.testing.assert_array_equal(view.lookup_table(), lut)


def test_scale_bar_label_updates_on_zoom(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5))               # 40 × 32 nm
    vb = view.plot.vb
    vb.setRange(xRange=(0, 20), yRange=(0, 10), padding=0)
    qtbot.waitUntil(lambda: view.scale_bar.label == "2 nm")
    x0, x1 = vb.viewRange()[0]
    assert view.scale_bar.length == pytest.approx(2.0)
    assert view.scale_bar.bar_pixels == pytest.approx(2.0 * vb.width() / (x1 - x0))
    vb.setRange(xRange=(0, 2), yRange=(0, 1), padding=0)
    qtbot.waitUntil(lambda: view.scale_bar.label == "2 Å")


def test_set_frame_keeps_axes_levels_and_zoom(view, image, qtbot):
    view.set_image(image, axes(64, 80, 0.5), levels=(80.0, 120.0))
    view.plot.vb.setRange(xRange=(5, 15), yRange=(5, 12), padding=0)
    qtbot.wait(20)
    zoom = view.plot.vb.viewRange()
    display_axes = view.display_axes
    for k in range(3):
        frame = np.ascontiguousarray(image + 5 * k, dtype=np.float32)
        view.set_frame(frame)
        assert view.image_item.image is frame or np.shares_memory(view.image_item.image, frame)
    assert view.levels() == (80.0, 120.0)
    np.testing.assert_allclose(view.image_item.levels, (80.0, 120.0))
    assert view.plot.vb.viewRange() == zoom and view.display_axes == display_axes
    assert view.value_at(10.0, 10.0) == pytest.approx(image[20, 20] + 10)
    # the histogram follows the frames, at a coalesced rate
    qtbot.waitUntil(lambda: view.histogram.plot.xData.max() > image.max() + 5, timeout=2000)


def test_set_frame_keeps_uint16_and_checks_shape(view, qtbot):
    stack = np.random.default_rng(1).integers(0, 4000, (2, 32, 48), dtype=np.uint16)
    with pytest.raises(RuntimeError, match="set_image"):
        view.set_frame(stack[0])
    view.set_image(stack[0], axes(32, 48, 0.1))
    view.set_frame(stack[1])
    assert view.image_item.image.dtype == np.uint16
    with pytest.raises(ValueError, match="shape"):
        view.set_frame(stack[1, :10])


def test_rendered_pixels_follow_levels_and_gamma(view):
    ramp = np.tile(np.linspace(0, 1, 81, dtype=np.float32), (64, 1))
    view.set_image(ramp, axes(64, 81, 0.5), levels=(0.0, 1.0))
    view.set_levels(0.25, 0.75)
    view.image_item.render()
    img = view.image_item.qimage
    assert img.pixelColor(10, 5).red() == 0 and img.pixelColor(70, 5).red() == 255
    middle = img.pixelColor(40, 5).red()              # value 0.5: half-way between the levels
    assert abs(middle - 128) <= 2
    view.set_gamma(2.0)
    view.image_item.render()
    assert abs(view.image_item.qimage.pixelColor(40, 5).red() - 64) <= 3   # 0.5 ** 2 of white
