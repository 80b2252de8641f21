"""EELS k-factors calibrated on a reference spectrum of known composition.

Instead of computed cross-sections, the ratio of two edge intensities is converted to a
composition ratio with a factor measured on a standard (Egerton 2011, ch. 4,
"k-factor" quantification): with the same background model and the *same fixed windows*, beam energy and
angles,

    k_AB = (I_A / I_B) / (c_A / c_B)     on the reference,
    c_A / c_B = (I_A / I_B) / k_AB       on an unknown.

k_AB is the measured ratio of partial cross-sections σ_A(β, α, Δ_A, E0) / σ_B(...), so
it carries everything a computed σ misses (white lines, solid-state near-edge structure,
detector response) as long as the acquisition conditions are the same. Intensities come
from :func:`batteryscope.analysis.eels.background.fit_background` and
:func:`~batteryscope.analysis.eels.background.integrate_edge` (Poisson + background-
extrapolation variances), and the uncertainties propagate to first order:

    (δk/k)² = var_A/I_A² + var_B/I_B² + (δr/r)²     (r = c_A/c_B of the reference),
    (δc/c)² = var_A/I_A² + var_B/I_B² + (δk/k)²     on the unknown.

A :class:`KFactor` is plain data and round-trips through JSON (:meth:`KFactor.to_json`,
:meth:`KFactor.from_json`).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..calibration import AxisCalibration
from .background import fit_background, integrate_edge

__all__ = ["EdgeSetting", "KFactor", "KFactorMismatchWarning", "calibrate_k_factor",
           "apply_k_factor", "edge_intensity"]

#: relative difference of E0, α or β above which a k-factor is flagged as not applicable
CONDITION_TOLERANCE = 0.01
#: difference (eV) of a window edge above which a k-factor is flagged
WINDOW_TOLERANCE_EV = 0.5


class KFactorMismatchWarning(UserWarning):
    """A k-factor is applied under conditions (windows, E0, α, β) other than its calibration."""


@dataclass(frozen=True)
class EdgeSetting:
    """How one edge is measured: name, background fit windows and integration window (eV)."""

    edge: str
    background: tuple
    integration: tuple
    model: str = "power_law"
    method: str = "lsq"

    def __post_init__(self):
        bg = self.background
        bg = tuple(tuple(float(v) for v in w) for w in bg) if np.ndim(bg) == 2 else tuple(float(v) for v in bg)
        object.__setattr__(self, "background", bg)
        object.__setattr__(self, "integration", tuple(float(v) for v in self.integration))
        lo, hi = self.integration
        if not lo < hi:
            raise ValueError(f"{self.edge}: integration window must be (lo, hi) with lo < hi")


def edge_intensity(spectra, energy_axis: AxisCalibration, setting: EdgeSetting):
    """Background-subtracted counts of one edge and their variance, per pixel."""
    fit = fit_background(spectra, energy_axis, windows=setting.background, model=setting.model,
                         method=setting.method)
    lo, hi = setting.integration
    return integrate_edge(spectra, energy_axis, fit, lo=lo, hi=hi)


@dataclass(frozen=True)
class KFactor:
    """A calibrated k_AB and everything needed to apply it consistently.

    Attributes
    ----------
    element_a, element_b : str
        Numerator and denominator elements.
    edge_a, edge_b : EdgeSetting
        Edge names and windows used (fixed for every later use).
    value, uncertainty : float
        k_AB and its 1σ uncertainty.
    beam_energy_keV, convergence_mrad, collection_mrad : float
        Acquisition conditions of the reference.
    reference : str
        Name of the reference specimen (e.g. ``"LiMn2O4 spinel, batch 12"``).
    composition_ratio, composition_ratio_uncertainty : float
        c_A / c_B of the reference and its uncertainty.
    """

    element_a: str
    element_b: str
    edge_a: EdgeSetting
    edge_b: EdgeSetting
    value: float
    uncertainty: float
    beam_energy_keV: float
    convergence_mrad: float
    collection_mrad: float
    reference: str
    composition_ratio: float
    composition_ratio_uncertainty: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("edge_a", "edge_b"):
            d[key]["background"] = _as_lists(d[key]["background"])
            d[key]["integration"] = list(d[key]["integration"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "KFactor":
        d = dict(d)
        d["edge_a"] = EdgeSetting(**d["edge_a"])
        d["edge_b"] = EdgeSetting(**d["edge_b"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "KFactor":
        return cls.from_dict(json.loads(text))


def _as_lists(w):
    return [list(x) for x in w] if isinstance(w[0], (tuple, list)) else list(w)


def calibrate_k_factor(spectrum, energy_axis: AxisCalibration, *, element_a: str, element_b: str,
                       edge_a: EdgeSetting, edge_b: EdgeSetting, composition_ratio: float,
                       composition_ratio_uncertainty: float = 0.0, beam_energy_keV: float,
                       convergence_mrad: float, collection_mrad: float,
                       reference: str) -> KFactor:
    """k_AB from one reference spectrum of known composition ratio c_A/c_B.

    Parameters
    ----------
    spectrum : ndarray of shape (n_channels,)
        Reference spectrum (counts), e.g. an ROI sum.
    energy_axis : AxisCalibration
    element_a, element_b : str
    edge_a, edge_b : EdgeSetting
        Edges and windows; they are stored and reused by :func:`apply_k_factor`.
    composition_ratio : float
        Known c_A / c_B of the reference (> 0); ``composition_ratio_uncertainty`` its 1σ.
    beam_energy_keV, convergence_mrad, collection_mrad : float
        Conditions of the reference acquisition (stored, checked on use).
    reference : str
        Name of the reference.

    Raises
    ------
    ValueError
        Bad input, a failed background fit, or a non-positive edge intensity.
    """
    spectrum = np.asarray(spectrum)
    if spectrum.ndim != 1:
        raise ValueError(f"the reference must be one spectrum (n_channels,), got shape {spectrum.shape}")
    if not (composition_ratio > 0 and composition_ratio_uncertainty >= 0):
        raise ValueError("composition_ratio must be > 0 and its uncertainty >= 0")
    i_a, v_a = (float(x) for x in edge_intensity(spectrum, energy_axis, edge_a))
    i_b, v_b = (float(x) for x in edge_intensity(spectrum, energy_axis, edge_b))
    for name, i, v in ((edge_a.edge, i_a, v_a), (edge_b.edge, i_b, v_b)):
        if not (math.isfinite(i) and math.isfinite(v) and i > 0):
            raise ValueError(f"{name}: no usable edge intensity in the reference ({i:g} counts)")
    k = (i_a / i_b) / composition_ratio
    rel2 = v_a / i_a**2 + v_b / i_b**2 + (composition_ratio_uncertainty / composition_ratio) ** 2
    return KFactor(element_a=element_a, element_b=element_b, edge_a=edge_a, edge_b=edge_b,
                   value=k, uncertainty=k * math.sqrt(rel2), beam_energy_keV=float(beam_energy_keV),
                   convergence_mrad=float(convergence_mrad), collection_mrad=float(collection_mrad),
                   reference=str(reference), composition_ratio=float(composition_ratio),
                   composition_ratio_uncertainty=float(composition_ratio_uncertainty))


def _mismatches(k: KFactor, edge_a, edge_b, beam_energy_keV, convergence_mrad, collection_mrad):
    found = []
    for label, used, calib in (("E0", beam_energy_keV, k.beam_energy_keV),
                               ("convergence angle", convergence_mrad, k.convergence_mrad),
                               ("collection angle", collection_mrad, k.collection_mrad)):
        scale = max(abs(calib), 1e-12)
        if abs(used - calib) > CONDITION_TOLERANCE * scale:
            found.append(f"{label} {used:g} differs from the calibration's {calib:g}")
    for used, calib in ((edge_a, k.edge_a), (edge_b, k.edge_b)):
        if used.edge != calib.edge or used.model != calib.model or used.method != calib.method:
            found.append(f"edge/model {used.edge} {used.model} differs from the calibration's "
                         f"{calib.edge} {calib.model}")
        a = np.ravel(used.background + used.integration)
        b = np.ravel(calib.background + calib.integration)
        if a.shape != b.shape or np.max(np.abs(a - b)) > WINDOW_TOLERANCE_EV:
            found.append(f"{used.edge} windows {used.background}/{used.integration} differ from "
                         f"the calibration's {calib.background}/{calib.integration}")
    return found


def apply_k_factor(k: KFactor, spectra, energy_axis: AxisCalibration, *, beam_energy_keV: float,
                   convergence_mrad: float, collection_mrad: float,
                   edge_a: EdgeSetting | None = None, edge_b: EdgeSetting | None = None):
    """Composition ratio c_A / c_B of unknown spectra and its 1σ uncertainty, per pixel.

    The calibration's windows are used unless ``edge_a`` / ``edge_b`` are given; a
    :class:`KFactorMismatchWarning` is issued when windows, model, E0, α or β differ
    from the calibration (E0/α/β by more than 1 %, a window edge by more than 0.5 eV):
    the k-factor is then not strictly valid.

    Returns
    -------
    ratio, uncertainty : ndarray of shape (...), float64
        NaN where a background fit failed or an intensity is not positive.
    """
    edge_a = edge_a or k.edge_a
    edge_b = edge_b or k.edge_b
    problems = _mismatches(k, edge_a, edge_b, beam_energy_keV, convergence_mrad, collection_mrad)
    if problems:
        warnings.warn(f"k-factor {k.element_a}/{k.element_b} from {k.reference!r}: "
                      + "; ".join(problems), KFactorMismatchWarning, stacklevel=2)
    i_a, v_a = edge_intensity(spectra, energy_axis, edge_a)
    i_b, v_b = edge_intensity(spectra, energy_axis, edge_b)
    good = (i_a > 0) & (i_b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (i_a / i_b) / k.value
        rel2 = v_a / i_a**2 + v_b / i_b**2 + (k.uncertainty / k.value) ** 2
        err = np.abs(ratio) * np.sqrt(rel2)
    return np.where(good, ratio, np.nan), np.where(good, err, np.nan)
