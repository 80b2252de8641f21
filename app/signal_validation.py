"""Sanity checks on a freshly loaded signal, so a corrupt file fails at open, clearly.

A reader may accept a damaged header and hand back a signal whose shape is nonsense
(zero-sized, or petabytes) or whose data cannot actually be read. These checks catch
that before anything is displayed or computed.
"""
from __future__ import annotations

import math

from .errors import FileLoadError

#: A dataset may not declare more than this many times its file size in bytes
#: (HDF5/Zarr compress, so some headroom is needed; corrupt headers declare far more).
MAX_DECLARED_TO_FILE_RATIO = 2000.0
#: Absolute ceiling on the declared size of one dataset.
MAX_DECLARED_BYTES = 1 << 44  # 16 TiB


def validate_loaded(signal, path) -> None:
    """Raise :class:`FileLoadError` if ``signal`` cannot be a real dataset from ``path``."""
    data = signal.data
    shape = tuple(int(n) for n in data.shape)
    if len(shape) == 0 or any(n <= 0 for n in shape):
        raise FileLoadError(path, f"holds an empty dataset (shape {shape})")
    _refuse_absurd_size(path, shape, data.dtype.itemsize)
    for ax in signal.axes_manager._axes:
        scale = getattr(ax, "scale", 1.0)
        if scale is not None and not math.isfinite(float(scale)):
            raise FileLoadError(path, f"axis {ax.name!r} has a non-finite calibration (corrupt header)")
    _check_msa_points(signal, path, shape)
    if getattr(signal, "_lazy", False):
        _probe_lazy(signal, path, shape)


def _check_msa_points(signal, path, shape) -> None:
    """EMSA/MSA: the reader ignores #NPOINTS, so a truncated file loads short, silently."""
    from pathlib import Path

    if Path(path).suffix.lower() not in (".msa", ".ems", ".emsa", ".mas"):
        return
    declared = signal.original_metadata.get_item("NPOINTS", None)
    try:
        declared = int(float(declared))
    except (TypeError, ValueError):
        return
    if declared != shape[-1]:
        raise FileLoadError(path, f"file is truncated or corrupt: header declares {declared} "
                                  f"channels (#NPOINTS) but {shape[-1]} are present")


def _probe_lazy(signal, path, shape) -> None:
    """Read the first and last element of a lazy dataset: a truncated file fails here."""
    data = signal.data
    try:
        data[(0,) * len(shape)].compute()
        data[tuple(n - 1 for n in shape)].compute()
    except (Exception, MemoryError) as exc:  # the reader's own error type varies by format
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileLoadError(path, f"data cannot be read, file is truncated or corrupt ({text})") from exc


MRC_EXTENSIONS = (".mrc", ".mrcs", ".ali", ".st", ".rec")
#: MRC MODE → bytes per voxel (MRC2014; 0 is int8, 6 uint16, 12 float16).
MRC_MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}


def _check_mrc_header(path) -> None:
    """MRC: NX·NY·NZ·bytes + 1024 + extended header must equal the file size.

    rosettasciio's MRC reader memory-maps whatever the header declares and hangs on a
    corrupt NX (seen in the corruption survey: NX = 2^30 or -1 never returned).
    """
    import struct

    from .hyperspy_adapter import path_size

    with open(path, "rb") as fh:
        header = fh.read(1024)
    if len(header) < 1024:
        raise FileLoadError(path, f"file is truncated: {len(header)} bytes, an MRC header alone is 1024")
    nx, ny, nz, mode = struct.unpack("<4i", header[:16])
    if mode not in MRC_MODE_BYTES:  # maybe big-endian
        nx, ny, nz, mode = struct.unpack(">4i", header[:16])
        nsymbt = struct.unpack(">i", header[92:96])[0]
    else:
        nsymbt = struct.unpack("<i", header[92:96])[0]
    if mode not in MRC_MODE_BYTES or min(nx, ny, nz) < 1 or nsymbt < 0:
        raise FileLoadError(path, f"corrupt MRC header (NX={nx}, NY={ny}, NZ={nz}, MODE={mode})")
    declared = 1024 + nsymbt + nx * ny * nz * MRC_MODE_BYTES[mode]
    actual = path_size(path)
    if declared > actual:
        raise FileLoadError(path, f"file is truncated or its MRC header is corrupt: header declares "
                                  f"{declared} bytes ({nx}×{ny}×{nz}, MODE {mode}), file holds {actual}")


def _reader_module(path):
    """The rosettasciio reader module for ``path``'s extension, if exactly one claims it."""
    import importlib

    import rsciio

    ext = path.suffix.lower().lstrip(".")
    plugins = [p for p in rsciio.IO_PLUGINS if ext in (e.lower() for e in p["file_extensions"])]
    return importlib.import_module(plugins[0]["api"]) if len(plugins) == 1 else None


def check_declared_size(path) -> None:
    """Refuse a file whose header declares absurdly much data, before HyperSpy sees it.

    HyperSpy builds every axis as ``np.arange(size)``: a corrupt DigitalMicrograph header
    declaring 2^30 channels made it allocate 24 GB and the process was killed by the
    kernel (seen here). The rosettasciio reader is therefore asked first, lazily (header
    only, no data read), what shapes the file declares.
    """
    from .hyperspy_adapter import quiet_hyperspy

    if path.suffix.lower() in MRC_EXTENSIONS:
        _check_mrc_header(path)
    reader = _reader_module(path)
    if reader is None:
        return
    try:
        with quiet_hyperspy():
            datasets = reader.file_reader(str(path), lazy=True)
    except Exception:  # no lazy support, or corrupt: the real load reports the reason
        return
    for d in datasets:
        sizes = [int(ax.get("size", 1)) for ax in d.get("axes", [])]
        if any(n <= 0 for n in sizes):
            raise FileLoadError(path, f"header declares an empty dataset (sizes {sizes})")
        _refuse_absurd_size(path, sizes, getattr(getattr(d.get("data"), "dtype", None), "itemsize", 1))


def _refuse_absurd_size(path, sizes, itemsize: int) -> None:
    """Raise if ``sizes`` × ``itemsize`` bytes cannot come from a file this small."""
    from .hyperspy_adapter import path_size

    declared = math.prod(sizes) * itemsize
    on_disk = max(path_size(path), 1)
    if declared > MAX_DECLARED_BYTES or declared > MAX_DECLARED_TO_FILE_RATIO * on_disk:
        raise FileLoadError(path, f"header declares {declared / 1e9:.3g} GB of data (axis sizes "
                                  f"{list(sizes)}) but the file holds {on_disk / 1e6:.3g} MB (corrupt header)")
