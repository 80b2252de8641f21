"""``batteryscope eels``: elemental quantification of an EELS spectrum (image).

Steps: optionally align the energy of every pixel on the paired low-loss zero-loss peak
(and report t/λ); sum the region of interest to one spectrum; for each element take its
usual edge (:func:`~batteryscope.analysis.eels.edges.quantification_edge`) and the default
windows clipped to the spectrum; then either fit a power-law background (Poisson maximum
likelihood) and integrate the edge (``window``), or fit background + cross-section shapes +
free fine structure over the whole range (``model``); divide by the partial cross-section
over the same channels (offline Hartree–Slater tables where shipped, else exspy's hydrogenic
model); atomic % from :func:`~batteryscope.analysis.eels.quantification.atomic_percent`.
L3/L2 white-line ratios are added for Mn, Fe, Co, Ni. ``--out`` writes per-pixel maps
(:mod:`.eels_maps_output`).

Uncertainties are statistical only (Poisson + background extrapolation); cross-sections are
taken as exact (atomic models without white lines: see the cross-section tables' README).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels import edges as eels_edges
from batteryscope.analysis.eels.background import fit_and_integrate, fit_background
from batteryscope.analysis.eels.quantification import atomic_percent

from .errors import UserFacingError



class QuantificationError(UserFacingError):
    """The file or the request cannot be quantified (message is one line)."""


def parse_elements(text: str) -> list[str]:
    """``"O,Mn,Ni"`` → ``["O", "Mn", "Ni"]`` (symbols normalised, no duplicates)."""
    names = [t.strip().capitalize() for t in text.split(",") if t.strip()]
    if not names:
        raise QuantificationError("--elements needs at least one element, e.g. O,Mn,Ni")
    if len(set(names)) != len(names):
        raise QuantificationError(f"--elements lists an element twice: {text}")
    return names


def parse_roi(text: str | None):
    """``"x0,y0,x1,y1"`` (pixel indices, x1/y1 exclusive) → tuple of 4 ints, or None."""
    if text is None:
        return None
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise QuantificationError(f"--roi must be x0,y0,x1,y1 in whole pixels, got {text!r}") from None
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise QuantificationError(f"--roi {text}: need 0 <= x0 < x1 and 0 <= y0 < y1")
    return x0, y0, x1, y1


def summed_spectrum(signal, roi=None) -> tuple[np.ndarray, AxisCalibration]:
    """Sum the ROI of an EELS spectrum (image) to one float64 spectrum and its energy axis."""
    from .signal_description import axes_of

    axes = axes_of(signal)
    sig_axes = [a for a in axes if not a.navigate]
    if len(sig_axes) != 1 or sig_axes[0].units != "eV" or axes[-1].navigate:
        raise QuantificationError("not an EELS spectrum: the file has no energy-loss axis in eV")
    energy = sig_axes[0]
    if energy.scale <= 0:
        raise QuantificationError("the energy axis must increase (scale > 0)")
    data = signal.data
    n_nav = data.ndim - 1
    if roi is not None:
        if n_nav != 2:
            raise QuantificationError(f"--roi needs a spectrum image (2 scan axes); the file "
                                      f"has {n_nav}")
        x0, y0, x1, y1 = roi
        ny, nx = data.shape[:2]
        if x1 > nx or y1 > ny:
            raise QuantificationError(f"--roi {x0},{y0},{x1},{y1} lies outside the "
                                      f"{nx} × {ny} pixel scan")
        data = data[y0:y1, x0:x1]
    spectrum = np.asarray(data.sum(axis=tuple(range(n_nav))) if n_nav else data, dtype=np.float64)
    return spectrum, energy


def _channels(axis: AxisCalibration, lo: float, hi: float) -> slice:
    """Channels whose centres lie in [lo, hi]: the same rule as ``integrate_edge``."""
    i0 = max(int(math.ceil(axis.index_of(lo) - 1e-9)), 0)
    i1 = min(int(math.floor(axis.index_of(hi) + 1e-9)) + 1, axis.size)
    return slice(i0, i1)


def _microscope(signal, beam_energy_keV, convergence_mrad, collection_mrad) -> dict:
    from .signal_description import acquisition_of

    md = acquisition_of(signal)
    given = {"beam_energy_keV": beam_energy_keV, "convergence_mrad": convergence_mrad,
             "collection_mrad": collection_mrad}
    keys = {"beam_energy_keV": ("beam_energy_keV", "--beam-energy"),
            "convergence_mrad": ("convergence_angle_mrad", "--alpha"),
            "collection_mrad": ("collection_angle_mrad", "--beta")}
    out, missing = {}, []
    for name, (md_key, option) in keys.items():
        value = given[name] if given[name] is not None else md.get(md_key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            missing.append(f"{md_key} ({option})")
        else:
            out[name] = float(value)
    if missing:
        raise QuantificationError("the file's metadata lacks " + ", ".join(missing)
                                  + "; give them as options")
    return out


def window_overlaps(windows: dict) -> dict[str, list[str]]:
    """For each element, the major edges of the *other* requested elements with an onset between
    the start of its background window and the end of its integration window (e.g. Mn M₂,₃ at
    51 eV, just before Li K at 55 eV): their counts would be taken as background or as signal,
    so the result is flagged, not trusted."""
    found = {el: [] for el in windows}
    for el, win in windows.items():
        (b_lo, b_hi), (i_lo, i_hi) = win.background, win.integration
        for other in windows:
            if other == el:
                continue
            for e in eels_edges.edges_of(other, major_only=True):
                if not b_lo <= e.onset_eV <= i_hi:
                    continue
                where = ("background window" if e.onset_eV <= b_hi else
                         "integration window" if e.onset_eV >= i_lo else
                         "gap between the background and integration windows")
                found[el].append(f"{e.label} at {e.onset_eV:g} eV is in the {where}")
    return found


def _edge_plan(spectrum_axis: AxisCalibration, elements) -> tuple[dict, dict]:
    """Default windows and exspy-style edge names per element."""
    windows, names = {}, {}
    for el in elements:
        try:
            shell = eels_edges.quantification_edge(el)
            windows[el] = eels_edges.default_windows(eels_edges.edge(el, shell),
                                                     spectrum_lo=spectrum_axis.offset,
                                                     spectrum_hi=spectrum_axis.high)
        except ValueError as exc:
            raise QuantificationError(f"{el}: {exc}") from None
        names[el] = f"{el}_{shell}"
    return windows, names


def _cross_sections(names, energy, scope, source):
    from .eels_cross_sections import cross_section_sources, cross_sections

    try:
        xs = cross_sections(names.values(), energy.values(), source=source, **scope)
        used = cross_section_sources(names.values(), source=source)
    except ValueError as exc:
        raise QuantificationError(f"cross-sections: {exc}") from None
    return xs, used


def _model_amplitudes(spectra, energy, windows, names, xs, low_loss=None):
    """Model fit (background exponent free, fine structure free above each onset; with a
    low-loss kernel, plural scattering convolved into the model). Channels that are NaN in
    the spectrum at either end (drift alignment) are left out of the fit range."""
    from batteryscope.analysis.eels.model_fit import EdgeComponent, fit_edge_model

    comps = [EdgeComponent(names[el], xs[names[el]] * energy.scale, win.edge.onset_eV,
                           fine_structure_width(el, names[el]), FINE_STRUCTURE_BELOW_EV)
             for el, win in windows.items()]
    first, last = min(w.background[0] for w in windows.values()), energy.high
    flat = np.reshape(spectra, (-1, np.shape(spectra)[-1]))
    finite = np.isfinite(flat)
    if not finite.all():
        # channels every (not wholly missing) pixel has: alignment leaves NaN at the ends
        usable = finite[finite.any(axis=1)]
        keep = np.nonzero(usable.all(axis=0))[0] if usable.size else np.array([], int)
        if keep.size:
            values = energy.values()
            first, last = max(first, values[keep[0]]), min(last, values[keep[-1]])
    try:
        return fit_edge_model(spectra, energy, comps, fit_range=(first, last),
                              low_loss=low_loss)
    except ValueError as exc:
        raise QuantificationError(f"model fit: {exc}") from None


#: The free fine-structure region starts this far below each tabulated onset: O K pre-peaks
#: lie ~2 eV below it, and the 3d-metal L3 lines move by ±1–3 eV with valence.
FINE_STRUCTURE_BELOW_EV = 5.0


def _has_white_lines(element: str, edge_name: str) -> bool:
    from batteryscope.analysis.eels.white_lines import SPIN_ORBIT_eV

    return edge_name.endswith("L3") and element in SPIN_ORBIT_eV


def fine_structure_width(element: str, edge_name: str) -> float:
    """Width (eV) of the free fine-structure region above an onset in the model fit: for
    the 3d-metal L2,3 edges both white lines (the L2 sits one spin-orbit splitting above
    L3) plus 12 eV for their width and chemical shift; 40 eV of near-edge structure
    otherwise (the O K edge of transition-metal oxides has its pre-peak, main peak and the
    multiple-scattering peak ~30 eV above the onset, ~10 eV wide; Egerton 2011, ch. 5).
    On the demo layered-oxide SI (fitted with the low loss convolved in) 30 eV left that
    peak's upper half in the continuum and biased Mn/O by −7 %; 40 eV: ≤ 1.2 %."""
    from batteryscope.analysis.eels.white_lines import SPIN_ORBIT_eV

    if _has_white_lines(element, edge_name):
        return SPIN_ORBIT_eV[element] + 12.0
    return 40.0


