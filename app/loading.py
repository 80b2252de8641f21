"""Jobs that open files for the GUI (run in a worker thread, never on the GUI thread)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UserFacingError

#: Files above this size open lazily in the GUI so the first image appears at once; they
#: are then read into memory in the background when they fit (see block_reading).
GUI_LAZY_ABOVE_BYTES = 256 * 2**20


@dataclass
class LoadOutcome:
    """Documents opened (each with its preview) and one-line errors for files that failed."""

    opened: list = field(default_factory=list)   # [(Document, Preview)]
    errors: list = field(default_factory=list)   # [str]
    paths: list = field(default_factory=list)    # files that opened (for Open Recent)


def _lazy_for_gui(path) -> bool | None:
    from pathlib import Path

    from .hyperspy_adapter import path_size

    try:
        return True if path_size(Path(path)) > GUI_LAZY_ABOVE_BYTES else None
    except OSError:
        return None  # the loader reports the real problem


def load_files_job(context, paths) -> LoadOutcome:
    """Open every path; a bad file becomes an error line, the others still open."""
    from .document import open_documents
    from .previews import preview_of

    outcome = LoadOutcome()
    for i, path in enumerate(paths):
        context.progress(i / max(len(paths), 1), f"Opening {path}")
        try:
            for document in open_documents(path, lazy=_lazy_for_gui(path)):
                context.raise_if_cancelled()
                outcome.opened.append((document, preview_of(document)))
            outcome.paths.append(str(path))
        except UserFacingError as exc:
            outcome.errors.append(str(exc))
    context.progress(1.0)
    return outcome


def load_demo_job(context) -> LoadOutcome:
    """Write the demo specimens to the cache (first run only) and open them."""
    from .demo_files import ensure_demo_files

    context.progress(0.0, "Preparing demo specimens (first run generates them)…")
    paths = ensure_demo_files(progress=lambda f, msg: context.progress(0.8 * f, msg))
    outcome = load_files_job(context, paths)
    outcome.paths = []  # generated data is not a "recent file"
    return outcome
