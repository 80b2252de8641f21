"""Typing elements on the spectrum toolbar marks their major edges inside the energy range."""
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.widgets.edge_marker_field import edge_markers_for, parse_elements
from batteryscope.widgets.spectrum_view import SpectrumView

AXIS = AxisCalibration("Energy loss", "eV", 0.5, 400.0, 1024)  # 400–911.5 eV, as the demo core loss


def test_parse_and_select_edges_in_range():
    assert parse_elements(" o, MN ni;Co ") == ["O", "Mn", "Ni", "Co"]
    markers = edge_markers_for(["O", "Mn", "Ni"], 400.0, 911.5)
    labels = [label for label, _ in markers]
    assert labels[0] == "O K" and "Mn L₂,₃" in labels and "Ni L₂,₃" in labels
    assert labels.count("") >= 2  # L₂ lines drawn without a second label
    energies = [e for _, e in markers]
    assert energies == sorted(energies) and all(400 <= e <= 911.5 for e in energies)
    assert dict(markers)["O K"] == pytest.approx(532.0)
    with pytest.raises(ValueError):
        edge_markers_for(["Xx"], 0, 1000)


def test_typing_elements_draws_markers_and_a_bad_symbol_is_flagged(qtbot):
    view = SpectrumView()
    qtbot.addWidget(view)
    view.set_trace("sum", np.ones(AXIS.size), AXIS)
    field = view.edge_field
    with qtbot.waitSignal(field.markersChanged) as changed:
        qtbot.keyClicks(field, "O Mn")
        field.editingFinished.emit()
    assert [m[0] for m in changed.args[0]][:1] == ["O K"]
    assert len(view.edge_markers) == len(changed.args[0]) >= 2
    field.setText("O Qq")
    field.apply()
    assert "Qq" in field.toolTip() and len(view.edge_markers) >= 2  # old markers kept, error shown
    field.setText("")
    field.apply()
    assert view.edge_markers == []
