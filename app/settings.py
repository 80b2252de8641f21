"""User settings that persist between runs: recent files, window layout, export choices.

Stored as JSON in ``$XDG_CONFIG_HOME/batteryscope/settings.json`` (``~/.config`` when
unset), written atomically (temporary file + rename) so a crash or a full disk never
leaves a half-written file. A corrupt or unreadable file is set aside as
``settings.json.corrupt`` and defaults are used: settings are never worth a crash.
Qt-free: the window passes its geometry and dock state as bytes.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from .atomic_write import write_text_atomic
from .errors import FileSaveError

MAX_RECENT_FILES = 10
SETTINGS_VERSION = 1


def settings_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "batteryscope" / "settings.json"


class Settings:
    """A small key/value store with typed accessors for what the app remembers.

    Parameters
    ----------
    path : path-like, optional
        Settings file; defaults to :func:`settings_path`.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else settings_path()
        self.problem: str | None = None  # why the stored file was not used, if it was not
        self._values: dict = self._read()

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(values, dict):
                raise ValueError("top level is not an object")
            return values
        except (OSError, ValueError) as exc:
            self.problem = f"settings file {self.path} was unreadable ({exc}); using defaults"
            try:
                os.replace(self.path, self.path.with_name(self.path.name + ".corrupt"))
            except OSError:
                pass
            return {}

    def get(self, key: str, default=None):
        return self._values.get(key, default)

    def set(self, key: str, value) -> None:
        json.dumps(value)  # fail now, not at save time, for values JSON cannot hold
        self._values[key] = value

    def save(self) -> None:
        """Write atomically; an unwritable location is reported, never raised to the user."""
        self._values["version"] = SETTINGS_VERSION
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self._values, indent=1, ensure_ascii=False))
        except (OSError, FileSaveError) as exc:
            self.problem = f"cannot save settings to {self.path}: {exc}"

    # -- recent files -------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """Most recent first; files that no longer exist are kept out."""
        files = [f for f in self.get("recent_files", []) if isinstance(f, str)]
        return [f for f in files if Path(f).exists()][:MAX_RECENT_FILES]

    def add_recent_file(self, path) -> None:
        path = str(Path(path).resolve())
        files = [f for f in self.get("recent_files", []) if f != path]
        self.set("recent_files", [path, *files][:MAX_RECENT_FILES])

    def clear_recent_files(self) -> None:
        self.set("recent_files", [])

    # -- binary blobs (window geometry and dock layout) ----------------------------------------
    def get_bytes(self, key: str) -> bytes | None:
        value = self.get(key)
        if not isinstance(value, str):
            return None
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except ValueError:
            return None

    def set_bytes(self, key: str, value: bytes) -> None:
        self.set(key, base64.b64encode(bytes(value)).decode("ascii"))