def quantify_spectrum(spectrum, energy: AxisCalibration, elements, *, beam_energy_keV: float,
                      convergence_mrad: float, collection_mrad: float, source: str = "auto",
                      method: str = "window", low_loss=None) -> dict:
    """Quantify one spectrum: per-element results plus the microscope parameters used.

    ``method="window"``: background (Poisson ML power law) + window integration / partial σ.
    ``method="model"``: a fit of power law + cross-section shapes (+ free fine structure)
    over the whole range; the counts reported are then the model's single-scattering edge
    areas in the default integration windows. ``low_loss`` (model only): a
    :class:`~batteryscope.analysis.eels.plural_scattering.LowLossKernel` of the same area,
    for a spectrum that still contains plural scattering.
    """
    scope = {"beam_energy_keV": beam_energy_keV, "convergence_mrad": convergence_mrad,
             "collection_mrad": collection_mrad}
    windows, names = _edge_plan(energy, elements)
    xs, used = _cross_sections(names, energy, scope, source)
    signals, variances, sigmas = {}, {}, {}
    for el, win in windows.items():
        lo, hi = win.integration
        sigmas[el] = float(np.sum(xs[names[el]][_channels(energy, lo, hi)]) * energy.scale)
    if method == "model":
        fit = _model_amplitudes(spectrum, energy, windows, names, xs, low_loss)
        for j, el in enumerate(windows):
            amp, err = float(fit.amplitudes[j]), float(fit.amplitude_err[j])
            ok = not bool(fit.failed)
            signals[el] = amp * sigmas[el] if ok else np.nan   # edge area in its window
            variances[el] = (err * sigmas[el]) ** 2 if ok else np.nan
        background = "power_law (exponent free) + cross-sections + fine structure, model fit"
        if low_loss is not None:
            background += ", convolved with the low loss"
    elif method == "window":
        for el, win in windows.items():
            lo, hi = win.integration
            try:
                _, signals[el], variances[el] = fit_and_integrate(
                    spectrum, energy, windows=win.background, lo=lo, hi=hi)
            except ValueError as exc:
                raise QuantificationError(f"{el}: {exc}") from None
        background = "power_law (Poisson maximum likelihood)"
    else:
        raise QuantificationError(f"--method must be 'window' or 'model', not {method!r}")
    pct, pct_err = atomic_percent(signals, variances, sigmas)
    overlaps = window_overlaps(windows)
    results = []
    for el, win in windows.items():
        failed = not (np.isfinite(signals[el]) and np.isfinite(variances[el]))
        row = {"element": el, "edge": names[el], "onset_eV": win.edge.onset_eV,
               "background_window_eV": list(win.background),
               "integration_window_eV": list(win.integration), "windows_clipped": win.clipped,
               "sigma_barn": sigmas[el], "cross_section_source": used[names[el]],
               "failed": failed, "overlaps": overlaps[el]}
        if method == "window" and _has_white_lines(el, names[el]):
            row["warning"] = ("the L3/L2 white lines lie in the integration window but not in "
                              "the atomic cross-section: the amount comes out too high by their "
                              "area (+20–40 % in oxides); use --method model (white lines in "
                              "the free fine-structure region) or k-factors from a standard")
        values = {"counts": signals[el], "counts_err": np.sqrt(variances[el]),
                  "atomic_percent": pct[el], "atomic_percent_err": pct_err[el]}
        row.update({k: (float(v) if np.isfinite(v) else None) for k, v in values.items()})
        results.append(row)
    return {"cross_sections": source, "method": method, "background_model": background,
            **scope, "elements": results}


