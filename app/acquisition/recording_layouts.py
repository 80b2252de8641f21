"""How a movie and a spectrum image are laid out as HyperSpy signals in a recording."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .engine import PER_FRAME_FIELDS
from .zspy_store import Axis, DatasetSpec, ZspyRecording


def movie_recording(path, frame_shape, dtype, *, frame_interval_s: float,
                    pixel_size_nm: float | None = None, expected_frames: int = 1024,
                    chunk_frames: int = 16, metadata: Mapping[str, Any] | None = None,
                    fsync: bool = False) -> ZspyRecording:
    """A movie: navigation axis ``time`` (nominal frame interval), signal axes y, x.

    The exact per-frame times are in ``metadata.Acquisition.Frames.timestamp_s``.
    """
    units, scale = ("nm", float(pixel_size_nm)) if pixel_size_nm else ("", 1.0)
    spec = DatasetSpec("frame", tuple(frame_shape), np.dtype(dtype),
                       [Axis("time", "s", float(frame_interval_s), 0.0, navigate=True),
                        Axis("y", units, scale), Axis("x", units, scale)],
                       title="movie")
    return ZspyRecording(path, [spec], per_frame=PER_FRAME_FIELDS, capacity=expected_frames,
                         chunk_frames=chunk_frames, metadata=metadata, fsync=fsync)


def spectrum_image_recording(path, si_settings, *, pixel_size_nm: float | None = None,
                             chunk_rows: int = 4, metadata: Mapping[str, Any] | None = None,
                             fsync: bool = False) -> ZspyRecording:
    """An EELS spectrum image (y, x | energy loss) and its HAADF image (y | x), row by row.

    ``hyperspy.api.load`` returns both signals: [EELS, HAADF].
    """
    rows, cols = si_settings.shape
    units, scale = ("nm", float(pixel_size_nm)) if pixel_size_nm else ("", 1.0)
    eels = DatasetSpec("spectra", (cols, si_settings.channels), np.float32,
                       [Axis("y", units, scale, navigate=True), Axis("x", units, scale, navigate=True),
                        Axis("Energy loss", "eV", si_settings.dispersion_eV, si_settings.offset_eV)],
                       signal_type="EELS", title="EELS spectrum image")
    haadf = DatasetSpec("haadf", (cols,), np.float32,
                        [Axis("y", units, scale), Axis("x", units, scale)], title="HAADF")
    return ZspyRecording(path, [eels, haadf], per_frame=PER_FRAME_FIELDS, capacity=rows,
                         chunk_frames=chunk_rows, metadata=metadata, fsync=fsync)
