"""``batteryscope eels``: elemental quantification of one (summed) EELS spectrum.

Steps: sum the region of interest of a spectrum (image) to one spectrum; for each element
take its usual edge (:func:`~batteryscope.analysis.eels.edges.quantification_edge`) and the
default windows clipped to the spectrum; fit a power-law background (weighted LSQ) and
integrate the edge; integrate exspy's hydrogenic cross-section over the same channels;
atomic % from :func:`~batteryscope.analysis.eels.quantification.atomic_percent`.

Uncertainties are statistical only (Poisson + background extrapolation); hydrogenic
cross-sections have no white lines and are typically good to 10–20 % for L edges.
"""
from __future__ import annotations

import math

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels import edges as eels_edges
from batteryscope.analysis.eels.background import fit_background, integrate_edge
from batteryscope.analysis.eels.quantification import atomic_percent

from .errors import UserFacingError

CROSS_SECTIONS = "hydrogenic (exspy)"


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


def quantify_spectrum(spectrum, energy: AxisCalibration, elements, *, beam_energy_keV: float,
                      convergence_mrad: float, collection_mrad: float) -> dict:
    """Quantify one spectrum: per-element results plus the microscope parameters used."""
    from .eels_cross_sections import hydrogenic_cross_sections

    windows, names = {}, {}
    for el in elements:
        try:
            shell = eels_edges.quantification_edge(el)
            windows[el] = eels_edges.default_windows(eels_edges.edge(el, shell),
                                                     spectrum_lo=energy.offset,
                                                     spectrum_hi=energy.high)
        except ValueError as exc:
            raise QuantificationError(f"{el}: {exc}") from None
        names[el] = f"{el}_{shell}"
    try:
        xs = hydrogenic_cross_sections(names.values(), energy.values(),
                                       beam_energy_keV=beam_energy_keV,
                                       convergence_mrad=convergence_mrad,
                                       collection_mrad=collection_mrad)
    except ValueError as exc:
        raise QuantificationError(f"cross-sections: {exc}") from None
    signals, variances, sigmas = {}, {}, {}
    for el, win in windows.items():
        lo, hi = win.integration
        try:
            fit = fit_background(spectrum, energy, windows=win.background, model="power_law",
                                 method="lsq")
            signals[el], variances[el] = integrate_edge(spectrum, energy, fit, lo=lo, hi=hi)
        except ValueError as exc:
            raise QuantificationError(f"{el}: {exc}") from None
        sigmas[el] = float(np.sum(xs[names[el]][_channels(energy, lo, hi)]) * energy.scale)
    pct, pct_err = atomic_percent(signals, variances, sigmas)
    overlaps = window_overlaps(windows)
    results = []
    for el, win in windows.items():
        failed = not (np.isfinite(signals[el]) and np.isfinite(variances[el]))
        row = {"element": el, "edge": names[el], "onset_eV": win.edge.onset_eV,
               "background_window_eV": list(win.background),
               "integration_window_eV": list(win.integration), "windows_clipped": win.clipped,
               "sigma_barn": sigmas[el], "failed": failed, "overlaps": overlaps[el]}
        values = {"counts": signals[el], "counts_err": np.sqrt(variances[el]),
                  "atomic_percent": pct[el], "atomic_percent_err": pct_err[el]}
        row.update({k: (float(v) if np.isfinite(v) else None) for k, v in values.items()})
        results.append(row)
    return {"cross_sections": CROSS_SECTIONS, "background_model": "power_law (lsq)",
            "beam_energy_keV": beam_energy_keV, "convergence_mrad": convergence_mrad,
            "collection_mrad": collection_mrad, "elements": results}


def quantify_file(path, elements, *, roi=None, beam_energy_keV=None, convergence_mrad=None,
                  collection_mrad=None) -> dict:
    """Load ``path``, sum the ROI and quantify ``elements``; JSON-ready dict."""
    from .hyperspy_adapter import load_signals

    signals = load_signals(path)
    if len(signals) != 1:
        raise QuantificationError(f"the file holds {len(signals)} datasets; expected one EELS spectrum")
    signal = signals[0]
    spectrum, energy = summed_spectrum(signal, roi)
    scope = _microscope(signal, beam_energy_keV, convergence_mrad, collection_mrad)
    out = {"file": str(path), "roi": list(roi) if roi else None}
    out.update(quantify_spectrum(spectrum, energy, elements, **scope))
    return out


def format_table(result: dict) -> str:
    """Human-readable table for ``batteryscope eels``."""
    lines = [f"file: {result['file']}",
             f"E0 {result['beam_energy_keV']:g} keV, α {result['convergence_mrad']:g} mrad, "
             f"β {result['collection_mrad']:g} mrad; cross-sections: {result['cross_sections']}",
             f"{'edge':<8}{'onset eV':>9}{'window eV':>14}{'counts':>22}{'σ barn':>10}"
             f"{'at. %':>16}"]
    for r in result["elements"]:
        win = "{:g}–{:g}".format(*r["integration_window_eV"])
        if r["failed"]:
            counts = "background fit failed"
        else:
            counts = f"{r['counts']:.4g} ± {r['counts_err']:.2g}"
        pct = ("—" if r["atomic_percent"] is None
               else f"{r['atomic_percent']:.2f} ± {r['atomic_percent_err']:.2f}")
        lines.append(f"{r['edge']:<8}{r['onset_eV']:>9g}{win:>14}{counts:>22}"
                     f"{r['sigma_barn']:>10.4g}{pct:>16}")
    for r in result["elements"]:
        for overlap in r.get("overlaps", []):
            lines.append(f"warning: {r['edge']}: {overlap}; this result is not reliable")
    return "\n".join(lines)