def white_line_plan(element: str, energy: AxisCalibration):
    """(white-line windows, pre-edge background window) of a 3d metal's L2,3 edge on this
    axis; None if the element has no white lines here; a str saying why if they do not
    fit on the axis."""
    from batteryscope.analysis.eels.white_lines import SPIN_ORBIT_eV, typical_windows

    if element not in SPIN_ORBIT_eV:
        return None
    edge = eels_edges.edge(element, "L3")
    win = typical_windows(element, edge.onset_eV)
    bg = eels_edges.default_windows(edge).background
    if bg[0] < energy.offset or win["continuum_window"][1] > energy.high:
        return "L2,3 edge or its windows outside the spectrum"
    return win, bg


def white_line_rows(spectrum, energy: AxisCalibration, elements) -> dict:
    """L3/L2 ratio (Pearson 2:1 step) of each requested 3d metal whose L2,3 is in range."""
    from batteryscope.analysis.eels.white_lines import white_line_ratio

    out = {}
    for el in elements:
        plan = white_line_plan(el, energy)
        if plan is None:
            continue
        if isinstance(plan, str):
            out[el] = {"white_line_ratio": None, "white_line_note": plan}
            continue
        win, bg = plan
        fit = fit_background(spectrum, energy, windows=bg)
        try:
            wl = white_line_ratio(spectrum, energy, background=fit, **win)
        except ValueError as exc:
            out[el] = {"white_line_ratio": None, "white_line_note": str(exc)}
            continue
        ratio, err = float(wl.ratio), float(wl.ratio_std)
        out[el] = {"white_line_ratio": ratio if np.isfinite(ratio) else None,
                   "white_line_ratio_err": err if np.isfinite(err) else None,
                   "white_line_windows_eV": {k: list(v) for k, v in win.items()}}
    return out


