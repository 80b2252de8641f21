"""Create the QApplication and the main window; optionally render a screenshot and exit."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import UserFacingError

SCREENSHOT_TIMEOUT_S = 300.0


def _configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


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


def run_application(*, files, demo: bool, screenshot: str | None, panel: str | None) -> int:
    """Run the GUI event loop (or, with ``screenshot``, render once and return)."""
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
    from .dask_gc_guard import install

    install()  # dask would otherwise switch automatic collection back on (see the module)
    window = MainWindow(show_dialogs=screenshot is None)
    window.show()
    if demo:
        window.open_demo()
    if files:
        window.open_files(files)
    if screenshot:
        try:
            return _screenshot(app, window, Path(screenshot), panel)
        finally:
            teardown(app, window)
    app.aboutToQuit.connect(lambda: window.runner.stop_all(timeout_s=5.0))
    status = app.exec()
    teardown(app, window)
    return status


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
