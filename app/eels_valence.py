"""Valence from L3/L2 white-line ratios: calibration files, and applying them.

A white-line ratio only becomes a valence through reference compounds measured *the same
way* (same windows, same continuum step model, plural scattering removed alike): published
curves differ by tens of percent between step models (Riedl et al., Ultramicroscopy 106
(2006) 284; Pearson et al., Phys. Rev. B 47 (1993) 8471), so BatteryScope ships none and
applies the lab's own, built from standards with ``batteryscope eels-calibrate``.

Calibration file (JSON), one entry per element::

    {"Mn": {"valences": [2, 3, 4], "ratios": [3.6, 2.5, 2.0], "ratio_stds": [0.05, 0.04, 0.03],
            "method": "batteryscope eels white lines, L3 [..], L2 [..], continuum [..] eV",
            "citation": "MnO, Mn2O3, MnO2 powders, session 2026-11-02, 300 kV",
            "windows_eV": {"l3_window": [..], "l2_window": [..], "continuum_window": [..]}}}

``windows_eV`` (written by ``eels-calibrate``) lets a quantification check that the unknown
was measured with the standards' windows; a mismatch is reported, not silently used.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from batteryscope.analysis.eels.white_lines import (FLAG_AT_CALIBRATION_LIMIT,
                                                    FLAG_OUT_OF_CALIBRATION, ValenceCalibration,
                                                    valence_from_ratio)

from .errors import UserFacingError


class CalibrationError(UserFacingError):
    """A valence calibration file or request is unusable (one-line message)."""


def load_calibrations(path) -> dict:
    """{element: (ValenceCalibration, windows dict or None)} from a calibration JSON file."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read the calibration file ({exc.strerror})") from None
    except ValueError as exc:
        raise CalibrationError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or not raw:
        raise CalibrationError(f"{path}: expected an object with one entry per element")
    out = {}
    for element, entry in raw.items():
        try:
            cal = ValenceCalibration(element, tuple(entry["valences"]), tuple(entry["ratios"]),
                                     tuple(entry.get("ratio_stds", [0.0] * len(entry["ratios"]))),
                                     str(entry["method"]), str(entry["citation"]))
        except KeyError as exc:
            raise CalibrationError(f"{path}: {element}: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"{path}: {element}: {exc}") from None
        out[element] = (cal, entry.get("windows_eV"))
    return out


def valence_fields(row: dict, calibration, windows) -> dict:
    """JSON fields for one element's quantification row: valence ± errors, or a note."""
    ratio, err = row.get("white_line_ratio"), row.get("white_line_ratio_err")
    fields = {"valence_citation": calibration.citation}
    if ratio is None:
        return {**fields, "valence": None, "valence_note": "no white-line ratio"}
    used = row.get("white_line_windows_eV")
    if windows is not None and used is not None and not _same_windows(used, windows):
        return {**fields, "valence": None,
                "valence_note": f"white-line windows {used} differ from the calibration's "
                                f"{windows}: re-measure the standards or the unknown"}
    v = valence_from_ratio(np.array([ratio]), np.array([err or 0.0]), calibration)
    if v.flags[0] & FLAG_OUT_OF_CALIBRATION:
        lo, hi = calibration.ratio_range
        return {**fields, "valence": None,
                "valence_note": f"L3/L2 {ratio:.2f} outside the calibrated range "
                                f"{lo:.2f}–{hi:.2f} (not extrapolated)"}
    out = {**fields, "valence": float(v.valence[0]), "valence_err": float(v.valence_std[0]),
           "valence_calibration_err": float(v.calibration_std[0])}
    if v.flags[0] & FLAG_AT_CALIBRATION_LIMIT:
        lo, hi = calibration.ratio_range
        out["valence_note"] = (f"L3/L2 {ratio:.3f} just outside the calibrated range "
                               f"{lo:.3f}–{hi:.3f}, within 2σ: the end member's valence")
    return out


def _same_windows(a: dict, b: dict) -> bool:
    try:
        return all(np.allclose(a[k], b[k], atol=1e-6) for k in b) and set(a) == set(b)
    except (KeyError, TypeError, ValueError):
        return False


def calibration_entry(element: str, standards: list[dict], citation: str) -> dict:
    """Calibration JSON entry from the quantification rows of the standards.

    ``standards``: [{"file", "valence", "row"}], ``row`` the element's row of
    :func:`.eels_quantify.quantify_file` (with its white-line fields).
    """
    if len(standards) < 2:
        raise CalibrationError("a calibration needs at least two standards of different valence")
    ratios, stds, windows = [], [], None
    for s in standards:
        row = s["row"]
        if row.get("white_line_ratio") is None:
            note = row.get("white_line_note", "no white-line ratio")
            raise CalibrationError(f"{s['file']}: {element}: {note}")
        w = row.get("white_line_windows_eV")
        if windows is not None and not _same_windows(w, windows):
            raise CalibrationError(f"{s['file']}: white-line windows {w} differ from the "
                                   f"other standards' {windows}")
        windows = w
        ratios.append(float(row["white_line_ratio"]))
        stds.append(float(row.get("white_line_ratio_err") or 0.0))
    method = ("batteryscope eels white lines (Pearson 2:1 step, plural scattering removed "
              f"when a low loss was given), windows {windows} eV")
    entry = {"valences": [float(s["valence"]) for s in standards], "ratios": ratios,
             "ratio_stds": stds, "method": method, "citation": citation,
             "windows_eV": windows,
             "standards": [{"file": str(s["file"]), "valence": float(s["valence"]),
                            "lowloss": s.get("lowloss")} for s in standards]}
    try:   # the same checks a loaded file gets: monotonic, distinct valences
        ValenceCalibration(element, tuple(entry["valences"]), tuple(ratios), tuple(stds),
                           method, citation)
    except ValueError as exc:
        raise CalibrationError(f"{element}: {exc}") from None
    return entry