def _signal_data(signal) -> np.ndarray:
    return np.asarray(signal.data.compute() if hasattr(signal.data, "compute") else signal.data)


def _sum_roi(data, roi, *, with_missing: bool = False):
    """Sum over the ROI's pixels; NaN channels (from drift alignment at the spectrum ends)
    are skipped. ``with_missing``: also return the channels some ROI pixel lacks (there the
    sum is partial: a false dip at the ends of the range for a fit)."""
    if roi is not None:
        x0, y0, x1, y1 = roi
        data = data[y0:y1, x0:x1]
    n_nav = data.ndim - 1
    if not n_nav:
        total = np.asarray(data, dtype=np.float64)
        return (total, np.isnan(total)) if with_missing else total
    axes = tuple(range(n_nav))
    total = np.asarray(np.nansum(data, axis=axes), dtype=np.float64)
    if with_missing:
        return total, np.any(np.isnan(data), axis=axes)
    return total


def quantify_file(path, elements, *, roi=None, beam_energy_keV=None, convergence_mrad=None,
                  collection_mrad=None, source: str = "auto", method: str = "window",
                  lowloss=None, out_dir=None, valence_calibration=None) -> dict:
    """Load ``path``, sum the ROI and quantify ``elements``; JSON-ready dict.

    ``lowloss``: the paired low-loss file; its zero-loss peak aligns the core-loss energy
    per pixel and gives t/λ. ``out_dir``: also quantify every pixel and write the maps.
    ``valence_calibration``: a calibration file (:mod:`.eels_valence`); the white-line
    ratios of its elements are turned into valences.
    """
    from .hyperspy_adapter import load_signals

    calibrations = {}
    if valence_calibration is not None:        # a bad file fails before any work
        from .eels_valence import load_calibrations

        calibrations = load_calibrations(valence_calibration)

    signals = load_signals(path)
    if len(signals) != 1:
        raise QuantificationError(f"the file holds {len(signals)} datasets; expected one EELS spectrum")
    signal = signals[0]
    spectrum, energy = summed_spectrum(signal, roi)       # validates axes and ROI
    scope = _microscope(signal, beam_energy_keV, convergence_mrad, collection_mrad)
    extra, aligned, t_map, kernel, fitted = {}, None, None, None, spectrum
    if lowloss is not None:
        from .eels_lowloss import low_loss_correction

        corr = low_loss_correction(signal, lowloss, roi)
        aligned, spectrum, extra, t_map = (corr.aligned, corr.single_scattering, corr.info,
                                           corr.t_map)
        # the model fit convolves its components with the low loss (no deconvolution
        # noise, no wrap-around at the end of the range); windows use the deconvolution
        fitted, kernel = (corr.core_sum, corr.kernel) if method == "model" else (spectrum, None)
    out = {"file": str(path), "roi": list(roi) if roi else None,
           "lowloss": str(lowloss) if lowloss else None}
    out.update(quantify_spectrum(fitted, energy, elements, source=source, method=method,
                                 low_loss=kernel, **scope))
    wl = white_line_rows(spectrum, energy, elements)
    for row in out["elements"]:
        row.update(wl.get(row["element"], {}))
        row.update(extra)
        if row["element"] in calibrations:
            from .eels_valence import valence_fields

            row.update(valence_fields(row, *calibrations[row["element"]]))
    out.update(extra)
    if out_dir is not None:
        from .eels_maps_output import write_maps

        data = aligned if aligned is not None else _signal_data(signal)
        low = None if lowloss is None else (corr.low_aligned, corr.low_axis)
        # white lines per pixel need plural scattering removed from each pixel (only
        # deconvolved when some element has white-line maps on this axis)
        wl_data = data
        if lowloss is not None and any(isinstance(white_line_plan(el, energy), tuple)
                                       for el in elements):
            wl_data = corr.single_scattering_maps(energy)
        out["maps"] = write_maps(out_dir, signal, data, energy, elements, scope=scope,
                                 source=source, method=method, t_over_lambda=t_map,
                                 summary=out, low_loss=low, white_line_data=wl_data,
                                 valence_calibrations=calibrations)
    return out


