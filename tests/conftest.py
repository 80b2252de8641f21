"""Test configuration: headless Qt, and no test may leave top-level windows behind."""
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless, whatever the developer's session has
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def gc_only_on_the_main_thread():
    """As in the app (gui_app installs pyqtgraph's GarbageCollector): automatic collection off,
    so a worker thread never destroys Qt objects (deadlock seen ~1 run in 10 otherwise)."""
    import gc

    gc.disable()
    yield
    gc.enable()  # the automatic collection then runs here, on the main thread, between tests


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Every test gets its own settings folder: never read or write the developer's."""
    config = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "batteryscope" / "settings.json"


@pytest.fixture
def no_leaked_windows(qapp):
    """Fail a GUI test that leaves visible top-level windows open (napari's habit)."""
    before = {id(w) for w in qapp.topLevelWidgets() if w.isVisible()}
    yield
    qapp.processEvents()
    leaked = [w for w in qapp.topLevelWidgets() if w.isVisible() and id(w) not in before]
    for w in leaked:
        w.close()
    assert not leaked, f"test left windows open: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def demo_cache(tmp_path_factory, monkeypatch):
    """Point the demo cache at a per-session temporary folder."""
    cache = tmp_path_factory.getbasetemp() / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache
