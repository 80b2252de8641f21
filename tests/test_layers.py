"""The layer rules of DESIGN.md, checked mechanically with import-linter."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_dirs():
    """Where each batteryscope sub-package lives (installed copy or editable source)."""
    out = {}
    for sub in ("app", "widgets", "analysis", "resources"):
        spec = importlib.util.find_spec(f"batteryscope.{sub}")
        out[sub] = Path(list(spec.submodule_search_locations)[0])
    return out


def test_import_linter_contracts_hold(tmp_path):
    # import-linter needs a plain directory tree; editable installs map folders through
    # an import hook, so build a tree of symlinks to wherever the packages really are.
    tree = tmp_path / "batteryscope"
    tree.mkdir()
    for sub, path in _package_dirs().items():
        (tree / sub).symlink_to(path, target_is_directory=True)
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    run = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def test_first_window_path_does_not_import_hyperspy():
    """hyperspy/exspy take seconds to import, scipy.signal 1 s, numba and skimage a few tenths:
    they must stay off the path to the first window (start-up went from 1.4 s to 2.9 s once)."""
    slow = ('hyperspy', 'exspy', 'rsciio', 'dask', 'numba', 'skimage', 'scipy.signal', 'scipy.ndimage')
    code = ("import sys; import batteryscope.app.gui_app, batteryscope.app.main_window; "
            f"bad=[m for m in {slow!r} if m in sys.modules]; print(bad)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