def format_table(result: dict) -> str:
    """Human-readable table for ``batteryscope eels``."""
    lines = [f"file: {result['file']}",
             f"E0 {result['beam_energy_keV']:g} keV, α {result['convergence_mrad']:g} mrad, "
             f"β {result['collection_mrad']:g} mrad; method: {result['method']} "
             f"({result['background_model']}); cross-sections: {result['cross_sections']}"]
    if result.get("lowloss"):
        lo, hi = result["energy_drift_eV"]
        lines.append(f"low-loss: {result['lowloss']}: t/λ {result['thickness_t_over_lambda']:.3f}"
                     f" ± {result['thickness_t_over_lambda_std']:.3f} (spread over the pixels), "
                     f"zero-loss drift {lo:+.2f} to {hi:+.2f} eV, corrected")
    lines.append(f"{'edge':<8}{'onset eV':>9}{'window eV':>14}{'counts':>22}{'σ barn':>10}"
                 f"{'at. %':>16}  σ source")
    for r in result["elements"]:
        win = "{:g}–{:g}".format(*r["integration_window_eV"])
        if r["failed"]:
            counts = "background fit failed"
        else:
            counts = f"{r['counts']:.4g} ± {r['counts_err']:.2g}"
        pct = ("—" if r["atomic_percent"] is None
               else f"{r['atomic_percent']:.2f} ± {r['atomic_percent_err']:.2f}")
        lines.append(f"{r['edge']:<8}{r['onset_eV']:>9g}{win:>14}{counts:>22}"
                     f"{r['sigma_barn']:>10.4g}{pct:>16}  {r.get('cross_section_source', '')}")
    for r in result["elements"]:
        if r.get("white_line_ratio") is not None:
            lines.append(f"{r['element']} L3/L2 white-line ratio {r['white_line_ratio']:.3f} ± "
                         f"{r['white_line_ratio_err']:.3f} (2:1 continuum step removed)")
        if r.get("valence") is not None:
            lines.append(f"{r['element']} valence {r['valence']:.2f} ± {r['valence_err']:.2f} "
                         f"(calibration ± {r['valence_calibration_err']:.2f}; "
                         f"{r['valence_citation']})")
        elif r.get("valence_note"):
            lines.append(f"{r['element']} valence: {r['valence_note']}")
    for r in result["elements"]:
        for overlap in r.get("overlaps", []):
            lines.append(f"warning: {r['edge']}: {overlap}; this result is not reliable")
        if r.get("warning"):
            lines.append(f"warning: {r['edge']}: {r['warning']}")
    if result.get("maps"):
        lines.append(f"maps: {len(result['maps'])} files in "
                     f"{Path(result['maps'][0]).parent}")
    return "\n".join(lines)
