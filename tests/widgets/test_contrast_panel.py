"""ContrastPanel ↔ ImageView, both directions, without feedback loops."""
import numpy as np
import pytest
from PySide6.QtCore import Qt

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.widgets.contrast_panel import ContrastPanel
from batteryscope.widgets.image_view import ImageView

AXES = (AxisCalibration("y", "nm", 0.5, 0.0, 48), AxisCalibration("x", "nm", 0.5, 0.0, 64))


@pytest.fixture
def image():
    return np.random.default_rng(2).gamma(3.0, 50.0, (48, 64)).astype(np.float32)


@pytest.fixture
def pair(qtbot, no_leaked_windows, image):
    view = ImageView()
    qtbot.addWidget(view)
    view.set_image(image, AXES)
    panel = ContrastPanel(view)
    qtbot.addWidget(panel)
    return view, panel


def test_panel_starts_from_the_view(pair):
    view, panel = pair
    assert panel.colormap_combo.currentText() == "gray"
    assert panel.gamma_spin.value() == 1.0 and panel.gamma_slider.value() == 0
    assert panel.low_pct_spin.value() == 0.5 and panel.high_pct_spin.value() == 99.5
    lo, hi = view.levels()
    assert panel.min_spin.value() == pytest.approx(lo, abs=1e-6)
    assert panel.max_spin.value() == pytest.approx(hi, abs=1e-6)
    assert (panel.gamma_spin.minimum(), panel.gamma_spin.maximum()) == (0.2, 5.0)


def test_view_changes_show_in_the_panel(pair):
    view, panel = pair
    view.set_levels(10.0, 200.0)
    assert (panel.min_spin.value(), panel.max_spin.value()) == (10.0, 200.0)
    view.histogram.region.lines[0].setValue(20.0)          # user drags the histogram
    assert panel.min_spin.value() == pytest.approx(20.0)
    view.set_colormap("magma")
    assert panel.colormap_combo.currentText() == "magma"
    view.set_gamma(5.0)
    assert panel.gamma_spin.value() == 5.0 and panel.gamma_slider.value() == panel.gamma_slider.maximum()


def test_min_max_spins_set_the_view_levels_once(pair, qtbot):
    view, panel = pair
    seen = []
    view.levelsChanged.connect(lambda lo, hi: seen.append((lo, hi)))
    panel.max_spin.setValue(300.0)
    panel.min_spin.setValue(5.0)
    assert view.levels() == (5.0, 300.0)
    assert seen[-1] == (5.0, 300.0) and len(seen) == 2          # no echo back and forth


def test_colormap_combo_sets_the_view(pair):
    view, panel = pair
    panel.colormap_combo.setCurrentText("diverging (strain)")
    assert view.colormap_name == "diverging (strain)"


def test_gamma_slider_and_spin_drive_the_view(pair):
    view, panel = pair
    panel.gamma_spin.setValue(2.5)
    assert view.gamma == pytest.approx(2.5)
    assert panel.gamma_slider.value() == round(100 * np.log(2.5) / np.log(5.0))
    panel.gamma_slider.setValue(panel.gamma_slider.minimum())
    assert view.gamma == pytest.approx(0.2) and panel.gamma_spin.value() == pytest.approx(0.2)


def test_auto_button_uses_the_percentile_spins(pair, qtbot, image):
    view, panel = pair
    view.set_levels(0.0, 1.0)
    panel.low_pct_spin.setValue(5.0)
    panel.high_pct_spin.setValue(95.0)
    qtbot.mouseClick(panel.auto_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(view.levels(), np.percentile(image, (5.0, 95.0)), rtol=1e-6)
    assert panel.max_spin.value() == pytest.approx(np.percentile(image, 95.0), abs=1e-5)
