"""The path from launch to the first window (``gui_app.show_main_window``) stays light.

The window is shown before anything slow is imported: HyperSpy/exspy/RosettaSciIO, dask,
numba, scikit-image, the slow SciPy parts and matplotlib (which pyqtgraph's colour-map
menu would import, 0.5 s) load only when a document is opened. Checked in a fresh
interpreter, since this test session has imported all of them already.
"""
import json
import os
import subprocess
import sys
import textwrap

SLOW = ("hyperspy", "exspy", "rsciio", "dask", "numba", "llvmlite", "skimage", "scipy.signal",
        "scipy.ndimage", "scipy.optimize", "matplotlib", "h5py", "zarr", "sympy")


def _run(code: str, tmp_path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_showing_the_main_window_imports_nothing_slow(tmp_path):
    result = _run(f"""
        import json, sys, time
        from batteryscope.app.gui_app import show_main_window, teardown
        app, window = show_main_window(show_dialogs=False)
        while not (window.windowHandle() and window.windowHandle().isExposed()):
            app.processEvents()
        shown = [m for m in {SLOW!r} if m in sys.modules]
        # after the first frame, the dask guard is installed (it imports dask) on the event loop
        deadline = time.monotonic() + 60
        from batteryscope.app import dask_gc_guard
        while not dask_gc_guard._installed and time.monotonic() < deadline:
            app.processEvents()
        installed = dask_gc_guard._installed
        teardown(app, window)
        print(json.dumps({{"shown": shown, "installed": installed}}))
    """, tmp_path)
    assert result == {"shown": [], "installed": True}


def test_pyqtgraph_colour_map_menu_still_lists_matplotlib_maps_when_opened(tmp_path):
    result = _run("""
        import json, sys
        from pyqtgraph.widgets import ColorMapMenu as menu_module
        real = menu_module.find_mpl_leftovers
        from batteryscope.app.gui_app import _configure_pyqtgraph
        _configure_pyqtgraph()
        _configure_pyqtgraph()   # idempotent
        deferred = menu_module.find_mpl_leftovers()
        before = "matplotlib.pyplot" in sys.modules
        names = menu_module.sorted_filenames(deferred)   # what the submenu shows
        print(json.dumps({"before": before, "truthy": bool(deferred),
                          "same": names == menu_module.sorted_filenames(real()),
                          "n": len(names)}))
    """, tmp_path)
    assert result["before"] is False
    assert result["truthy"] and result["same"] and result["n"] > 0
