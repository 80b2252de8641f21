"""Fixtures for tests that drive the main window as a user would."""
import pytest

from batteryscope.app.main_window import MainWindow


@pytest.fixture
def window(qtbot, no_leaked_windows):
    """A shown main window without modal dialogs (errors still reach ``loadFailed``)."""
    w = MainWindow(show_dialogs=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.runner.stop_all(10)
    w.close()
