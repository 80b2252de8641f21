"""Create the QApplication and the main window; optionally render a screenshot and exit."""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import UserFacingError

SCREENSHOT_TIMEOUT_S = 300.0


def _configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    _defer_matplotlib_colormap_list()


class _MatplotlibLeftovers(Sequence):
    """pyqtgraph's list of matplotlib colour maps it has no category for, computed on use.

    Truthy without computing it: matplotlib always has such maps, so pyqtgraph adds its
    'matplotlib > Others' submenu as before; the names are listed (importing
    matplotlib.pyplot) when the submenu is opened.
    """

    def __init__(self, find):
        self._find = find
        self._names = None

    def _list(self) -> list:
        if self._names is None:
            self._names = list(self._find())
        return self._names

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._list())

    def __getitem__(self, index):
        return self._list()[index]


def _defer_matplotlib_colormap_list() -> None:
    """Keep ``import matplotlib.pyplot`` (≈0.5 s) off the path to the first window.

    Every pyqtgraph ``HistogramLUTItem`` builds a colour-map menu, and pyqtgraph 0.14 lists
    matplotlib's colour maps for it (``find_mpl_leftovers``, which imports
    ``matplotlib.pyplot``) only to decide whether to add an 'Others' submenu. The list is
    now made when that submenu is opened (our image views do not open that menu at all:
    colour maps are chosen in the Contrast panel). Without that pyqtgraph function this
    does nothing.
    """
    try:
        from pyqtgraph.widgets import ColorMapMenu as menu_module
    except ImportError:  # pragma: no cover - another pyqtgraph layout
        return
    find = getattr(menu_module, "find_mpl_leftovers", None)
    if find is None or getattr(find, "_batteryscope_deferred", False):
        return

    def find_mpl_leftovers():
        return _MatplotlibLeftovers(find)

    find_mpl_leftovers._batteryscope_deferred = True
    menu_module.find_mpl_leftovers = find_mpl_leftovers


#: Qt messages that are harmless and would only alarm a user on the terminal.
BENIGN_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def _set_icon(app) -> None:
    """Window icon from the package resources; the desktop-file name matches
    packaging/batteryscope.desktop so the shell groups the window with its launcher."""
    from importlib.resources import files

    from PySide6.QtGui import QIcon

    icon = QIcon()
    for name in ("batteryscope.svg", "batteryscope.png", "batteryscope-48.png"):
        path = files("batteryscope.resources") / name
        if path.is_file():
            icon.addFile(str(path))
    app.setWindowIcon(icon)
    app.setDesktopFileName("batteryscope")


def _qt_message_handler(mode, context, message) -> None:
    if not any(message.startswith(m) for m in BENIGN_QT_MESSAGES):
        print(f"Qt: {message}", file=sys.stderr)


def show_main_window(*, show_dialogs: bool = True, when_painted=None):
    """Start Qt and show the main window; returns ``(app, window)``.

    This is the whole path from launch to the first window (the smoke test measures it).
    Everything slow that the window does not need stays off it: once the window's first
    frame is painted, the dask garbage-collection guard is installed (it imports dask) and
    then ``when_painted()`` is called, if given.
    """
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    qInstallMessageHandler(_qt_message_handler)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("BatteryScope")
    app.setOrganizationName("BatteryScope")
    _set_icon(app)
    _configure_pyqtgraph()
    from .main_window import MainWindow

    # Python's automatic garbage collection may run on any thread; a worker that collects
    # cycles holding Qt objects deadlocks against the GUI thread (seen with gdb in the
    # spectrum-image tests). Collect on a GUI-thread timer instead, as pyqtgraph advises.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app._batteryscope_gc = GarbageCollector(interval=1.0)  # lives as long as the application
    window = MainWindow(show_dialogs=show_dialogs)
    window.show()

    def after_first_frame() -> None:
        install_dask_gc_guard()
        if when_painted is not None:
            when_painted()

    _after_first_expose(window, after_first_frame)
    return app, window


def install_dask_gc_guard() -> None:
    """dask would otherwise switch automatic collection back on (see :mod:`.dask_gc_guard`);
    must run before any document is read (idempotent)."""
    from .dask_gc_guard import install

    install()


def run_application(*, files, demo: bool, screenshot: str | None, panel: str | None) -> int:
    """Run the GUI event loop (or, with ``screenshot``, render once and return)."""

    def open_startup_documents() -> None:
        if demo:
            window.open_demo()
        if files:
            window.open_files(files)

    if screenshot:
        app, window = show_main_window(show_dialogs=False)
        install_dask_gc_guard()
        open_startup_documents()
        try:
            return _screenshot(app, window, Path(screenshot), panel)
        finally:
            teardown(app, window)
    # the loading workers import HyperSpy (seconds): the window paints first
    app, window = show_main_window(when_painted=open_startup_documents)
    app.aboutToQuit.connect(lambda: window.runner.stop_all(timeout_s=5.0))
    status = app.exec()
    teardown(app, window)
    return status


def _after_first_expose(window, callback, *, fallback_ms: int = 2000) -> None:
    """Call ``callback`` once, on the event loop, after ``window`` is first exposed (its
    first frame painted), or after ``fallback_ms`` if that never happens (e.g. the window
    opened minimised). Nothing is called once the window has been destroyed."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    handle = window.windowHandle()

    class ExposeWatcher(QObject):
        def __init__(self):
            super().__init__(window)   # destroyed with the window, timers too
            self.done = False
            self.soon = QTimer(self, singleShot=True, interval=0)
            self.soon.timeout.connect(self.fire)
            self.fallback = QTimer(self, singleShot=True, interval=fallback_ms)
            self.fallback.timeout.connect(self.fire)

        def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Expose and watched.isExposed():
                self.soon.start()   # runs after this expose event has been painted
            return False

        def fire(self) -> None:
            if self.done:
                return
            self.done = True
            self.soon.stop()
            self.fallback.stop()
            if handle is not None:
                handle.removeEventFilter(self)
            callback()

    watcher = ExposeWatcher()
    if handle is None or handle.isExposed():
        watcher.soon.start()
        return
    handle.installEventFilter(watcher)
    watcher.fallback.start()


def teardown(app, window) -> None:
    """Destroy the window while the QApplication still exists.

    Left to interpreter shutdown, PySide6 and pyqtgraph objects are destroyed in no
    particular order, and the process segfaults on exit about every other run
    (seen here: 5 of 12 runs; 0 of 12 with this teardown).
    """
    import gc

    from PySide6.QtCore import QEvent

    window.runner.stop_all(timeout_s=5.0)
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.DeferredDelete)
    app.processEvents()
    del window
    gc.collect()


def _screenshot(app, window, out: Path, panel: str | None) -> int:
    errors: list[str] = []
    window.loadFailed.connect(errors.append)
    deadline = time.monotonic() + SCREENSHOT_TIMEOUT_S
    app.processEvents()
    while window.runner.running and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(10):
        app.processEvents()
    if panel:
        window.show_panel(panel)
        app.processEvents()
    pixmap = window.grab()
    if not pixmap.save(str(out), "PNG"):
        raise UserFacingError(f"cannot write screenshot {out}")
    window.close()
    for message in errors:
        print(f"batteryscope: error: {message}", file=sys.stderr)
    return 2 if errors else 0
