"""The one place that calls HyperSpy: loading, saving and building signals.

HyperSpy (and exspy, ~3 s to import) are imported inside the functions, never at module
import, so the first window appears before they load. The rest of the app receives
arrays, :class:`~batteryscope.analysis.calibration.AxisCalibration` and plain dicts from
here (see :mod:`batteryscope.app.signal_description`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

from .errors import FileLoadError
from .file_formats import CONTENT_NAMES, format_for, sniff_content, supported_extensions

#: Files larger than this fraction of physical memory are opened lazily (dask).
DEFAULT_LAZY_FRACTION = 0.25


def total_memory_bytes() -> int:
    """Physical memory of this machine in bytes (falls back to 8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def path_size(path: Path) -> int:
    """Bytes on disk of a file, or of all files below a directory store (.zspy)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@contextlib.contextmanager
def quiet_hyperspy():
    """Silence HyperSpy's own logging/warnings: the app reports errors its own way."""
    loggers = [logging.getLogger(n) for n in ("hyperspy", "hyperspy.io", "rsciio", "exspy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def import_hyperspy():
    """``hyperspy.api``, imported quietly (it warns about its own deprecations)."""
    with quiet_hyperspy():
        import hyperspy.api as hs
    from .dask_gc_guard import install

    install()  # HyperSpy's lazy signals slice with dask: keep collection off (see the module)
    return hs


def check_openable(path) -> Path:
    """Refuse a path that cannot be a readable microscope file, with the reason.

    Checks existence, emptiness, extension and whether the first bytes match the
    format the extension claims. Returns the resolved :class:`~pathlib.Path`.

    Raises
    ------
    FileLoadError
        With a one-line reason naming the file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileLoadError(path, "no such file")
    fmt = format_for(path)
    if fmt is None:
        shown = path.suffix or "(no extension)"
        raise FileLoadError(path, f"unsupported file type {shown}; BatteryScope opens "
                                  + ", ".join(supported_extensions()))
    if path.is_dir() and "zarr-directory" not in fmt.contents:
        raise FileLoadError(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise FileLoadError(path, "permission denied")
    if path_size(path) == 0:
        raise FileLoadError(path, "file is empty (0 bytes)")
    kind = sniff_content(path)
    if "any" not in fmt.contents and kind not in fmt.contents:
        raise FileLoadError(path, f"not a valid {fmt.name} file: its content looks like "
                                  f"{CONTENT_NAMES.get(kind, kind)} (wrong extension or corrupt header)")
    return path


def _reason_from(exc: BaseException, path: Path) -> str:
    """Turn a reader's exception into a reason a microscopist can act on."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MemoryError):
        return "the file declares more data than fits in memory (corrupt header?)"
    if isinstance(exc, (EOFError,)) or "buffer" in text or "truncated" in text.lower() \
            or "mmap length" in text or "cannot reshape" in text:
        return f"file is truncated or its header is corrupt ({text})"
    fmt = format_for(path)
    name = fmt.name if fmt else "microscope"
    return f"cannot be read as a {name} file: {type(exc).__name__}: {text}"


def load_signals(path, *, lazy: bool | None = None, lazy_fraction: float = DEFAULT_LAZY_FRACTION):
    """Load every dataset in a file as HyperSpy signals.

    Parameters
    ----------
    path : path-like
        The file (or .zspy directory store).
    lazy : bool, optional
        Force lazy (dask) or eager loading. By default a file larger than
        ``lazy_fraction`` of physical memory is opened lazily.
    lazy_fraction : float
        Fraction of physical memory above which files open lazily.

    Returns
    -------
    list of hyperspy signals
        One per dataset in the file; the caller owns them. The file is never written.

    Raises
    ------
    FileLoadError
        For any file that cannot be read, with a one-line reason.
    """
    path = check_openable(path)
    if lazy is None:
        lazy = path_size(path) > lazy_fraction * total_memory_bytes()
    hs = import_hyperspy()
    from .signal_validation import check_declared_size, validate_loaded

    check_declared_size(path)
    try:
        with quiet_hyperspy():
            try:
                loaded = hs.load(str(path), lazy=lazy, escape_square_brackets=True)
            except Exception as exc:
                # some readers cannot open lazily (MSA: NotImplementedError; PNG: TypeError
                # from dask): a file that fits the memory budget is read eagerly instead
                if not lazy:
                    raise
                if path_size(path) > lazy_fraction * total_memory_bytes():
                    raise FileLoadError(path, "too large to open: this format cannot be read "
                                              "lazily and the file exceeds the memory budget") from exc
                loaded = hs.load(str(path), lazy=False, escape_square_brackets=True)
    except FileLoadError:
        raise
    except (Exception, MemoryError) as exc:  # readers raise anything from struct.error to KeyError
        raise FileLoadError(path, _reason_from(exc, path)) from exc
    signals = loaded if isinstance(loaded, list) else [loaded]
    if not signals:
        raise FileLoadError(path, "the file holds no datasets")
    for s in signals:
        validate_loaded(s, path)
    return signals


def _hyperspy_class(hs, axes):
    n_sig = sum(1 for a in axes if not a.navigate)
    return {1: hs.signals.Signal1D, 2: hs.signals.Signal2D}.get(n_sig, hs.signals.BaseSignal)


def signal_from_array(data, axes, *, title: str = "", signal_type: str = "",
                      quantity: str = "", acquisition: dict | None = None):
    """Build a HyperSpy signal from an array and its calibrations (array order).

    ``signal_type="EELS"`` gives an exspy ``EELSSpectrum``; ``acquisition`` uses the
    vocabulary of :data:`batteryscope.app.signal_description.METADATA_PATHS`.
    """
    from .signal_description import METADATA_PATHS

    hs = import_hyperspy()
    axes_dicts = [dict(name=a.name, units=a.units, scale=a.scale, offset=a.offset,
                       size=a.size, navigate=a.navigate) for a in axes]
    with quiet_hyperspy():
        s = _hyperspy_class(hs, axes)(data, axes=axes_dicts)
        if signal_type.upper() == "EELS":
            s.set_signal_type("EELS")
    s.metadata.General.title = title
    if quantity:
        s.metadata.set_item("Signal.quantity", quantity)
    for key, value in (acquisition or {}).items():
        if key in METADATA_PATHS and value is not None:
            s.metadata.set_item(METADATA_PATHS[key][0], value)
    return s


def save_signal(signal, path, *, overwrite: bool = False) -> Path:
    """Write ``signal`` to ``path`` (.hspy, .zspy, .tif, .msa, .emd …) atomically.

    The data go to a temporary name beside the target and are renamed into place, so
    an interrupted write (full disk, crash) never leaves a half-written file under the
    real name. Raises :class:`~batteryscope.app.errors.FileSaveError`.
    """
    from .atomic_write import atomic_target
    from .errors import FileSaveError

    path = Path(path)
    fmt = format_for(path)
    if fmt is None or not fmt.writable:
        raise FileSaveError(path, f"cannot write {path.suffix or 'files without extension'}; "
                                  "use .hspy, .zspy, .tif, .msa, .emd, .png or .npy")
    with atomic_target(path, overwrite=overwrite) as tmp:
        try:
            with quiet_hyperspy():
                signal.save(str(tmp), overwrite=True)
        except OSError as exc:
            raise FileSaveError(path, exc.strerror or str(exc)) from exc
        except Exception as exc:  # writers reject some shapes/dtypes with ValueError etc.
            raise FileSaveError(path, f"{type(exc).__name__}: {exc}") from exc
    return path
