"""ROI tools: calibrated geometry from pyqtgraph ROIs, drags, statistics, the statistics table."""
import dataclasses

import numpy as np
import pytest
from matplotlib.path import Path
from PySide6.QtCore import QPointF, Qt

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import (EllipseROI, LineROI, PolygonROI, RectangleROI,
                                                roi_statistics)
from batteryscope.widgets.image_rois import ImageRoiTools
from batteryscope.widgets.image_view import ImageView
from batteryscope.widgets.roi_statistics_table import RoiStatisticsTable

# 60 × 80 pixels of 0.05 nm: a 4 nm lattice image, shown in Å (0.5 Å per pixel)
AXES = (AxisCalibration("y", "nm", 0.05, 0.0, 60), AxisCalibration("x", "nm", 0.05, 0.0, 80))


@pytest.fixture
def image():
    return np.random.default_rng(3).normal(50.0, 5.0, (60, 80)).astype(np.float32)


@pytest.fixture
def tools(qtbot, no_leaked_windows, image):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.set_image(image, AXES)
    tools = ImageRoiTools(view)
    qtbot.addWidget(tools)
    return tools


def flat(geometry):
    """The numbers of a ROI dataclass, vertices flattened, for pytest.approx."""
    return np.hstack([np.ravel(v) for v in dataclasses.astuple(geometry)]).astype(float)


def approx_geometry(expected):
    return pytest.approx(flat(expected))


def centres(view):
    ay, ax = view.display_axes
    return np.meshgrid(ax.values(), ay.values())          # X, Y of every pixel centre


def test_view_is_in_angstrom(tools):
    ay, ax = tools._view.display_axes
    assert ax.units == "Å" and ax.scale == pytest.approx(0.5) and ay.scale == pytest.approx(0.5)
    assert tools.width_spin.suffix() == " Å"


def test_rectangle_drag_emits_calibrated_geometry(tools, qtbot):
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as created:
        name = tools.add_rectangle(12.2, 5.1, 4.1, 10.3)     # corners in any order
    assert name == "R1" and created.args[0] == "R1"
    assert flat(created.args[1]) == approx_geometry(RectangleROI(4.1, 5.1, 12.2, 10.3))
    roi = tools.pg_roi("R1")
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as moved:
        roi.setPos((20.0, 8.0))                              # what a drag does
    assert moved.args[0] == "R1"
    assert flat(moved.args[1]) == approx_geometry(RectangleROI(20.0, 8.0, 28.1, 13.2))
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as resized:
        roi.setSize((5.0, 4.0))
    assert flat(resized.args[1]) == approx_geometry(RectangleROI(20.0, 8.0, 25.0, 12.0))
    assert tools.rois() == {"R1": resized.args[1]}


def test_rectangle_statistics_equal_numpy_on_the_mask(tools, image):
    view = tools._view
    tools.add_rectangle(4.1, 5.1, 12.2, 10.3)
    geometry = tools.geometry("R1")
    stats = roi_statistics(image, geometry, *view.display_axes)
    X, Y = centres(view)
    mask = (X >= 4.1) & (X <= 12.2) & (Y >= 5.1) & (Y <= 10.3)
    assert stats.n_pixels == mask.sum() == 16 * 10
    assert stats.mean == pytest.approx(image[mask].mean(dtype=np.float64))
    assert stats.std == pytest.approx(image[mask].std(dtype=np.float64))
    assert stats.sum == pytest.approx(image[mask].sum(dtype=np.float64))
    assert (stats.minimum, stats.maximum) == (image[mask].min(), image[mask].max())
    assert stats.area == pytest.approx(mask.sum() * 0.05 ** 2) and stats.area_units == "nm²"


def test_ellipse_geometry_and_statistics(tools, image, qtbot):
    view = tools._view
    assert tools.add_ellipse(20.0, 15.0, 6.0, 4.0) == "E1"
    assert flat(tools.geometry("E1")) == approx_geometry(EllipseROI(20.0, 15.0, 6.0, 4.0))
    roi = tools.pg_roi("E1")
    assert not any(h["type"] == "r" for h in roi.handles)       # axis-aligned: no rotation
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as moved:
        roi.setPos((16.3, 9.2))
    geometry = moved.args[1]
    assert flat(geometry) == approx_geometry(EllipseROI(22.3, 13.2, 6.0, 4.0))
    X, Y = centres(view)
    mask = ((X - 22.3) / 6.0) ** 2 + ((Y - 13.2) / 4.0) ** 2 <= 1.0
    stats = roi_statistics(image, geometry, *view.display_axes)
    assert stats.n_pixels == mask.sum() > 50
    assert stats.mean == pytest.approx(image[mask].mean(dtype=np.float64))


def test_polygon_drag_and_vertex_move(tools, image, qtbot):
    view = tools._view
    vertices = [(3.13, 4.17), (30.21, 6.33), (22.07, 25.41), (6.29, 18.11)]
    assert tools.add_polygon(vertices) == "P1"
    assert flat(tools.geometry("P1")) == pytest.approx(np.ravel(vertices))
    roi = tools.pg_roi("P1")
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as moved:
        roi.setPos((2.0, 1.0))                               # translate the whole polygon
    shifted = [(x + 2.0, y + 1.0) for x, y in vertices]
    assert flat(moved.args[1]) == pytest.approx(np.ravel(shifted))
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as reshaped:
        roi.movePoint(roi.getHandles()[2], QPointF(30.43, 28.27), coords="parent")
    shifted[2] = (30.43, 28.27)
    geometry = reshaped.args[1]
    assert isinstance(geometry, PolygonROI) and flat(geometry) == pytest.approx(np.ravel(shifted))
    X, Y = centres(view)
    mask = Path(shifted).contains_points(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)
    stats = roi_statistics(image, geometry, *view.display_axes)
    assert stats.n_pixels == mask.sum() > 500
    assert stats.mean == pytest.approx(image[mask].mean(dtype=np.float64))
    with pytest.raises(ValueError, match="3 vertices"):
        tools.add_polygon([(0, 0), (1, 1)])


