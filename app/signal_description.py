"""Plain descriptions of a HyperSpy signal: axes, kind and acquisition metadata.

This is what ``batteryscope info`` prints and what the rest of the app reads instead of
poking into HyperSpy's axes manager and metadata tree.
"""
from __future__ import annotations

import math

from batteryscope.analysis.calibration import AxisCalibration

#: Our acquisition-metadata vocabulary → HyperSpy metadata paths (first found wins).
METADATA_PATHS: dict[str, tuple[str, ...]] = {
    "beam_energy_keV": ("Acquisition_instrument.TEM.beam_energy", "Acquisition_instrument.SEM.beam_energy"),
    "convergence_angle_mrad": ("Acquisition_instrument.TEM.convergence_angle",),
    "collection_angle_mrad": ("Acquisition_instrument.TEM.Detector.EELS.collection_angle",),
    "collection_inner_angle_mrad": ("Acquisition_instrument.TEM.Detector.STEM.inner_angle",),
    "collection_outer_angle_mrad": ("Acquisition_instrument.TEM.Detector.STEM.outer_angle",),
    "dwell_time_s": ("Acquisition_instrument.TEM.dwell_time",
                     "Acquisition_instrument.TEM.Detector.EELS.dwell_time"),
    "exposure_time_s": ("Acquisition_instrument.TEM.Detector.EELS.exposure",
                        "Acquisition_instrument.TEM.Camera.exposure",
                        "Acquisition_instrument.TEM.exposure"),
    "frame_time_s": ("Acquisition_instrument.TEM.frame_time",),
    "beam_current_nA": ("Acquisition_instrument.TEM.beam_current",),
    "dose_e_per_A2": ("Acquisition_instrument.TEM.dose",),
    "dose_e_per_pixel": ("Acquisition_instrument.TEM.dose_per_pixel",),
    "magnification": ("Acquisition_instrument.TEM.magnification",),
    "camera_length_mm": ("Acquisition_instrument.TEM.camera_length",),
    "instrument": ("Acquisition_instrument.TEM.microscope", "Acquisition_instrument.SEM.microscope"),
    "detector": ("Acquisition_instrument.TEM.Detector.name",
                 "Acquisition_instrument.TEM.Detector.STEM.name",
                 "Acquisition_instrument.TEM.Detector.EELS.spectrometer"),
    "acquisition_mode": ("Acquisition_instrument.TEM.acquisition_mode",),
    "date": ("General.date",),
    "time": ("General.time",),
}


def axes_of(signal) -> list[AxisCalibration]:
    """Calibrations of every axis of ``signal``, in numpy array order."""
    out = []
    for ax in signal.axes_manager._axes:  # array order; public lists are reversed per space
        scale = float(getattr(ax, "scale", 1.0) or 1.0)
        if not math.isfinite(scale) or scale == 0:
            scale = 1.0
        offset = float(getattr(ax, "offset", 0.0) or 0.0)
        if not math.isfinite(offset):
            offset = 0.0
        units = ax.units if isinstance(ax.units, str) else ""
        name = ax.name if isinstance(ax.name, str) and ax.name else f"axis {ax.index_in_array}"
        out.append(AxisCalibration(name=name, units=units, scale=scale, offset=offset,
                                   size=int(ax.size), navigate=bool(ax.navigate)))
    return out


def kind_of(signal) -> str:
    """What a microscopist would call this dataset: "image", "EELS spectrum image" …"""
    nav = signal.axes_manager.navigation_dimension
    sig = signal.axes_manager.signal_dimension
    stype = signal.metadata.get_item("Signal.signal_type", "") or ""
    prefix = "EELS " if stype.upper() == "EELS" else ("EDS " if stype.upper().startswith("EDS") else "")
    if sig == 2:
        return {0: "image", 1: "image stack"}.get(nav, "4D-STEM dataset" if nav == 2 else f"{nav}-D image series")
    if sig == 1:
        return prefix + {0: "spectrum", 1: "line scan", 2: "spectrum image"}.get(nav, f"{nav}-D spectrum series")
    if sig == 0:
        return "table of values"
    return f"{sig}-D signal"


def _plain(value):
    """Metadata value as a JSON-friendly scalar/string."""
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def acquisition_of(signal) -> dict:
    """Key acquisition metadata present in the signal, in our vocabulary, plus pixel size."""
    out = {}
    for key, paths in METADATA_PATHS.items():
        for path in paths:
            value = signal.metadata.get_item(path, None)
            if value is not None and value != "":
                out[key] = _plain(value)
                break
    spatial = [a for a in axes_of(signal) if a.units in ("nm", "Å", "A", "µm", "um", "pm", "m")]
    if spatial:
        out["pixel_size"] = {"value": spatial[-1].scale, "units": spatial[-1].units}
    return out


def describe(signal, path=None) -> dict:
    """Everything ``batteryscope info`` reports about one signal, JSON-serialisable."""
    data = signal.data
    desc = {
        "file": str(path) if path is not None else None,
        "title": signal.metadata.get_item("General.title", "") or "",
        "signal_type": kind_of(signal),
        "shape": [int(n) for n in data.shape],
        "dtype": str(data.dtype),
        "lazy": bool(getattr(signal, "_lazy", False)),
        "axes": [a.to_dict() for a in axes_of(signal)],
        "metadata": acquisition_of(signal),
    }
    return desc
