"""A field on the spectrum toolbar: type elements ("O Mn Co Ni"), see their edges marked."""
from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLineEdit

from batteryscope.analysis.eels.edges import edges_of


def parse_elements(text: str) -> list[str]:
    """Element symbols from free text: "O, Mn ni;Co" → ["O", "Mn", "Ni", "Co"]."""
    return [t[:1].upper() + t[1:].lower() for t in re.split(r"[\s,;]+", text.strip()) if t]


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def edge_markers_for(elements, lo: float, hi: float) -> list[tuple[str, float]]:
    """(label, onset eV) of the major edges of ``elements`` within [lo, hi] (ValueError for an
    unknown element, naming it). Edges of one family (L₃ and L₂, M₅ and M₄) get one label,
    "Mn L₂,₃", on the first line; the others are drawn unlabelled, so labels do not pile up."""
    markers = []
    for element in elements:
        labelled = set()
        for e in edges_of(element, major_only=True):
            if not lo <= e.onset_eV <= hi:
                continue
            family = e.family
            label = "" if family in labelled else f"{e.element} {family.translate(_SUBSCRIPTS)}"
            labelled.add(family)
            markers.append((label, e.onset_eV))
    return sorted(markers, key=lambda m: m[1])


class EdgeMarkerField(QLineEdit):
    """Marks the major edges of the typed elements on ``spectrum_view`` (within its energy range).

    Signals
    -------
    markersChanged(list)
        The (label, energy) pairs now shown.
    """

    markersChanged = Signal(list)

    def __init__(self, spectrum_view, parent=None):
        super().__init__(parent)
        self.view = spectrum_view
        self.setPlaceholderText("Edges of… e.g. O Mn Co Ni")
        self.setClearButtonEnabled(True)
        self.setMaximumWidth(220)
        self.editingFinished.connect(self.apply)

    def apply(self) -> None:
        axis = self.view.axis
        elements = parse_elements(self.text())
        if axis is None or not elements:
            self.view.clear_edge_markers()
            self.markersChanged.emit([])
            return
        lo, hi = sorted((axis.offset, axis.high))
        try:
            markers = edge_markers_for(elements, lo, hi)
        except ValueError as exc:
            self.setStyleSheet("QLineEdit { border: 1px solid #d62728; }")
            self.setToolTip(str(exc))
            return
        self.setStyleSheet("")
        self.setToolTip(f"{len(markers)} edges between {lo:.0f} and {hi:.0f} {axis.units}"
                        if markers else f"no major edge of these elements between {lo:.0f} and {hi:.0f}")
        self.view.set_edge_markers(markers)
        self.markersChanged.emit(markers)
