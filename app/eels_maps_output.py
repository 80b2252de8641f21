"""``batteryscope eels --out DIR``: quantify every pixel and write the maps as ``.hspy``.

One file per element and quantity, on the scan's calibrated axes, so any of them opens as
an image in the viewer (or HyperSpy):

``<El>_atomic_percent``, ``<El>_atomic_percent_err`` (1σ, Poisson + background
extrapolation), ``<El>_counts`` (background-subtracted edge counts; the model's edge area
with ``--method model``), ``<El>_background_failed`` (1 where the fit failed: NaN in the
maps above, never a made-up number), for Mn/Fe/Co/Ni ``<El>_white_line_ratio`` and
``_err`` (on each pixel's Fourier-ratio single scattering with ``--lowloss``) and, with
``--valence-calibration``, ``<El>_valence`` and ``_err``; ``t_over_lambda`` with
``--lowloss``; and
``quantification.json``, the same summary ``--json`` prints. Files are written atomically;
existing files are never overwritten.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.maps import EdgeWindows, quantify_maps
from batteryscope.analysis.eels.quantification import atomic_percent

from .errors import UserFacingError


def _image_axes(signal) -> list[AxisCalibration]:
    from .signal_description import axes_of

    nav = [a for a in axes_of(signal) if a.navigate]
    return [replace(a, navigate=False) for a in nav]


def _window_maps(data, energy, elements, scope, source):
    from .eels_quantify import _channels, _cross_sections, _edge_plan

    windows, names = _edge_plan(energy, elements)
    xs, _ = _cross_sections(names, energy, scope, source)
    edge_windows = []
    for el, win in windows.items():
        sigma = float(np.sum(xs[names[el]][_channels(energy, *win.integration)]) * energy.scale)
        edge_windows.append(EdgeWindows(el, win.background, win.integration, sigma))
    maps = quantify_maps(data, energy, edge_windows)
    return {el: {"atomic_percent": maps.atomic_percent[el],
                 "atomic_percent_err": maps.atomic_percent_err[el],
                 "counts": maps.signals[el].counts,
                 "background_failed": maps.background_failed(el).astype(np.uint8)}
            for el in windows}


#: Pixels whose t/λ differ by less than this share one low-loss kernel in the model maps.
#: On the demo SI 0.1 and 0.05 give the same ratios to 0.2 %; 0.1 halves the groups
#: (128×128×1024 with the low loss: 4.5 s instead of 6.8 s, each group builds its tables).
THICKNESS_GROUP_STEP = 0.1


def _model_maps(data, energy, elements, scope, source, low=None):
    """Model fit per pixel. ``low`` = (aligned low-loss SI, its axis, t/λ map): plural
    scattering is then convolved into the model. The kernel must be shared by the pixels of
    one fit, so pixels are grouped by t/λ (steps of ``THICKNESS_GROUP_STEP``) and each group
    is fitted with the mean low loss of its pixels: the low loss changes with thickness far
    more than with anything else across one scan."""
    from .eels_quantify import _channels, _cross_sections, _edge_plan, _model_amplitudes

    windows, names = _edge_plan(energy, elements)
    xs, _ = _cross_sections(names, energy, scope, source)
    nav = data.shape[:-1]
    m = len(windows)
    amp = np.full(nav + (m,), np.nan)
    amp_err = np.full(nav + (m,), np.nan)
    failed = np.ones(nav, dtype=bool)
    for index, kernel in _thickness_groups(nav, energy, low):
        fit = _model_amplitudes(data[index], energy, windows, names, xs, kernel)
        amp[index], amp_err[index], failed[index] = fit.amplitudes, fit.amplitude_err, fit.failed
    sig, var, sigmas = {}, {}, {}
    for j, (el, win) in enumerate(windows.items()):
        sigmas[el] = float(np.sum(xs[names[el]][_channels(energy, *win.integration)])
                           * energy.scale)
        sig[el] = np.where(failed, np.nan, amp[..., j] * sigmas[el])
        var[el] = np.where(failed, np.nan, (amp_err[..., j] * sigmas[el]) ** 2)
    pct, err = atomic_percent(sig, var, sigmas)
    return {el: {"atomic_percent": pct[el], "atomic_percent_err": err[el], "counts": sig[el],
                 "background_failed": failed.astype(np.uint8)} for el in windows}


def _thickness_groups(nav, energy, low):
    """(pixel index, low-loss kernel or None) for every group of pixels of similar t/λ."""
    from batteryscope.analysis.eels.plural_scattering import low_loss_kernel

    if low is None:
        yield (Ellipsis,), None
        return
    low_data, low_axis, t_map = low
    t_map = np.asarray(t_map, dtype=np.float64)
    bins = np.where(np.isfinite(t_map), np.floor(t_map / THICKNESS_GROUP_STEP), -1)
    for b in np.unique(bins):
        index = np.nonzero(bins == b)
        if b < 0:                  # no usable low loss: fitted without plural scattering
            yield index, None
            continue
        group = np.asarray(low_data[index], dtype=np.float64)
        summed = np.nansum(group, axis=0)          # NaN (shifted off the axis) = missing
        try:
            kernel = low_loss_kernel(summed, low_axis, energy.scale)
        except ValueError:
            kernel = None
        yield index, kernel


def _white_line_maps(data, energy, elements, calibrations) -> dict:
    """Per pixel L3/L2 (2:1 step removed) ± error for each 3d metal, and the valence where a
    calibration is given (NaN outside its range: never extrapolated)."""
    from batteryscope.analysis.eels.white_lines import valence_from_ratio, white_line_ratio

    from .eels_quantify import fit_background, white_line_plan

    out = {}
    for el in elements:
        plan = white_line_plan(el, energy)
        if plan is None or isinstance(plan, str):
            continue
        win, bg = plan
        wl = white_line_ratio(data, energy, background=fit_background(data, energy, windows=bg),
                              **win)
        maps = {"white_line_ratio": (wl.ratio, f"{el} L3/L2"),
                "white_line_ratio_err": (wl.ratio_std, f"{el} L3/L2 1σ")}
        if el in calibrations:
            cal, _ = calibrations[el]
            v = valence_from_ratio(wl.ratio, wl.ratio_std, cal, flags=wl.flags)
            maps["valence"] = (v.valence, f"{el} valence")
            maps["valence_err"] = (v.valence_std, f"{el} valence 1σ")
        out[el] = maps
    return out


def write_maps(out_dir, signal, data, energy: AxisCalibration, elements, *, scope: dict,
               source: str, method: str, t_over_lambda=None, summary: dict,
               low_loss=None, white_line_data=None, valence_calibrations=None) -> list[str]:
    """Quantify every pixel of ``data`` (the SI, drift-aligned if a low-loss was given) and
    write the maps to ``out_dir``; returns the written paths. ``low_loss`` = (aligned
    low-loss SI, its energy axis): the model fit then convolves plural scattering in.
    ``white_line_data``: the spectra the L3/L2 maps are measured on (default ``data``; the
    per-pixel single scattering when a low loss was given); ``valence_calibrations``: as
    :func:`.eels_valence.load_calibrations` returns, for valence maps."""
    from .hyperspy_adapter import save_signal, signal_from_array

    if np.ndim(data) < 2:
        raise UserFacingError("--out writes maps, which needs a spectrum image or a line "
                              "scan; this file holds one spectrum (use --json)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    data = np.asarray(data)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32)
    if method == "model":
        low = None if low_loss is None else (*low_loss, t_over_lambda)
        maps = _model_maps(data, energy, elements, scope, source, low)
    else:
        maps = _window_maps(data, energy, elements, scope, source)
    axes = _image_axes(signal)
    written = []

    def save(name, array, quantity):
        s = signal_from_array(np.ascontiguousarray(array), axes, title=name, quantity=quantity)
        path = save_signal(s, out_dir / f"{name}.hspy")
        written.append(str(path))

    for el, quantities in maps.items():
        save(f"{el}_atomic_percent", quantities["atomic_percent"].astype(np.float32),
             f"{el} (at. %)")
        save(f"{el}_atomic_percent_err", quantities["atomic_percent_err"].astype(np.float32),
             f"{el} 1σ (at. %)")
        save(f"{el}_counts", quantities["counts"].astype(np.float32), f"{el} edge counts")
        save(f"{el}_background_failed", quantities["background_failed"],
             f"{el} background fit failed (1)")
    wl_data = data if white_line_data is None else np.asarray(white_line_data)
    for el, quantities in _white_line_maps(wl_data, energy, elements,
                                           valence_calibrations or {}).items():
        for name, (array, quantity) in quantities.items():
            save(f"{el}_{name}", np.asarray(array, dtype=np.float32), quantity)
    if t_over_lambda is not None:
        save("t_over_lambda", np.asarray(t_over_lambda, dtype=np.float32), "t/λ")
    from .atomic_write import write_text_atomic

    report = dict(summary, maps=written)
    target = out_dir / "quantification.json"
    if target.exists():
        raise UserFacingError(f"{target} exists; choose an empty folder for --out")
    write_text_atomic(target, json.dumps(report, indent=1))
    written.append(str(target))
    return written
