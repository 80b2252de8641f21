"""Jobs that open files for the GUI (run in a worker thread, never on the GUI thread)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UserFacingError


@dataclass
class LoadOutcome:
    """Documents opened (each with its preview) and one-line errors for files that failed."""

    opened: list = field(default_factory=list)   # [(Document, Preview)]
    errors: list = field(default_factory=list)   # [str]


def load_files_job(context, paths) -> LoadOutcome:
    """Open every path; a bad file becomes an error line, the others still open."""
    from .document import open_documents
    from .previews import preview_of

    outcome = LoadOutcome()
    for i, path in enumerate(paths):
        context.progress(i / max(len(paths), 1), f"Opening {path}")
        try:
            for document in open_documents(path):
                context.raise_if_cancelled()
                outcome.opened.append((document, preview_of(document)))
        except UserFacingError as exc:
            outcome.errors.append(str(exc))
    context.progress(1.0)
    return outcome


def load_demo_job(context) -> LoadOutcome:
    """Write the demo specimens to the cache (first run only) and open them."""
    from .demo_files import ensure_demo_files

    context.progress(0.0, "Preparing demo specimens (first run generates them)…")
    paths = ensure_demo_files(progress=lambda f, msg: context.progress(0.8 * f, msg))
    return load_files_job(context, paths)
