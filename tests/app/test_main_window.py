"""The main window as a user meets it: open files, see them calibrated, survive bad files."""
import numpy as np
import pytest
from PySide6.QtCore import QPointF

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app.hyperspy_adapter import signal_from_array


@pytest.fixture
def image_file(tmp_path):
    rows = np.arange(40, dtype=np.float32)[:, None] * np.ones((1, 50), np.float32)
    axes = (AxisCalibration("y", "nm", 0.1, 0.0, 40), AxisCalibration("x", "nm", 0.1, 0.0, 50))
    s = signal_from_array(rows, axes, title="ramp", signal_type="image",
                          acquisition={"beam_energy_keV": 200.0})
    path = tmp_path / "ramp.hspy"
    s.save(str(path))
    return path


def test_open_file_shows_calibrated_document(window, qtbot, image_file):
    with qtbot.waitSignal(window.documentsOpened, timeout=60000) as opened:
        window.open_files([image_file])
    assert len(opened.args[0]) == 1
    assert window.document_list.count() == 1
    assert "ramp.hspy" in window.document_list.item(0).text()
    assert "image" in window.document_list.item(0).text()
    np.testing.assert_array_equal(window.image_view.image_item.image[:, 0], np.arange(40))
    texts = _tree_texts(window.metadata_tree)
    assert "beam_energy_keV" in texts and "200" in texts and "0.1 nm" in texts


def test_hover_reads_calibrated_position_and_value(window, qtbot, image_file):
    with qtbot.waitSignal(window.documentsOpened, timeout=60000):
        window.open_files([image_file])
    view = window.image_view
    with qtbot.waitSignal(view.cursorMoved, timeout=5000) as moved:
        scene_pos = view.plot.vb.mapViewToScene(QPointF(2.0, 1.5))  # x = 2 nm, y = 1.5 nm
        view._mouse_moved(scene_pos)
    x, y, value = moved.args
    assert x == pytest.approx(2.0, abs=0.01) and y == pytest.approx(1.5, abs=0.01)
    assert value == pytest.approx(15.0)  # row 15 of the ramp
    assert "x = 2" in window.cursor_label.text() and "nm" in window.cursor_label.text()


def test_bad_file_reports_one_line_and_app_keeps_working(window, qtbot, tmp_path, image_file):
    bad = tmp_path / "broken.dm3"
    bad.write_bytes(b"\x00\x00\x00\x03" + bytes(20))
    with qtbot.waitSignal(window.loadFailed, timeout=60000) as failed:
        window.open_files([bad])
    assert "broken.dm3" in failed.args[0] and "\n" not in failed.args[0]
    with qtbot.waitSignal(window.documentsOpened, timeout=60000):
        window.open_files([image_file])
    assert window.document_list.count() == 1


def test_unknown_panel_is_a_clear_error(window):
    from batteryscope.app.errors import UserFacingError

    assert set(window.panel_names()) >= {"documents", "metadata"}
    with pytest.raises(UserFacingError, match="no panel named 'nonsense'"):
        window.show_panel("nonsense")


def _tree_texts(tree):
    out = []
    stack = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        out += [item.text(0), item.text(1)]
        stack += [item.child(i) for i in range(item.childCount())]
    return out
