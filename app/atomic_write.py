"""Atomic writes: write to a temporary name beside the target, then rename into place."""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from .errors import FileSaveError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_target(path, *, overwrite: bool = False):
    """Yield a temporary path (same folder, same extension) that replaces ``path`` on success.

    Works for files and for directory stores (.zspy). On any error the temporary is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileSaveError(path, "file exists (choose another name or allow overwrite)")
    if not path.parent.is_dir():
        raise FileSaveError(path, f"folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileSaveError(path, "the writer produced no file")
        if path.is_dir():
            backup = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, backup)
            os.replace(tmp, path)
            _remove(backup)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise FileSaveError(path, exc.strerror or str(exc)) from exc
    except BaseException:
        _remove(tmp)
        raise


def write_text_atomic(path, text: str) -> None:
    """Write a small text file (settings, JSON, CSV) atomically."""
    path = Path(path)
    with atomic_target(path, overwrite=True) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
