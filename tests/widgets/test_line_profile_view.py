"""LineProfileView: a profile set from the model shows up; the mouse reads it back."""
import numpy as np
import pytest
from PySide6.QtCore import QPointF

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.line_profile import line_profile
from batteryscope.analysis.roi_geometry import LineROI
from batteryscope.widgets.line_profile_view import LineProfileView

AXES = (AxisCalibration("y", "nm", 0.1, 0.0, 40), AxisCalibration("x", "nm", 0.1, 0.0, 60))


@pytest.fixture
def view(qtbot, no_leaked_windows):
    w = LineProfileView()
    qtbot.addWidget(w)
    w.resize(500, 350)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _n_points(item):
    x = item.getData()[0]
    return 0 if x is None else len(x)


@pytest.fixture
def image():
    rows = np.arange(40, dtype=np.float32)[:, None] * 10.0
    cols = np.arange(60, dtype=np.float32)[None, :]
    return rows + cols  # I = 100 y + 10 x (y, x in nm)


def test_profile_is_plotted_with_band_and_title(view, image):
    p = line_profile(image, LineROI(0.5, 2.0, 4.5, 2.0, width=0.5), *AXES)
    view.set_profile(p, name="L2")
    x, y = view.curve.getData()
    np.testing.assert_allclose(x, p.distance_axis.values())
    np.testing.assert_allclose(y, p.values)
    assert view.band.isVisible() and p.n_across == 5
    upper_x, upper_y = view._upper.getData()
    np.testing.assert_allclose(upper_y, p.values + p.std_across)
    title = view.title_label.text()
    assert "L2" in title and "length 4 nm" in title and "width 0.5 nm" in title
    assert view.plot.getAxis("bottom").labelText == "Distance (nm)"
    assert view.profile() is p


def test_single_line_has_no_band_and_gaps_stay_open(view, image):
    p = line_profile(image, LineROI(4.0, 1.0, 8.0, 1.0), *AXES)  # runs off the right edge
    assert np.isnan(p.values).any()
    view.set_profile(p)
    assert not view.band.isVisible()
    assert _n_points(view._upper) == 0
    assert "width" not in view.title_label.text()


def test_readout_text(view, image):
    p = line_profile(image, LineROI(0.0, 1.0, 2.0, 1.0), *AXES)
    view.set_profile(p)
    # Sample 12 is at 1.2 nm: x = 1.2 nm, y = 1 nm -> I = 100 + 12.
    assert view.readout(1.23) == "d = 1.2 nm  I = 112"
    assert view.readout(50.0) == ""


def test_mouse_over_the_plot_reads_the_profile(view, qtbot, image):
    p = line_profile(image, LineROI(0.0, 1.0, 2.0, 1.0), *AXES)
    view.set_profile(p)
    view.plot.setXRange(0.0, 2.0, padding=0)
    qtbot.waitUntil(lambda: view.plot.vb.viewRange()[0][1] == pytest.approx(2.0))
    scene = view.plot.vb.mapViewToScene(QPointF(1.0, float(np.nanmean(p.values))))
    pos = view.plot_widget.mapFromScene(scene)
    qtbot.mouseMove(view.plot_widget.viewport(), pos)
    qtbot.waitUntil(lambda: view.readout_label.text() != "", timeout=3000)
    assert view.readout_label.text().startswith("d = 1") and "nm  I = 11" in view.readout_label.text()


def test_clear_removes_the_profile(view, image):
    view.set_profile(line_profile(image, LineROI(0.0, 1.0, 2.0, 1.0, width=0.3), *AXES))
    view.clear()
    assert view.profile() is None
    assert _n_points(view.curve) == 0
    assert not view.band.isVisible() and view.title_label.text() == ""
