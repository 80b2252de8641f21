"""What the main window shows first for a document, computed in a worker thread.

For lazy (dask) data only what is cheap is computed here: the first frame of a stack,
or, for a spectrum image, nothing yet — its navigator and summed spectrum fill in as
:mod:`~batteryscope.app.block_reading` reads the file, so the window never waits for a
full pass over a large file before showing it.
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
    pending: bool = False   # True while a lazy spectrum image's navigator is still being read


def _compute(array) -> np.ndarray:
    return np.asarray(array.compute() if hasattr(array, "compute") else array, dtype=np.float32)


def preview_of(document) -> Preview:
    """Reduced, displayable arrays for ``document`` (cheap for lazy data)."""
    axes = document.axes
    data = document.data
    lazy = hasattr(data, "compute")
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
        if len(nav) == 2 and lazy:
            placeholder = np.zeros((axes[nav[0]].size, axes[nav[1]].size), np.float32)  # filled as read
            return Preview(image=placeholder, image_axes=(axes[nav[0]], axes[nav[1]]),
                           image_title="total counts", spectrum_axis=spectrum_axis,
                           spectrum_title="mean spectrum", pending=True)
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
