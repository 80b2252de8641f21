"""SpectrumView: model → view (traces, log scale, spans, markers) and user → signals."""
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.widgets.spectrum_view import SpectrumView, format_intensity

E = AxisCalibration("Energy loss", "eV", 0.5, 500.0, 101)


@pytest.fixture
def view(qtbot, no_leaked_windows):
    w = SpectrumView()
    qtbot.addWidget(w)
    w.resize(600, 400)
    w.show()
    qtbot.waitExposed(w)
    return w


def hover(view, x_value, y_value=None):
    """Send a mouse move to the plot's viewport at a data position."""
    vb = view.plot.vb
    if y_value is None:
        y_value = sum(vb.viewRange()[1]) / 2
    scene = vb.mapViewToScene(QPointF(x_value, y_value))
    gv = view.plot.scene().views()[0]
    local = QPointF(gv.mapFromScene(scene))
    event = QMouseEvent(QEvent.Type.MouseMove, local, QPointF(gv.viewport().mapToGlobal(local.toPoint())),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(gv.viewport(), event)


def test_traces_are_added_replaced_and_removed_with_the_legend(view):
    view.set_trace("Bulk", np.arange(101.0), E)
    view.set_trace("Surface", np.ones(101), E)
    view.set_trace("Bulk", np.full(101, 7.0), E)
    assert list(view.traces) == ["Bulk", "Surface"]
    assert np.array_equal(view.traces["Bulk"].getOriginalDataset()[1], np.full(101, 7.0))
    assert [label.text for _, label in view.legend.items] == ["Bulk", "Surface"]
    assert view.plot.getAxis("bottom").labelText == "Energy loss (eV)"
    view.remove_trace("Bulk")
    view.remove_trace("not there")
    assert list(view.traces) == ["Surface"]
    assert [label.text for _, label in view.legend.items] == ["Surface"]
    view.clear()
    assert view.traces == {} and view.legend.items == []


def test_trace_data_gives_each_trace_with_its_own_axis(view):
    other = AxisCalibration("Energy loss", "eV", 0.1, 50.0, 101)
    view.set_trace("Core loss", np.arange(101.0), E)
    view.set_trace("Low loss", np.ones(101), other)
    view.set_log_y(True)                                      # values as given, not log10
    (n1, a1, v1), (n2, a2, v2) = view.trace_data()
    assert (n1, a1, n2, a2) == ("Core loss", E, "Low loss", other)
    assert np.array_equal(v1, np.arange(101.0)) and np.array_equal(v2, np.ones(101))


def test_a_trace_added_again_keeps_its_colour(view):
    view.set_trace("ROI sum", np.ones(101), E)
    view.set_trace("Pixel (1, 2)", np.ones(101), E)
    colour = view.traces["Pixel (1, 2)"].opts["pen"].color().name()
    view.remove_trace("Pixel (1, 2)")
    view.set_trace("Pixel (3, 4)", np.ones(101), E)
    assert view.traces["Pixel (3, 4)"].opts["pen"].color().name() == colour


def test_wrong_length_is_rejected(view):
    with pytest.raises(ValueError, match="does not match"):
        view.set_trace("x", np.ones(5), E)


def test_log_scale_checkbox_and_non_positive_values(view, qtbot):
    y = np.linspace(-5, 100, 101)
    y[10] = 0.0
    view.set_trace("with zeros", y, E)
    view.set_trace("all negative", -np.ones(101), E)
    view.set_log_y(True)
    assert view.log_check.isChecked() and view.plot.ctrl.logYCheck.isChecked()
    assert view.traces["with zeros"].opts["logMode"] == [False, True]
    view.set_trace("late", np.full(101, 10.0), E)             # new traces follow the mode
    assert view.traces["late"].opts["logMode"] == [False, True]
    qtbot.wait(20)
    view.plot_widget.grab()                                   # paints without raising
    view.log_check.click()                                    # user unchecks
    assert view.traces["with zeros"].opts["logMode"] == [False, False]


def test_span_drag_emits_span_changed_and_span_api(view, qtbot):
    span = view.add_span("Window", 540.0, 520.0)
    assert isinstance(span, pg.LinearRegionItem)
    assert view.spans == {"Window": span} and span.getRegion() == (520.0, 540.0)
    with qtbot.waitSignal(view.spanChanged) as blocker:
        span.setRegion((525.0, 545.0))                        # what a drag does
    assert blocker.args == ["Window", 525.0, 545.0]
    assert view.add_span("Window", 510, 512) is span          # same name: moved, not added
    assert span.getRegion() == (510.0, 512.0)
    second = view.add_span("Background", 500, 505, colour="#00ff00")
    assert second.brush.color().green() == 255
    view.remove_span("Window")
    assert list(view.spans) == ["Background"] and span.scene() is None


def test_edge_markers_are_dashed_labelled_lines(view):
    view.set_trace("s", np.ones(101), E)
    view.set_edge_markers([("O K", 532.0), ("Mn L₃", 540.5)])
    assert [m.value() for m in view.edge_markers] == [532.0, 540.5]
    assert [m.label.format for m in view.edge_markers] == ["O K", "Mn L₃"]
    assert view.edge_markers[0].pen.style() == Qt.PenStyle.DashLine
    view.set_edge_markers([("Ni L₃", 545.0)])                 # replaces
    assert len(view.edge_markers) == 1
    view.clear_edge_markers()
    assert view.edge_markers == []
    assert not any(isinstance(i, pg.InfiniteLine) for i in view.plot.items)


def test_cursor_readout_label_and_signal(view, qtbot):
    view.set_trace("s", np.linspace(0, 1.23e4 * 2, 101), E)
    view.plot.vb.setRange(xRange=(500, 550), padding=0)
    qtbot.wait(10)
    with qtbot.waitSignal(view.cursorMoved) as blocker:
        hover(view, 525.0)
    energy, value = blocker.args
    assert energy == pytest.approx(525.0, abs=0.5)
    assert value == pytest.approx(view.value_at(energy))
    assert view.readout.text().startswith("E = 52") and " eV   I = 1.2" in view.readout.text()


def test_value_at_is_nan_without_traces_or_outside(view):
    assert np.isnan(view.value_at(520.0))
    view.set_trace("s", np.arange(101.0), E)
    assert view.value_at(520.1) == 40.0
    assert np.isnan(view.value_at(900.0))


@pytest.mark.parametrize("value, text", [(12300.0, "1.23e4"), (532.5, "532.5"), (0.0, "0"),
                                         (-4.5e-5, "-4.50e-5"), (99999.0, "1.00e5"),
                                         (float("nan"), "nan")])
def test_format_intensity(value, text):
    assert format_intensity(value) == text
