"""Helpers for tests that drive the main window."""


def open_and_wait(window, qtbot, path):
    """Open a file through the window and wait until its document is shown."""
    with qtbot.waitSignal(window.documentsOpened, timeout=60000) as opened:
        window.open_files([path])
    return opened.args[0][0]
