"""Saving results and exporting images and spectra.

- ``.hspy`` / ``.zspy``: the full signal with calibrations, metadata and provenance;
  opens in HyperSpy/Jupyter unchanged.
- ``.tif``: an image (or image stack) with its spatial calibration (HyperSpy's TIFF writer).
- ``.png``: an 8-bit rendering of an image at given display levels.
- ``.msa``: one spectrum in EMSA/MSA format; ``.csv``: spectra or profiles as text with a
  calibrated first column.
All writes are atomic and never replace the document's source file.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .atomic_write import atomic_target, write_text_atomic
from .errors import FileSaveError
from .hyperspy_adapter import save_signal


def _refuse_source(path, document) -> None:
    """Never replace the user's raw data file."""
    src = getattr(document, "source_path", None)
    if src is not None and Path(path).exists() and Path(path).resolve() == Path(src).resolve():
        raise FileSaveError(path, "refusing to overwrite the original data file")


def save_result(signal, path, *, document=None, overwrite: bool = False) -> Path:
    """Save a signal (typically a result) as .hspy/.zspy/.emd, with provenance metadata."""
    path = Path(path)
    if path.suffix.lower() not in (".hspy", ".zspy", ".emd", ".hdf5"):
        raise FileSaveError(path, "results are saved as .hspy or .zspy (HyperSpy formats)")
    _refuse_source(path, document)
    if document is not None:
        signal.metadata.set_item("BatteryScope.provenance", document.provenance_json())
    return save_signal(signal, path, overwrite=overwrite)


def export_tiff(signal, path, *, document=None, overwrite: bool = False) -> Path:
    """Export an image or image stack as TIFF with its spatial calibration."""
    if signal.axes_manager.signal_dimension != 2:
        raise FileSaveError(path, "TIFF export needs an image (2-D signal)")
    _refuse_source(path, document)
    return save_signal(signal, path, overwrite=overwrite)


def image_to_8bit(image, *, levels=None, percentiles=(0.5, 99.5)) -> np.ndarray:
    """Map an image to uint8 with display ``levels`` (low, high) or percentile limits."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    finite = img[np.isfinite(img)]
    if levels is None:
        levels = np.percentile(finite, percentiles) if finite.size else (0.0, 1.0)
    lo, hi = float(levels[0]), float(levels[1])
    if hi <= lo:
        hi = lo + 1.0
    scaled = np.clip((np.nan_to_num(img, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    return np.round(scaled * 255).astype(np.uint8)


def export_png(image, path, *, levels=None, overwrite: bool = False) -> Path:
    """Write a grey-scale PNG of a 2-D array at the given display levels."""
    import imageio.v3 as iio

    path = Path(path)
    rendered = image_to_8bit(image, levels=levels)
    with atomic_target(path, overwrite=overwrite) as tmp:
        iio.imwrite(tmp, rendered, extension=".png")
    return path


def export_msa(signal, path, *, overwrite: bool = False) -> Path:
    """Export one spectrum (1-D signal, no navigation) as EMSA/MSA."""
    if signal.axes_manager.signal_dimension != 1 or signal.axes_manager.navigation_dimension:
        raise FileSaveError(path, "MSA holds one spectrum: select a single spectrum or a ROI sum first")
    return save_signal(signal, path, overwrite=overwrite)


def spectra_to_csv(x, columns: dict, *, x_name: str, x_units: str, header: dict | None = None) -> str:
    """CSV text: ``#`` comment lines from ``header``, then x and one column per trace."""
    x = np.asarray(x)
    buf = io.StringIO()
    for key, value in (header or {}).items():
        buf.write(f"# {key}: {json.dumps(value) if not isinstance(value, str) else value}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([f"{x_name} ({x_units})" if x_units else x_name] + list(columns))
    arrays = [np.asarray(v) for v in columns.values()]
    for arr in arrays:
        if arr.shape != x.shape:
            raise ValueError(f"column of shape {arr.shape} does not match x of shape {x.shape}")
    for i in range(x.size):
        writer.writerow([repr(float(x[i]))] + [repr(float(a[i])) for a in arrays])
    return buf.getvalue()


def export_csv(x, columns: dict, path, *, x_name: str, x_units: str = "",
               header: dict | None = None, overwrite: bool = False) -> Path:
    """Write spectra or profiles as CSV (first column calibrated), atomically."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileSaveError(path, "file exists (choose another name or allow overwrite)")
    write_text_atomic(path, spectra_to_csv(x, columns, x_name=x_name, x_units=x_units, header=header))
    return path


def export_spectrum_csv(signal, path, *, overwrite: bool = False) -> Path:
    """Export a single spectrum signal as CSV with a calibrated energy column."""
    if signal.axes_manager.signal_dimension != 1 or signal.axes_manager.navigation_dimension:
        raise FileSaveError(path, "CSV export of a spectrum needs a single spectrum")
    ax = signal.axes_manager.signal_axes[0]
    title = signal.metadata.get_item("General.title", "") or "intensity"
    return export_csv(ax.axis, {title: np.asarray(signal.data)}, path, x_name=ax.name,
                      x_units=ax.units if isinstance(ax.units, str) else "", overwrite=overwrite,
                      header={"source": title})
