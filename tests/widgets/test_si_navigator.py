"""SpectrumImageNavigator: display methods (model → view) and user actions → signals."""
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import LineROI, RectangleROI
from batteryscope.widgets.si_navigator import SpectrumImageNavigator

Y = AxisCalibration("y", "nm", 0.5, 1.0, 20, navigate=True)
X = AxisCalibration("x", "nm", 0.5, -3.0, 30, navigate=True)
E = AxisCalibration("Energy loss", "eV", 0.5, 500.0, 64)


@pytest.fixture
def nav(qtbot, no_leaked_windows):
    w = SpectrumImageNavigator()
    qtbot.addWidget(w)
    w.resize(1000, 500)
    rng = np.random.default_rng(0)
    w.set_navigation_images({"Total counts": rng.random((20, 30)),
                             "HAADF survey": rng.random((20, 30))}, (Y, X))
    w.set_energy_axis(E)
    w.show()
    qtbot.waitExposed(w)
    return w


def centre(row, col):
    return X.offset + X.scale * col, Y.offset + Y.scale * row


def mouse(nav, kind, x, y, button=Qt.MouseButton.NoButton):
    """Send a mouse event to the image view's viewport at calibrated (x, y)."""
    scene = nav.image_view.plot.vb.mapViewToScene(QPointF(x, y))
    gv = nav.image_view.plot.scene().views()[0]
    local = QPointF(gv.mapFromScene(scene))
    buttons = button if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, local, QPointF(gv.viewport().mapToGlobal(local.toPoint())), button,
                        buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(gv.viewport(), event)


# ------------------------------------------------------------------ model → view

def test_navigation_images_fill_the_combo_and_switch(nav):
    assert [nav.image_combo.itemText(i) for i in range(nav.image_combo.count())] == \
        ["Total counts", "HAADF survey"]
    nav.image_combo.setCurrentText("HAADF survey")
    assert nav.image_view.plot.titleLabel.text == "HAADF survey"
    with pytest.raises(ValueError, match="does not match"):
        nav.set_navigation_images({"bad": np.zeros((3, 3))}, (Y, X))


def test_show_map_adds_and_updates_one_entry_and_keeps_the_zoom(nav, qtbot):
    nav.image_view.plot.vb.setRange(xRange=(0, 2), yRange=(2, 4), padding=0)
    zoom = nav.image_view.plot.vb.viewRange()
    image = np.arange(600.0).reshape(20, 30)
    nav.show_map(image, "Counts in 530–540 eV")
    assert nav.image_combo.currentText() == nav.MAP_ENTRY and nav.image_combo.count() == 3
    assert np.array_equal(nav.image_view.image_item.image, image.astype(np.float32))
    assert nav.image_view.plot.titleLabel.text == "Counts in 530–540 eV"
    nav.show_map(image * 2, "Counts in 531–541 eV")
    assert nav.image_combo.count() == 3
    assert nav.image_view.image_item.image[1, 1] == 62.0
    assert np.allclose(nav.image_view.plot.vb.viewRange(), zoom)
    nav.set_navigation_images({"Total counts": image}, (Y, X))     # same axes: map stays
    assert nav.image_combo.findText(nav.MAP_ENTRY) >= 0


def test_spectra_and_line_scan_are_shown(nav):
    nav.show_spectrum("ROI sum", np.ones(64))
    nav.show_spectrum("Pixel (1, 2)", np.arange(64.0))
    assert list(nav.spectrum_view.traces) == ["ROI sum", "Pixel (1, 2)"]
    nav.remove_spectrum("ROI sum")
    assert list(nav.spectrum_view.traces) == ["Pixel (1, 2)"]
    assert not nav.line_view.isVisible()
    nav.add_line()
    positions = AxisCalibration("Position", "nm", 0.5, 0.0, 12, navigate=True)
    nav.show_line_scan(np.ones((12, 64), np.float32), positions)
    assert nav.line_view.isVisible() and nav.line_view.image_item.image.shape == (12, 64)
    nav.remove_line()
    assert not nav.line_view.isVisible()


# ------------------------------------------------------------------ user → signals

def test_hover_emits_pixel_only_when_it_changes(nav, qtbot):
    seen = []
    nav.pixelHovered.connect(lambda r, c: seen.append((r, c)))
    for row, col in [(3, 4), (3, 4), (3, 5), (12, 29)]:
        x, y = centre(row, col)
        mouse(nav, QEvent.Type.MouseMove, x + 0.1, y - 0.1)
        qtbot.wait(40)                                        # pyqtgraph drops faster moves
    assert seen == [(3, 4), (3, 5), (12, 29)]
    mouse(nav, QEvent.Type.MouseMove, *centre(-3, -3))        # outside: nothing
    qtbot.wait(40)
    assert len(seen) == 3


