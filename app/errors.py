"""Error and warning types the user sees (CLI: one line on stderr; GUI: a dialog)."""
from __future__ import annotations

from pathlib import Path


class BatteryScopeWarning(UserWarning):
    """Warnings raised by BatteryScope itself (turned into errors by the test suite)."""


class UserFacingError(Exception):
    """An error whose message is fit to show a user as it is: one line, no traceback."""


class FileLoadError(UserFacingError):
    """A file could not be opened: missing, empty, truncated, corrupt, unsupported or mislabelled.

    ``str(error)`` is one line that names the file and the reason.
    """

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        super().__init__(f"{self.path.name}: {self.reason}")


class FileSaveError(UserFacingError):
    """Results could not be written (disk full, no permission, unsupported format)."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"cannot write {self.path}: {self.reason}")
