"""What the main window shows first for a document, computed in a worker thread.

For lazy (dask) data only reduced arrays are computed (a navigator image, a mean
spectrum), never the whole dataset in memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration


@dataclass(frozen=True)
class Preview:
    """Arrays the viewer shows for a document: an image and/or a spectrum, calibrated."""

    image: np.ndarray | None = None
    image_axes: tuple[AxisCalibration, AxisCalibration] | None = None
    image_title: str = ""
    spectrum: np.ndarray | None = None
    spectrum_axis: AxisCalibration | None = None
    spectrum_title: str = ""


def _compute(array) -> np.ndarray:
    return np.asarray(array.compute() if hasattr(array, "compute") else array, dtype=np.float32)


def preview_of(document) -> Preview:
    """Reduced, displayable arrays for ``document`` (may take seconds on large lazy data)."""
    axes = document.axes
    data = document.signal.data
    nav = [i for i, a in enumerate(axes) if a.navigate]
    sig = [i for i, a in enumerate(axes) if not a.navigate]
    if len(sig) == 2:
        index = tuple(0 if i in nav else slice(None) for i in range(len(axes)))
        title = "frame 1" if nav else ""
        return Preview(image=_compute(data[index]), image_axes=(axes[sig[0]], axes[sig[1]]),
                       image_title=title)
    if len(sig) == 1:
        spectrum_axis = axes[sig[0]]
        if not nav:
            return Preview(spectrum=_compute(data), spectrum_axis=spectrum_axis, spectrum_title="spectrum")
        total = _compute(data.sum(axis=sig[0]))
        mean_spectrum = _compute(data.mean(axis=tuple(nav)))
        image_axes = (axes[nav[0]], axes[nav[1]]) if len(nav) >= 2 else None
        if len(nav) == 1:  # line scan: show position × energy
            total = _compute(data)
            image_axes = (axes[nav[0]], spectrum_axis)
        elif len(nav) > 2:
            total = total.reshape(-1, total.shape[-1])
            image_axes = None
        return Preview(image=total, image_axes=image_axes, image_title="total counts",
                       spectrum=mean_spectrum, spectrum_axis=spectrum_axis,
                       spectrum_title="mean spectrum")
    return Preview()