def test_line_profile_geometry_width_and_drag(tools, qtbot):
    assert tools.add_line(2.0, 3.0, 10.0, 9.0, width=2.0) == "L1"
    assert flat(tools.geometry("L1")) == approx_geometry(LineROI(2.0, 3.0, 10.0, 9.0, 2.0))
    roi = tools.pg_roi("L1")
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as moved:
        roi.setPos(roi.pos() + QPointF(5.0, -1.0))
    assert flat(moved.args[1]) == approx_geometry(LineROI(7.0, 2.0, 15.0, 8.0, 2.0))
    with qtbot.waitSignal(tools.roiChanged, timeout=1000) as widened:
        roi.setSize((roi.size().x(), 4.0), center=(0.5, 0.5))   # the width handle
    assert flat(widened.args[1]) == approx_geometry(LineROI(7.0, 2.0, 15.0, 8.0, 4.0))
    assert widened.args[1].length == pytest.approx(10.0)
    tools.add_line(1.0, 1.0, 20.0, 1.0)                      # width 0: one pixel
    assert tools.geometry("L2").width == 0.0
    with pytest.raises(ValueError, match="distinct"):
        tools.add_line(1.0, 1.0, 1.0, 1.0)


def test_names_removal_and_clear(tools, qtbot):
    names = [tools.add_rectangle(0, 0, 5, 5), tools.add_ellipse(10, 10, 2, 2),
             tools.add_polygon([(0, 0), (5, 0), (0, 5)]), tools.add_line(0, 0, 9, 9),
             tools.add_rectangle(1, 1, 6, 6)]
    assert names == ["R1", "E1", "P1", "L1", "R2"]
    roi = tools.pg_roi("E1")
    with qtbot.waitSignal(tools.roiRemoved, timeout=1000) as removed:
        roi.sigRemoveRequested.emit(roi)                     # the ROI's context menu "Remove"
    assert removed.args == ["E1"] and "E1" not in tools.rois()
    assert roi not in tools._view.plot.vb.addedItems
    gone = []
    tools.roiRemoved.connect(gone.append)
    qtbot.mouseClick(tools.clear_button, Qt.MouseButton.LeftButton)
    assert sorted(gone) == ["L1", "P1", "R1", "R2"] and tools.rois() == {}
    assert tools.add_rectangle(0, 0, 1, 1) == "R1"


def test_buttons_place_shapes_in_the_visible_centre(tools, qtbot):
    tools._view.plot.vb.setRange(xRange=(10, 30), yRange=(5, 25), padding=0)
    (x0, x1), (y0, y1) = tools._view.plot.vb.viewRange()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for button in (tools.rectangle_button, tools.ellipse_button, tools.polygon_button, tools.line_button):
        with qtbot.waitSignal(tools.roiChanged, timeout=1000):
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    rois = tools.rois()
    assert set(rois) == {"R1", "E1", "P1", "L1"}
    r = rois["R1"]
    assert ((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2) == pytest.approx((cx, cy))
    assert (rois["E1"].cx, rois["E1"].cy) == pytest.approx((cx, cy))
    assert np.mean(rois["P1"].vertices, axis=0) == pytest.approx((cx, cy), abs=1e-6)
    line = rois["L1"]
    assert ((line.x0 + line.x1) / 2, (line.y0 + line.y1) / 2) == pytest.approx((cx, cy))


def test_statistics_table_rows_follow_rois(tools, image, qtbot):
    table = RoiStatisticsTable()
    qtbot.addWidget(table)
    axes = tools._view.display_axes
    tools.roiChanged.connect(lambda name, roi: table.set_statistics(name, roi_statistics(image, roi, *axes)))
    tools.roiRemoved.connect(table.remove)
    tools.add_rectangle(4.0, 4.0, 12.0, 12.0)
    tools.add_ellipse(20.0, 15.0, 6.0, 4.0)
    assert table.rowCount() == 2 and table.names() == ["R1", "E1"]
    assert table.horizontalHeaderItem(8).text() == "area (nm²)"
    assert [table.item(0, c).text() for c in range(3)] == ["R1", "rectangle", "289"]
    tools.pg_roi("R1").setPos((6.0, 4.0))                    # drag: the row updates in place
    stats = table.statistics("R1")
    assert stats == roi_statistics(image, RectangleROI(6.0, 4.0, 14.0, 12.0), *axes)
    assert table.item(0, 3).text() == f"{stats.mean:.5g}" and table.rowCount() == 2
    rows = table.as_rows()
    assert rows[0] == table.headers() and rows[1][:3] == ["R1", "rectangle", 289]
    assert rows[1][3] == stats.mean                          # full precision for CSV
    tools.remove("R1")
    assert table.names() == ["E1"]
    table.clear()
    assert table.rowCount() == 0 and table.as_rows() == [table.headers()]


def test_statistics_table_kind_and_units_of_uncalibrated_images(qtbot):
    table = RoiStatisticsTable()
    qtbot.addWidget(table)
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    axes = (AxisCalibration("y", "", 1.0, 0.0, 10), AxisCalibration("x", "", 1.0, 0.0, 10))
    table.set_statistics("custom", roi_statistics(image, RectangleROI(0, 0, 2, 2), *axes), kind="rectangle")
    assert table.item(0, 1).text() == "rectangle"
    assert table.horizontalHeaderItem(8).text() == "area (px²)"
