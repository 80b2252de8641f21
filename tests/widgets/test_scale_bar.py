"""Scale bar: the pure length/label rule, and the item that follows zoom in screen space."""
import pyqtgraph as pg
import pytest

from batteryscope.widgets.scale_bar import ScaleBar, scale_bar_spec


@pytest.mark.parametrize("field, units, length, label", [
    (10.0, "nm", 2.0, "2 nm"),
    (5.0, "nm", 1.0, "1 nm"),
    (3.0, "nm", 0.5, "5 Å"),          # lattice image: Å
    (30.0, "Å", 5.0, "5 Å"),
    (50.0, "Å", 10.0, "1 nm"),
    (10000.0, "nm", 2000.0, "2 µm"),  # particle overview: µm
    (12.0, "µm", 2.0, "2 µm"),
    (4000.0, "nm", 500.0, "500 nm"),
    (100.0, "", 20.0, "20 px"),
    (7.0, "1/nm", 1.0, "1 1/nm"),
])
def test_spec_picks_a_nice_length_and_natural_units(field, units, length, label):
    got_length, got_label = scale_bar_spec(field, units)
    assert got_length == pytest.approx(length)
    assert got_label == label
    assert 0.1 * field < got_length <= 0.2 * field * (1 + 1e-9)


def test_spec_rejects_empty_fields():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="field width"):
            scale_bar_spec(bad, "nm")


@pytest.fixture
def view_box(qtbot, no_leaked_windows):
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    vb = widget.addViewBox()
    widget.show()
    qtbot.waitExposed(widget)
    yield vb
    widget.close()


def test_bar_follows_zoom_and_stays_bottom_right(view_box, qtbot):
    bar = ScaleBar(view_box)
    bar.set_length_units("nm")
    view_box.setRange(xRange=(0, 10), yRange=(0, 5), padding=0)
    qtbot.waitUntil(lambda: bar.label == "2 nm")
    assert bar.isVisible() and bar.length == pytest.approx(2.0)
    x0, x1 = view_box.viewRange()[0]
    assert bar.bar_pixels == pytest.approx(2.0 * view_box.width() / (x1 - x0))
    right = bar.pos().x() + bar.boundingRect().width()
    bottom = bar.pos().y() + bar.boundingRect().height()
    assert view_box.width() - 40 < right <= view_box.width()
    assert view_box.height() - 40 < bottom <= view_box.height()
    view_box.setRange(xRange=(0, 3), yRange=(0, 1.5), padding=0)   # zoom in: Å
    qtbot.waitUntil(lambda: bar.label == "5 Å")
    assert bar.length == pytest.approx(0.5)


def test_bar_hidden_without_calibration(view_box):
    bar = ScaleBar(view_box)
    bar.set_length_units("nm")
    assert bar.isVisible()
    for units in ("", "px", None):
        bar.set_length_units(units)
        assert not bar.isVisible()
