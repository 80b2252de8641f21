"""Value types shared by the synthetic-specimen generators."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..calibration import AxisCalibration

#: Keys allowed in :attr:`SyntheticSignal.acquisition` (the app maps them onto
#: HyperSpy's metadata tree; ``batteryscope info`` reports them under the same names).
ACQUISITION_KEYS = frozenset({
    "beam_energy_keV", "convergence_angle_mrad", "collection_angle_mrad",
    "collection_inner_angle_mrad", "collection_outer_angle_mrad",
    "dwell_time_s", "exposure_time_s", "frame_time_s", "beam_current_nA",
    "dose_e_per_A2", "dose_e_per_pixel", "magnification", "camera_length_mm",
    "instrument", "detector", "acquisition_mode", "date", "time",
})


@dataclass(frozen=True)
class SyntheticSignal:
    """One synthetic dataset: an array with calibrated axes and acquisition metadata.

    Parameters
    ----------
    name : str
        Short file-safe name, e.g. ``"lfp_antisite_haadf"``.
    title : str
        Human title, e.g. ``"LiFePO4 [010] HAADF"``.
    data : ndarray
        Data in numpy order; ``axes[i]`` calibrates ``data.shape[i]``.
    axes : tuple of AxisCalibration
        One per array dimension, in array order.
    signal_type : str
        ``"image"``, ``"image_stack"``, ``"EELS"``, ``"spectrum"`` …
    quantity : str
        What the values are, with units, e.g. ``"Intensity (counts)"``.
    acquisition : dict
        Acquisition parameters, keys from :data:`ACQUISITION_KEYS`.
    """

    name: str
    title: str
    data: np.ndarray
    axes: tuple[AxisCalibration, ...]
    signal_type: str
    quantity: str = "Intensity (counts)"
    acquisition: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.axes) != self.data.ndim:
            raise ValueError(f"{self.name}: {len(self.axes)} axes for a {self.data.ndim}-D array")
        for ax, n in zip(self.axes, self.data.shape):
            if ax.size != n:
                raise ValueError(f"{self.name}: axis {ax.name!r} has size {ax.size}, data has {n}")
        unknown = set(self.acquisition) - ACQUISITION_KEYS
        if unknown:
            raise ValueError(f"{self.name}: unknown acquisition keys {sorted(unknown)}")


@dataclass(frozen=True)
class Specimen:
    """A synthetic specimen: one or more signals plus the ground truth they were made from.

    ``truth`` is JSON-serialisable (lists, floats, ints, strings, bools, dicts) and names
    its units; ``physics`` is a plain-language statement of the forward model.
    ``tables`` holds tabular side data recorded with the signals (e.g. the
    electrochemistry log of an in-situ movie): ``{table_name: {column_name: 1-D array}}``,
    column names carry their units, e.g. ``"time_s"``, ``"current_A"``.
    """

    name: str
    title: str
    signals: tuple[SyntheticSignal, ...]
    truth: dict
    physics: str
    seed: int = 0
    tables: dict = field(default_factory=dict)
