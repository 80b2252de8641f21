"""Frozen app: per-user cache folders for numba's compiled kernels (and matplotlib's font list).

The bundle's own folder may be read-only (installed under /opt, Program Files or a
signed .app), and numba's default in-tree cache (``__pycache__`` next to the source)
would then fail. ``NUMBA_CACHE_DIR`` must be set before numba is first imported.
A value the user set is kept.

matplotlib (imported by HyperSpy when the first document opens): PyInstaller's own
run-time hook points ``MPLCONFIGDIR`` at a new temporary folder at every start, so
matplotlib scanned all the system's fonts again each time (0.6 s here with 130 fonts,
seconds on a desktop with thousands). It now keeps its font cache in
``<cache>/batteryscope/matplotlib``; as before, no user matplotlibrc is read (BatteryScope
plots with pyqtgraph). The hook runs after PyInstaller's, so this setting wins.
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


def _persistent_matplotlib_cache() -> None:
    folder = os.path.join(_user_cache_root(), "batteryscope", "matplotlib")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return   # keep PyInstaller's temporary folder
    os.environ["MPLCONFIGDIR"] = folder


if getattr(sys, "frozen", False):
    _persistent_matplotlib_cache()
