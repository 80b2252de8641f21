"""Elemental maps over a whole spectrum image: window quantification per pixel.

For every pixel and element: background fitted in the element's pre-edge window(s),
extrapolated and subtracted over its integration window (:mod:`.background`), counts
divided by the partial cross-section of the same window, atomic % and ratios with
propagated uncertainties (:mod:`.quantification`). Nothing is hidden: a pixel whose
background fit failed (non-positive counts in a log fit, exponent out of range, a model
turning negative) is NaN in every derived map and flagged in ``background_failed``, and a
negative background-subtracted signal (background over-estimated, or no such element) is
flagged in ``negative_signal`` but kept, so averages over a region stay unbiased.

:class:`WindowQuantifier` keeps the per-edge results so that moving one element's windows
(an interactive panel dragging a span) recomputes that element only.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..calibration import AxisCalibration
from .background import fit_and_integrate
from .quantification import atomic_percent, atomic_ratios


@dataclass(frozen=True)
class EdgeWindows:
    """How one element is quantified.

    element : str
        Name used for the maps ("Mn").
    background : (lo, hi) or ((lo1, hi1), (lo2, hi2))
        Pre-edge fit window(s), eV.
    integration : (lo, hi)
        Edge integration window, eV.
    sigma_barn : float
        Partial cross-section integrated over ``integration`` (barn), or a k-factor
        scaled equivalent: only ratios between elements matter.
    """

    element: str
    background: tuple
    integration: tuple
    sigma_barn: float


@dataclass(frozen=True)
class EdgeSignal:
    """Background-subtracted edge counts of one element, per pixel."""

    counts: np.ndarray          # (...)
    variance: np.ndarray        # (...)
    background_failed: np.ndarray
    background_r: np.ndarray    # power-law exponent (NaN for other models)
    fit_quality: np.ndarray     # reduced χ² of the background fit


@dataclass(frozen=True)
class QuantificationMaps:
    """Per-pixel quantification; every array has the scan shape (...) of the input.

    ``atomic_percent[el]`` and ``atomic_percent_err[el]`` are NaN where any element's
    background failed; ``relative_density[el] = counts/σ`` (areal density × dose, per
    barn) is what the ratios are made of.
    """

    windows: tuple
    signals: dict
    atomic_percent: dict = field(default_factory=dict)
    atomic_percent_err: dict = field(default_factory=dict)

    @property
    def elements(self) -> tuple:
        return tuple(w.element for w in self.windows)

    def _sigma(self, el):
        return next(w.sigma_barn for w in self.windows if w.element == el)

    def relative_density(self, el) -> np.ndarray:
        return self.signals[el].counts / self._sigma(el)

    def background_failed(self, el) -> np.ndarray:
        return self.signals[el].background_failed

    def negative_signal(self, el) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.signals[el].counts < 0

    def ratio(self, a: str, b: str):
        """N_a/N_b per pixel and its 1σ (Poisson + background extrapolation)."""
        sig = {k: self.signals[k].counts for k in (a, b)}
        var = {k: self.signals[k].variance for k in (a, b)}
        sg = {k: self._sigma(k) for k in (a, b)}
        ratios, errors = atomic_ratios(sig, var, sg, reference=b)
        return ratios[a], errors[a]

    def summary(self, mask=None) -> dict:
        """Per element: pixels used, failed/negative counts, mean atomic % of the mask."""
        out = {}
        for el in self.elements:
            pct = self.atomic_percent[el] if mask is None else self.atomic_percent[el][mask]
            failed = self.background_failed(el)
            failed = failed if mask is None else failed[mask]
            out[el] = {"pixels": int(np.size(pct)), "failed_pixels": int(np.sum(failed)),
                       "mean_atomic_percent": float(np.nanmean(pct)) if np.any(np.isfinite(pct))
                       else None}
        return out


def edge_signal(spectra, energy_axis: AxisCalibration, win: EdgeWindows, *,
                model: str = "power_law", method: str | None = None,
                quality: bool = True) -> EdgeSignal:
    """Background fit + integration of one element over every pixel (``quality=False``:
    no fit-quality map, NaN, for live updates)."""
    fit, counts, variance = fit_and_integrate(spectra, energy_axis, windows=win.background,
                                              lo=win.integration[0], hi=win.integration[1],
                                              model=model, method=method, quality=quality)
    r = fit.parameters[..., 1] if model == "power_law" else np.full(counts.shape, np.nan)
    return EdgeSignal(counts, variance, fit.failed.copy(), r, fit.fit_quality)


def _with_percent(maps: QuantificationMaps) -> QuantificationMaps:
    sig = {k: s.counts for k, s in maps.signals.items()}
    var = {k: s.variance for k, s in maps.signals.items()}
    sg = {w.element: w.sigma_barn for w in maps.windows}
    pct, err = atomic_percent(sig, var, sg)
    return replace(maps, atomic_percent=pct, atomic_percent_err=err)


def _check_windows(windows) -> tuple:
    windows = tuple(windows)
    if not windows:
        raise ValueError("give at least one element's windows")
    names = [w.element for w in windows]
    if len(set(names)) != len(names):
        raise ValueError(f"an element appears twice: {names}")
    for w in windows:
        if not (np.isfinite(w.sigma_barn) and w.sigma_barn > 0):
            raise ValueError(f"{w.element}: the cross-section must be > 0 barn, got {w.sigma_barn}")
    return windows


def quantify_maps(spectra, energy_axis: AxisCalibration, windows, *, model: str = "power_law",
                  method: str | None = None) -> QuantificationMaps:
    """Window quantification of every pixel of ``spectra`` (..., n_channels).

    ``windows``: a sequence of :class:`EdgeWindows`, one per element.
    """
    windows = _check_windows(windows)
    signals = {w.element: edge_signal(spectra, energy_axis, w, model=model, method=method)
               for w in windows}
    return _with_percent(QuantificationMaps(windows, signals))


class WindowQuantifier:
    """Quantification maps kept up to date while windows move (one element at a time).

    ``update(EdgeWindows)`` refits and re-integrates that element only, then recomputes the
    atomic % maps (cheap): the cost of a window drag is one pass over that element's
    windows. While dragging (``quality=False``) the element's fit-quality map is left NaN;
    call ``update(win)`` once more when the drag ends to fill it.
    """

    def __init__(self, spectra, energy_axis: AxisCalibration, windows, *,
                 model: str = "power_law", method: str | None = None):
        self._spectra = spectra
        self._axis = energy_axis
        self._options = {"model": model, "method": method}
        self.maps = quantify_maps(spectra, energy_axis, windows, **self._options)

    def update(self, win: EdgeWindows, *, quality: bool = True) -> QuantificationMaps:
        if win.element not in self.maps.elements:
            raise ValueError(f"{win.element} is not one of {self.maps.elements}")
        windows = tuple(win if w.element == win.element else w for w in self.maps.windows)
        _check_windows(windows)
        signals = dict(self.maps.signals)
        signals[win.element] = edge_signal(self._spectra, self._axis, win, quality=quality,
                                           **self._options)
        self.maps = _with_percent(QuantificationMaps(windows, signals))
        return self.maps
