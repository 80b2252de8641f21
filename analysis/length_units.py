"""Length units of image axes: conversion, the Å/nm/µm a microscopist expects, nice bar lengths."""
from __future__ import annotations

import math
from dataclasses import replace

from .calibration import AxisCalibration

#: Size of one unit in nanometres. Spellings seen in DM, EMD, SER, MRC and TIFF files.
NM_PER_UNIT = {
    "pm": 1e-3, "Å": 0.1, "Å": 0.1, "A": 0.1, "angstrom": 0.1, "Angstrom": 0.1,
    "nm": 1.0, "µm": 1e3, "μm": 1e3, "um": 1e3, "micron": 1e3, "mm": 1e6, "m": 1e9,
}

#: Display units chosen by :func:`display_length_units`, smallest first.
DISPLAY_UNITS = ("Å", "nm", "µm")


def nm_per_unit(units: str) -> float | None:
    """Nanometres per ``units``, or None when ``units`` is not a length (px, eV, "")."""
    return NM_PER_UNIT.get(units.strip()) if units else None


def display_length_units(extent: float, units: str) -> str:
    """Å, nm or µm so that a field of view ``extent`` (in ``units``) reads naturally.

    Fields under 5 nm are given in Å (lattice images), under 5 µm in nm, larger ones in µm.
    Units that are not lengths are returned unchanged.
    """
    factor = nm_per_unit(units)
    if factor is None:
        return units
    extent_nm = abs(extent) * factor
    if extent_nm < 5.0:
        return "Å"
    if extent_nm < 5000.0:
        return "nm"
    return "µm"


def convert_length_axis(axis: AxisCalibration, units: str) -> AxisCalibration:
    """``axis`` expressed in length ``units`` (unchanged if either is not a length)."""
    old, new = nm_per_unit(axis.units), nm_per_unit(units)
    if old is None or new is None:
        return axis
    k = old / new
    return replace(axis, units=units, scale=axis.scale * k, offset=axis.offset * k)


def reciprocal_units(units: str) -> str:
    """Units of spatial frequency for an axis in ``units`` ("nm" → "1/nm", "" → "1/px")."""
    return f"1/{units}" if units else "1/px"


def nice_length(target: float) -> float:
    """Largest 1, 2 or 5 × 10^n that is ≤ ``target`` (> 0): the length of a scale bar."""
    if not target > 0 or not math.isfinite(target):
        raise ValueError(f"scale bar target length must be positive and finite, got {target}")
    exponent = math.floor(math.log10(target))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0 ** exponent
        if value <= target * (1 + 1e-12):
            return value
    return 10.0 ** exponent
