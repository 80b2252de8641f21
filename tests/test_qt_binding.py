"""The installed Qt binding must not leak references to None (PySide6 6.12.0 on Python 3.11
does: a GUI session then aborts with "Fatal Python error: none_dealloc")."""
import sys


def test_void_qt_calls_do_not_leak_none(qapp):
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    before = sys.getrefcount(None)
    for _ in range(2000):
        widget.setEnabled(True)
    leaked = before - sys.getrefcount(None)
    widget.deleteLater()
    assert abs(leaked) < 100, (f"this PySide6 leaks a reference to None per call ({leaked} in 2000 "
                               "calls); install a version listed as good in README.md")
