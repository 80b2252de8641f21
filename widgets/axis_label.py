"""Axis labels with units in brackets; no automatic SI prefixes ("knm", "meV" surprises)."""
from batteryscope.analysis.calibration import AxisCalibration


def axis_label(axis: AxisCalibration) -> str:
    """ "Energy loss (eV)", "x (nm)", or just the name when uncalibrated."""
    return f"{axis.name} ({axis.units})" if axis.units else f"{axis.name} (px)"