def test_click_pins_a_pixel_with_a_cross(nav, qtbot):
    x, y = centre(7, 11)
    mouse(nav, QEvent.Type.MouseMove, x, y)
    with qtbot.waitSignal(nav.pixelSelected) as blocker:
        mouse(nav, QEvent.Type.MouseButtonPress, x, y, Qt.MouseButton.LeftButton)
        mouse(nav, QEvent.Type.MouseButtonRelease, x, y, Qt.MouseButton.LeftButton)
    assert blocker.args == [7, 11]
    assert nav.marker.isVisible()
    mx, my = nav.marker.getData()
    assert (mx[0], my[0]) == pytest.approx((x, y))


def test_rectangle_button_and_drag_emit_calibrated_regions(nav, qtbot):
    with qtbot.waitSignal(nav.regionChanged) as first:
        nav.rect_button.click()
    assert isinstance(nav.rect_roi, pg.RectROI) and nav.rect_button.isChecked()
    assert first.args[0] == nav.rectangle
    assert nav.rectangle.pixel_slices(Y, X) == (slice(5, 15), slice(7, 22))
    moves = []
    nav.regionChanged.connect(moves.append)
    for k in range(1, 4):                                     # a drag: moves, then the end
        nav.rect_roi.setPos((X.offset + 0.5 * k, Y.offset), finish=False)
    with qtbot.waitSignal(nav.regionFinished) as finished:
        nav.rect_roi.setPos((X.offset + 2.0, Y.offset + 1.0))
    assert [m.x0 for m in moves] == pytest.approx([-2.5, -2.0, -1.5, -1.0])
    assert finished.args[0] == RectangleROI(-1.0, 2.0, -1.0 + moves[0].x1 - moves[0].x0,
                                            2.0 + moves[0].y1 - moves[0].y0)
    with qtbot.waitSignal(nav.regionChanged) as resized:
        nav.rect_roi.setSize((2.0, 1.5))
    r = resized.args[0]
    assert (r.x1 - r.x0, r.y1 - r.y0) == pytest.approx((2.0, 1.5))
    nav.rect_button.click()                                   # unchecked: removed
    assert nav.rect_roi is None and nav.rectangle is None


def test_energy_window_span_emits_window(nav, qtbot):
    with qtbot.waitSignal(nav.energyWindowChanged) as first:
        nav.window_button.click()
    lo, hi = first.args
    assert E.offset < lo < hi < E.high
    assert nav.energy_span is nav.spectrum_view.spans[nav.WINDOW_SPAN]
    with qtbot.waitSignal(nav.energyWindowChanged) as moved:
        nav.energy_span.setRegion((520.0, 510.0))
    assert moved.args == [510.0, 520.0]
    nav.window_button.click()
    assert nav.energy_span is None and nav.spectrum_view.spans == {}


def test_line_tool_emits_lines_with_width(nav, qtbot):
    with qtbot.waitSignal(nav.lineChanged) as first:
        nav.line_button.click()
    line = first.args[0]
    assert isinstance(nav.line_roi, pg.LineSegmentROI)
    assert line.y0 == line.y1 == centre(10, 0)[1] and line.width == 0.0
    with qtbot.waitSignal(nav.lineChanged) as moved:
        nav.line_roi.setPos((1.0, 0.5))                       # drag the whole line
    assert moved.args[0].x0 == pytest.approx(line.x0 + 1.0)
    assert moved.args[0].y1 == pytest.approx(line.y1 + 0.5)
    handle = nav.line_roi.getHandles()[1]
    with qtbot.waitSignal(nav.lineChanged) as end_moved:
        nav.line_roi.movePoint(handle, QPointF(5.0, 6.0))     # drag one end
    assert (end_moved.args[0].x1, end_moved.args[0].y1) == pytest.approx((5.0, 6.0))
    with qtbot.waitSignal(nav.lineChanged) as widened:
        nav.width_spin.setValue(1.5)
    assert widened.args[0].width == 1.5 and nav.width_spin.suffix() == " nm"
    nav.add_line(LineROI(0, 2, 4, 6, 1.0))                    # programmatic line
    assert nav.line == LineROI(0, 2, 4, 6, 1.0)


def test_clear_regions_removes_every_tool(nav):
    nav.add_rectangle(RectangleROI(0, 2, 3, 5))
    nav.add_line(LineROI(0, 2, 4, 6, 0))
    nav.add_energy_window(510, 520)
    assert nav.rect_button.isChecked() and nav.line_button.isChecked() and nav.window_button.isChecked()
    nav.clear_regions()
    assert (nav.rect_roi, nav.line_roi, nav.energy_span) == (None, None, None)
    assert not (nav.rect_button.isChecked() or nav.line_button.isChecked() or nav.window_button.isChecked())
    assert not any(isinstance(i, pg.ROI) for i in nav.image_view.plot.items)


def test_tools_need_axes_first(qtbot, no_leaked_windows):
    w = SpectrumImageNavigator()
    qtbot.addWidget(w)
    with pytest.raises(ValueError, match="set_navigation_images"):
        w.add_rectangle()
    with pytest.raises(ValueError, match="set_energy_axis"):
        w.show_spectrum("x", np.ones(3))
