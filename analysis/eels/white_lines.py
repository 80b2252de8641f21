"""L3/L2 white-line ratio of 3d transition metals per pixel, and valence from calibrations.

Method
------
After the pre-edge background is removed (a :class:`~.background.BackgroundFit`), the
transitions to the continuum are modelled, following Pearson et al., Phys. Rev. B 47 (1993)
8471, by two steps at the L3 and L2 positions with heights in the ratio 2:1 (the
occupancies of the 2p3/2 and 2p1/2 initial states) that together reach the continuum
level measured in a window above L2::

    continuum(E) = c(E) · [⅔ H(E − E_L3) + ⅓ H(E − E_L2)]

``c(E)`` is the mean of the subtracted counts in ``continuum_window`` (``continuum_model=
"flat"``) or a straight line fitted there and extrapolated (``"linear"``); ``H`` is a unit
step, sharp (``step_width_eV=0``, Pearson) or an arctangent ``½ + arctan(2x/w)/π`` (a
"double arctangent"). The white-line intensities are the window sums of counts − background
− continuum over ``l3_window`` and ``l2_window``, and the ratio is ``I(L3)/I(L2)``.

Step positions: ``step_positions="peaks"`` puts them at each pixel's L3 and L2 maxima
(sub-channel, Pearson's choice); a pair ``(E_L3, E_L2)`` fixes them for all pixels. The
latter with narrow fixed windows is the "modified L2,3 ratio" of van Aken & Liebscher,
Phys. Chem. Minerals 29 (2002) 188 (2 eV windows at fixed energies on an arctangent-
stepped continuum); use their exact energies and widths when applying their Fe calibration.

Uncertainty: every intensity is a linear functional of the counts, so its variance and the
L3–L2 covariance (shared continuum, shared background) are propagated exactly to first
order: Poisson noise of the counts plus the background-fit covariance (see
:mod:`._edge_functionals`). The step positions are treated as exact.

Valence calibrations
--------------------
The ratio depends on the method (windows, step model, deconvolution, energy resolution),
so a calibration is only valid for ratios measured the same way. Published calibrations
from reference compounds — Mn: Varela et al., Phys. Rev. B 79 (2009) 085117; Tan et al.,
Ultramicroscopy 116 (2012) 24; Fe: van Aken & Liebscher, Phys. Chem. Minerals 29 (2002) 188;
Cavé et al., Micron 37 (2006) 301; Co: Wang, Yin, Kirk & Egerton, Micron 31 (2000) 571 —
are entered with :class:`ValenceCalibration` (numbers, method and citation together). No
published numbers are bundled here: the values could not be checked against the papers
when this module was written, and an unverified calibration is worse than none. The
recommended route is :func:`calibration_from_standards`: measure the reference compounds
(e.g. MnO, Mn2O3, MnO2; CoO, LiCoO2; NiO) with the same settings and build the curve.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from . import _edge_functionals as _fx
from ._peak_positions import peak_positions

#: Flag bits of :attr:`WhiteLineRatio.flags` and :attr:`Valence.flags`.
FLAG_BACKGROUND = 1          # background fit failed, or non-finite counts
FLAG_NONPOSITIVE = 2         # L3 or L2 <= 0, or continuum not above 3σ (no edge): ratio NaN
FLAG_PEAK_AT_EDGE = 4        # a maximum sits on the edge of its window (step misplaced)
FLAG_OUT_OF_CALIBRATION = 8  # ratio outside the calibrated range: valence is NaN
FLAG_AT_CALIBRATION_LIMIT = 16  # just outside, within its error: the end valence is given
_CHUNK = 2048


@dataclass(frozen=True)
class WhiteLineRatio:
    """White-line intensities and L3/L2 ratio per pixel (arrays of shape ``(...)``, float64).

    ``l3``, ``l2``: white-line counts (continuum removed) and ``l3_std``, ``l2_std``;
    ``ratio``, ``ratio_std``: ``l3 / l2`` (NaN where flagged nonpositive or background);
    ``continuum``: continuum level per channel above L2; ``l3_eV``, ``l2_eV``: the step
    positions used; ``flags``: uint8 bit mask (``FLAG_*``).
    """

    ratio: np.ndarray
    ratio_std: np.ndarray
    l3: np.ndarray
    l2: np.ndarray
    l3_std: np.ndarray
    l2_std: np.ndarray
    continuum: np.ndarray
    l3_eV: np.ndarray
    l2_eV: np.ndarray
    flags: np.ndarray
    settings: dict


def _check_windows(l3_window, l2_window, continuum_window):
    wins = [tuple(float(v) for v in w) for w in (l3_window, l2_window, continuum_window)]
    for name, (lo, hi) in zip(("l3_window", "l2_window", "continuum_window"), wins):
        if not hi > lo:
            raise ValueError(f"{name} ({lo:g}, {hi:g}) eV: hi must be greater than lo")
    if not (wins[0][1] <= wins[1][0] and wins[1][1] <= wins[2][0]):
        raise ValueError(f"windows must be ordered L3 < L2 < continuum without overlap; got "
                         f"L3 {wins[0]}, L2 {wins[1]}, continuum {wins[2]} eV")
    return wins


def _step(e, position, width):
    x = e - position[..., None]
    if width == 0:
        return np.where(x > 0, 1.0, np.where(x == 0, 0.5, 0.0))
    return 0.5 + np.arctan(2.0 * x / width) / np.pi


def _continuum_operator(e, cont, model):
    """(m, m) matrix L: continuum level at every channel = L @ subtracted counts."""
    ec = e[cont]
    n = ec.size
    op = np.zeros((e.size, e.size))
    if model == "flat":
        op[:, cont] = 1.0 / n
    else:
        mean = ec.mean()
        sxx = np.sum((ec - mean) ** 2)
        op[:, cont] = 1.0 / n + np.outer(e - mean, ec - mean) / sxx
    return op


def white_line_ratio(spectra, energy_axis: AxisCalibration, *, background, l3_window,
                     l2_window, continuum_window, step_positions="peaks",
                     step_width_eV: float = 0.0, continuum_model: str = "flat") -> WhiteLineRatio:
    """L3/L2 white-line ratio with a 2:1 continuum step removed, for every pixel.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Recorded counts (a spectrum, line or spectrum image).
    energy_axis : AxisCalibration
        Energies of the channel centres (eV).
    background : BackgroundFit or None
        Pre-edge fit of the same spectra (:func:`~.background.fit_background`); its windows
        must lie below ``l3_window``. None: the spectra hold no background (then the
        variance is the Poisson variance of the given counts only).
    l3_window, l2_window : (lo, hi)
        Integration windows (eV) around the L3 and L2 white lines.
    continuum_window : (lo, hi)
        Window above L2 (eV) where the continuum level is measured.
    step_positions : "peaks" or (float, float)
        Steps at each pixel's L3/L2 maxima (sub-channel) or at fixed energies (eV).
    step_width_eV : float
        0 for sharp steps, else the width of arctangent steps.
    continuum_model : {"flat", "linear"}
        Level in the continuum window: its mean, or a straight line extrapolated.

    Returns
    -------
    WhiteLineRatio

    Raises
    ------
    ValueError
        For windows off the axis, unordered or overlapping, fewer than 3 channels in a
        window, a background fit that does not match or reaches into the edge, or bad options.
    """
    spectra = _fx.check_spectra(spectra, energy_axis)
    w3, w2, wc = _check_windows(l3_window, l2_window, continuum_window)
    if continuum_model not in ("flat", "linear"):
        raise ValueError(f"continuum_model must be 'flat' or 'linear', got {continuum_model!r}")
    if not (np.isfinite(step_width_eV) and step_width_eV >= 0):
        raise ValueError(f"step_width_eV must be >= 0, got {step_width_eV}")
    fixed = None
    if isinstance(step_positions, str):
        if step_positions != "peaks":
            raise ValueError("step_positions must be 'peaks' or (E_L3, E_L2), "
                             f"got {step_positions!r}")
    else:
        fixed = tuple(float(v) for v in step_positions)
        if len(fixed) != 2 or not fixed[0] < fixed[1]:
            raise ValueError("step_positions must be (E_L3, E_L2) with E_L3 < E_L2, "
                             f"got {step_positions!r}")
    region = _fx.channel_slice(energy_axis, w3[0], wc[1], "white-line range")
    background = _fx.check_background(background, spectra, energy_axis, w3[0])
    sl3 = _fx.channel_slice(energy_axis, *w3, "l3_window")
    sl2 = _fx.channel_slice(energy_axis, *w2, "l2_window")
    slc = _fx.channel_slice(energy_axis, *wc, "continuum_window",
                            min_channels=3 if continuum_model == "flat" else 4)
    e = energy_axis.values()[region]
    local = [slice(s.start - region.start, s.stop - region.start) for s in (sl3, sl2, slc)]
    op = _continuum_operator(e, local[2], continuum_model)
    lead = spectra.shape[:-1]
    n_pix = int(np.prod(lead))
    flat = spectra.reshape(n_pix, spectra.shape[-1])
    out = {k: np.empty(n_pix) for k in ("l3", "l2", "v3", "v2", "c32", "cont", "vc", "e3", "e2")}
    flags = np.zeros(n_pix, np.uint8)
    bg_flat = _fx.flatten_fit(background, n_pix)
    for start in range(0, n_pix, _CHUNK):
        stop = min(start + _CHUNK, n_pix)
        fit = None if bg_flat is None else bg_flat(start, stop)
        raw, sub, jac, cov, failed = _fx.subtracted_block(flat[start:stop], energy_axis, fit,
                                                          region)
        _chunk(raw, sub, jac, cov, failed, e, local, op, fixed, step_width_eV,
               {k: v[start:stop] for k, v in out.items()}, flags[start:stop])
    ratio, ratio_std = _fx.ratio_with_error(out["l3"], out["l2"], out["v3"], out["v2"], out["c32"])
    # no edge: a continuum level not significantly above zero (3σ)
    nonpos = (~(out["l3"] > 0) | ~(out["l2"] > 0)
              | ~(out["cont"] > 3.0 * np.sqrt(np.maximum(out["vc"], 0.0))))
    flags |= np.where(nonpos, FLAG_NONPOSITIVE, 0).astype(np.uint8)
    invalid = (flags & (FLAG_BACKGROUND | FLAG_NONPOSITIVE)) != 0
    ratio[invalid] = np.nan
    ratio_std[invalid] = np.nan
    settings = {"l3_window": w3, "l2_window": w2, "continuum_window": wc,
                "step_positions": fixed or "peaks", "step_width_eV": float(step_width_eV),
                "continuum_model": continuum_model, "step_heights": "2:1 (Pearson 1993)"}
    shape = lambda a: a.reshape(lead)  # noqa: E731
    return WhiteLineRatio(shape(ratio), shape(ratio_std), shape(out["l3"]), shape(out["l2"]),
                          shape(np.sqrt(np.maximum(out["v3"], 0))),
                          shape(np.sqrt(np.maximum(out["v2"], 0))), shape(out["cont"]),
                          shape(out["e3"]), shape(out["e2"]), flags.reshape(lead), settings)


def _white_line_maxima(raw, sub, e, sl3, sl2, op, width, n_iter=3):
    """Sub-channel maxima of the white lines themselves (continuum removed).

    The maximum of the recorded edge lies above the white-line maximum because the
    continuum step rises under the line; so the maxima are searched again after removing
    the 2:1 continuum stepped at the previous estimate (arctangent steps of at least two
    channels' width for the search, so that a sharp step does not bend the peak top).
    """
    var = np.maximum(raw, 1.0)
    level = sub @ op.T                                    # continuum level at every channel
    search_width = max(width, 2.0 * (e[1] - e[0]))
    target = sub
    for _ in range(n_iter):
        e3, _, edge3 = peak_positions(target[:, sl3], var[:, sl3], e[sl3])
        e2, _, edge2 = peak_positions(target[:, sl2], var[:, sl2], e[sl2])
        # a failed maximum: fall back to the highest channel so the step stays in its window
        for pos, sl in ((e3, sl3), (e2, sl2)):
            t = np.where(np.isfinite(target[:, sl]), target[:, sl], -np.inf)
            bad = ~np.isfinite(pos)
            pos[bad] = e[sl][np.argmax(t, axis=1)][bad]
        h = (2.0 / 3.0) * _step(e, e3, search_width) + (1.0 / 3.0) * _step(e, e2, search_width)
        target = sub - h * level
    return e3, e2, edge3 | edge2


def _chunk(raw, sub, jac, cov, failed, e, local, op, fixed, width, out, flags):
    sl3, sl2, slc = local
    p, m = sub.shape
    nonfinite = ~np.all(np.isfinite(raw), axis=1)
    if fixed is None:
        e3, e2, edge = _white_line_maxima(raw, sub, e, sl3, sl2, op, width)
        flags |= np.where(edge, FLAG_PEAK_AT_EDGE, 0).astype(np.uint8)
    else:
        e3, e2 = np.full(p, fixed[0]), np.full(p, fixed[1])
    h = (2.0 / 3.0) * _step(e, e3, width) + (1.0 / 3.0) * _step(e, e2, width)   # (p, m)
    weights = np.zeros((p, 3, m))
    for q, sl in enumerate((sl3, sl2)):
        ind = np.zeros(m)
        ind[sl] = 1.0
        weights[:, q, :] = ind - (h * ind) @ op
    weights[:, 2, slc] = 1.0 / (slc.stop - slc.start)
    values, covar = _fx.functionals(raw, sub, jac, cov, weights)
    out["l3"][:], out["l2"][:], out["cont"][:] = values[:, 0], values[:, 1], values[:, 2]
    out["v3"][:], out["v2"][:], out["c32"][:] = covar[:, 0, 0], covar[:, 1, 1], covar[:, 0, 1]
    out["vc"][:] = covar[:, 2, 2]
    out["e3"][:], out["e2"][:] = e3, e2
    flags |= np.where(failed | nonfinite, FLAG_BACKGROUND, 0).astype(np.uint8)


# --------------------------------------------------------------------------- valence

@dataclass(frozen=True)
class ValenceCalibration:
    """L3/L2 ratio of reference compounds of known valence, with where the numbers come from.

    Attributes
    ----------
    element : str
    valences, ratios : tuple of float
        Reference points (at least two), ratios strictly monotonic in valence.
    ratio_stds : tuple of float
        Standard error of each reference ratio (0 if not known); propagated separately
        as the calibration uncertainty.
    method : str
        How the ratios were measured (windows, step model, …): a valence is only meaningful
        for ratios measured the same way.
    citation : str
        The publication or the measurement the points come from.
    """

    element: str
    valences: tuple
    ratios: tuple
    ratio_stds: tuple
    method: str
    citation: str

    def __post_init__(self):
        v, r, s = (np.asarray(a, dtype=np.float64) for a in (self.valences, self.ratios,
                                                             self.ratio_stds))
        if not (v.ndim == 1 and v.size >= 2 and r.shape == v.shape and s.shape == v.shape):
            raise ValueError("a calibration needs >= 2 (valence, ratio, ratio_std) points of "
                             f"equal length; got {v.size}, {r.size}, {s.size}")
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(r)) and np.all(r > 0)
                and np.all(np.isfinite(s)) and np.all(s >= 0)):
            raise ValueError("calibration valences, ratios (> 0) and stds (>= 0) must be finite")
        order = np.argsort(v)
        if np.any(np.diff(v[order]) <= 0):
            raise ValueError(f"calibration valences must be distinct, got {tuple(v)}")
        d = np.diff(r[order])
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError(f"calibration ratios {[float(x) for x in r[order]]} are not strictly "
                             f"monotonic in valence {[float(x) for x in v[order]]}: the ratio "
                             "cannot be inverted")
        if not self.method.strip() or not self.citation.strip():
            raise ValueError("a calibration must state its method and citation")

    @property
    def ratio_range(self) -> tuple:
        return float(min(self.ratios)), float(max(self.ratios))


@dataclass(frozen=True)
class Valence:
    """Valence per pixel: ``valence``, ``valence_std`` (from the ratio's error),
    ``calibration_std`` (from the reference points' errors), ``flags`` (uint8 bits)."""

    valence: np.ndarray
    valence_std: np.ndarray
    calibration_std: np.ndarray
    flags: np.ndarray
    calibration: ValenceCalibration


def valence_from_ratio(ratio, ratio_std, calibration: ValenceCalibration, *,
                       flags=None, limit_sigma: float = 2.0) -> Valence:
    """Valence by piecewise-linear inversion of a calibration curve, with uncertainty.

    Ratios outside the calibrated range are not extrapolated. One within ``limit_sigma`` of
    its own error of the nearest end is consistent with the end member (a noisy pixel of
    MnO2 itself, say): it gets the end valence with its error and
    :data:`FLAG_AT_CALIBRATION_LIMIT`. Farther out the valence is NaN and
    :data:`FLAG_OUT_OF_CALIBRATION` is set. Incoming ``flags`` (e.g. from
    :func:`white_line_ratio`) are kept.
    """
    if not isinstance(calibration, ValenceCalibration):
        raise ValueError("calibration must be a ValenceCalibration, "
                         f"got {type(calibration).__name__}")
    ratio = np.asarray(ratio, dtype=np.float64)
    ratio_std = np.broadcast_to(np.asarray(ratio_std, dtype=np.float64), ratio.shape)
    fl = np.zeros(ratio.shape, np.uint8) if flags is None else np.array(flags, np.uint8)
    if fl.shape != ratio.shape:
        raise ValueError(f"flags of shape {fl.shape} do not match ratio {ratio.shape}")
    order = np.argsort(calibration.ratios)
    r = np.asarray(calibration.ratios, float)[order]
    v = np.asarray(calibration.valences, float)[order]
    s = np.asarray(calibration.ratio_stds, float)[order]
    if not limit_sigma >= 0:
        raise ValueError(f"limit_sigma must be >= 0, got {limit_sigma}")
    inside = (ratio >= r[0]) & (ratio <= r[-1])
    with np.errstate(invalid="ignore"):
        near = ~inside & np.isfinite(ratio) & (
            np.minimum(np.abs(ratio - r[0]), np.abs(ratio - r[-1])) <= limit_sigma * ratio_std)
    clamped = np.clip(ratio, r[0], r[-1])
    use = np.where(inside | near, clamped, r[0])
    k = np.clip(np.searchsorted(r, use, side="right") - 1, 0, r.size - 2)
    dr, dv = r[k + 1] - r[k], v[k + 1] - v[k]
    t = (use - r[k]) / dr
    val = v[k] + t * dv
    val_std = np.abs(dv / dr) * ratio_std
    cal_std = np.abs(dv / dr) * np.hypot((1 - t) * s[k], t * s[k + 1])
    out = ~(inside | near) | ~np.isfinite(ratio)
    fl = fl | np.where(out & np.isfinite(ratio), FLAG_OUT_OF_CALIBRATION, 0).astype(np.uint8)
    fl = fl | np.where(near, FLAG_AT_CALIBRATION_LIMIT, 0).astype(np.uint8)
    nan = lambda a: np.where(out, np.nan, a)  # noqa: E731
    return Valence(nan(val), nan(val_std), nan(cal_std), fl, calibration)


def calibration_from_standards(results, valences, *, element: str,
                               citation: str) -> ValenceCalibration:
    """Build a calibration from white-line ratios measured on reference compounds.

    Parameters
    ----------
    results : sequence of WhiteLineRatio
        One result per reference compound (all pixels of a standard, e.g. a uniform area),
        measured with the settings to be used on the unknowns (checked to be identical).
    valences : sequence of float
        Formal valence of each standard (e.g. 2, 3, 4 for MnO, Mn2O3, MnO2).
    element, citation : str
        Element, and where the standards come from (sample, session, publication).

    Each reference ratio is the inverse-variance weighted mean over unflagged pixels; its
    standard error is the larger of the propagated one and the scatter-based one.
    """
    results = list(results)
    if len(results) != len(valences):
        raise ValueError(f"{len(results)} results but {len(valences)} valences")
    settings = [r.settings for r in results]
    if any(s != settings[0] for s in settings):
        raise ValueError("the standards were measured with different white-line settings")
    ratios, stds = [], []
    for res in results:
        ok = (res.flags == 0) & np.isfinite(res.ratio) & (res.ratio_std > 0)
        if not np.any(ok):
            raise ValueError("a standard has no pixel with a valid white-line ratio")
        w = 1.0 / res.ratio_std[ok] ** 2
        mean = float(np.sum(w * res.ratio[ok]) / np.sum(w))
        err = float(np.sqrt(1.0 / np.sum(w)))
        n = int(ok.sum())
        if n > 1:
            err = max(err, float(np.std(res.ratio[ok], ddof=1) / np.sqrt(n)))
        ratios.append(mean)
        stds.append(err)
    method = "white_line_ratio(" + ", ".join(f"{k}={v}" for k, v in settings[0].items()) + ")"
    return ValenceCalibration(element, tuple(float(v) for v in valences), tuple(ratios),
                              tuple(stds), method, citation)


# 2p spin-orbit splittings (eV) of the 3d metals, L3 to L2, from X-ray energy tables
# (e.g. Thompson et al., X-ray Data Booklet, LBNL 2009, Table 1-1 binding energies:
# Mn 2p3/2 638.7, 2p1/2 649.9; Fe 706.8, 719.9; Co 778.1, 793.2; Ni 852.7, 870.0).
SPIN_ORBIT_eV = {"Mn": 11.2, "Fe": 13.1, "Co": 15.1, "Ni": 17.3}


def typical_windows(element: str, l3_onset_eV: float) -> dict:
    """Default white-line windows for Mn, Fe, Co, Ni from the L3 onset: L3 and L2 integration
    windows of 8 eV starting 1 eV below each line's onset, continuum 15–35 eV above L2.
    A starting point, not a calibration: published L3/L2 calibrations each fix their own
    windows, and a ratio is only comparable to one measured with the same ones."""
    if element not in SPIN_ORBIT_eV:
        raise ValueError(f"white-line windows are tabulated for {sorted(SPIN_ORBIT_eV)}, "
                         f"not {element}")
    l2 = l3_onset_eV + SPIN_ORBIT_eV[element]
    return {"l3_window": (l3_onset_eV - 1.0, l3_onset_eV + 7.0),
            "l2_window": (l2 - 1.0, l2 + 7.0),
            "continuum_window": (l2 + 15.0, l2 + 35.0)}
