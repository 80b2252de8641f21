"""Contrast controls for an ImageView: colour map, gamma, percentile auto-levels, min/max."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractSpinBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QPushButton, QSlider, QWidget)

from .colormaps import COLORMAPS
from .image_view import ImageView

GAMMA_MIN, GAMMA_MAX = 0.2, 5.0
#: The gamma slider is logarithmic: position p in [-100, 100] is gamma 5 ** (p / 100).
_SLIDER_STEPS = 100


def _gamma_to_slider(gamma: float) -> int:
    return round(_SLIDER_STEPS * math.log(gamma) / math.log(GAMMA_MAX))


def _slider_to_gamma(position: int) -> float:
    return GAMMA_MAX ** (position / _SLIDER_STEPS)


def _level_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(-1e15, 1e15)
    spin.setDecimals(6)
    spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    spin.setKeyboardTracking(False)  # apply on Enter / focus out, not on every digit
    return spin


class ContrastPanel(QWidget):
    """Colour map, gamma and levels of one :class:`ImageView`, kept in sync both ways.

    Parameters
    ----------
    image_view : ImageView
        The view this panel controls; its signals update the panel (with the panel's own
        signals blocked, so there is no feedback loop).
    """

    def __init__(self, image_view: ImageView, parent=None):
        super().__init__(parent)
        self._view = image_view
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.gamma_slider = QSlider(Qt.Orientation.Horizontal)
        self.gamma_slider.setRange(_gamma_to_slider(GAMMA_MIN), _gamma_to_slider(GAMMA_MAX))
        self.gamma_spin = QDoubleSpinBox()
        self.gamma_spin.setRange(GAMMA_MIN, GAMMA_MAX)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.setDecimals(2)
        self.auto_button = QPushButton("Auto")
        self.auto_button.setToolTip("Set levels at the low/high percentiles of the image")
        self.low_pct_spin = self._percent_spin(0.0, 50.0, 0.5)
        self.high_pct_spin = self._percent_spin(50.0, 100.0, 99.5)
        self.min_spin, self.max_spin = _level_spin(), _level_spin()
        self._build_layout()
        self._sync_from_view()
        self.colormap_combo.currentTextChanged.connect(self._colormap_chosen)
        self.gamma_slider.valueChanged.connect(self._gamma_slider_moved)
        self.gamma_spin.valueChanged.connect(self._gamma_spin_changed)
        self.auto_button.clicked.connect(self.apply_auto_levels)
        self.min_spin.valueChanged.connect(self._levels_edited)
        self.max_spin.valueChanged.connect(self._levels_edited)
        image_view.levelsChanged.connect(self._show_levels)
        image_view.gammaChanged.connect(self._show_gamma)
        image_view.colormapChanged.connect(self._show_colormap)

    @staticmethod
    def _percent_spin(lo: float, hi: float, value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(2)
        spin.setSingleStep(0.1)
        spin.setSuffix(" %")
        spin.setValue(value)
        return spin

    def _build_layout(self) -> None:
        form = QFormLayout(self)
        form.addRow("Colour map", self.colormap_combo)
        gamma_row = QHBoxLayout()
        gamma_row.addWidget(self.gamma_slider, 1)
        gamma_row.addWidget(self.gamma_spin)
        form.addRow("Gamma", gamma_row)
        auto_row = QHBoxLayout()
        auto_row.addWidget(self.auto_button)
        auto_row.addWidget(self.low_pct_spin)
        auto_row.addWidget(self.high_pct_spin)
        form.addRow("Levels", auto_row)
        form.addRow("Min", self.min_spin)
        form.addRow("Max", self.max_spin)

    # ---- user → view ----------------------------------------------------------------
    def apply_auto_levels(self) -> None:
        """Levels of the view at the percentiles in the low/high spin boxes."""
        low, high = self.low_pct_spin.value(), self.high_pct_spin.value()
        if low < high:
            self._view.auto_levels(low, high)

    def _colormap_chosen(self, name: str) -> None:
        self._view.set_colormap(name)

    def _gamma_slider_moved(self, position: int) -> None:
        self.gamma_spin.setValue(_slider_to_gamma(position))  # → _gamma_spin_changed

    def _gamma_spin_changed(self, gamma: float) -> None:
        self._set_blocked(self.gamma_slider, _gamma_to_slider(gamma))
        self._view.set_gamma(gamma)

    def _levels_edited(self, _value: float) -> None:
        self._view.set_levels(self.min_spin.value(), self.max_spin.value())

    # ---- view → panel ---------------------------------------------------------------
    def _sync_from_view(self) -> None:
        self._show_colormap(self._view.colormap_name)
        self._show_gamma(self._view.gamma)
        self._show_levels(*self._view.levels())

    def _show_levels(self, lo: float, hi: float) -> None:
        self._set_blocked(self.min_spin, lo)
        self._set_blocked(self.max_spin, hi)

    def _show_gamma(self, gamma: float) -> None:
        self._set_blocked(self.gamma_spin, gamma)
        self._set_blocked(self.gamma_slider, _gamma_to_slider(min(max(gamma, GAMMA_MIN), GAMMA_MAX)))

    def _show_colormap(self, name: str) -> None:
        blocked = self.colormap_combo.blockSignals(True)
        try:
            self.colormap_combo.setCurrentText(name)
        finally:
            self.colormap_combo.blockSignals(blocked)

    @staticmethod
    def _set_blocked(widget, value) -> None:
        blocked = widget.blockSignals(True)
        try:
            widget.setValue(value)
        finally:
            widget.blockSignals(blocked)
