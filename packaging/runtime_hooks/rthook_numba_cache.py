"""Frozen app: give numba a writable, per-user cache folder for its compiled kernels.

The bundle's own folder may be read-only (installed under /opt, Program Files or a
signed .app), and numba's default in-tree cache (``__pycache__`` next to the source)
would then fail. ``NUMBA_CACHE_DIR`` must be set before numba is first imported.
A value the user set is kept.
"""
import os
import sys


def _user_cache_root() -> str:
    if sys.platform == "win32":
        return os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches")
    return os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")


if not os.environ.get("NUMBA_CACHE_DIR"):
    _cache = os.path.join(_user_cache_root(), "batteryscope", "numba")
    try:
        os.makedirs(_cache, exist_ok=True)
    except OSError:  # no writable home: numba then compiles without caching
        import tempfile

        _user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
        _cache = os.path.join(tempfile.gettempdir(), f"batteryscope-numba-{_user}")
        os.makedirs(_cache, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = _cache
