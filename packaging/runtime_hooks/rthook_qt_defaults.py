"""Frozen app: Qt and plotting defaults that must be set before anything imports them.

- pyqtgraph and matplotlib would otherwise probe for PyQt5/PyQt6/PySide2, none of which is
  bundled: pin them to PySide6.
- matplotlib (imported by HyperSpy) uses the non-interactive Agg backend; BatteryScope
  draws with pyqtgraph and never opens a matplotlib window.
- Only the xcb, wayland, offscreen and minimal platform plugins are bundled on Linux; on a
  Wayland session without the Wayland plugin Qt falls back to XWayland (xcb).
Values the user set are kept.
"""
import os
import sys

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("MPLBACKEND", "Agg")

if sys.platform.startswith("linux") and "QT_QPA_PLATFORM" not in os.environ:
    _platforms = os.path.join(getattr(sys, "_MEIPASS", ""), "PySide6", "Qt", "plugins", "platforms")
    if os.environ.get("WAYLAND_DISPLAY") and os.path.isdir(_platforms) and not any(
            name.startswith("libqwayland") for name in os.listdir(_platforms)):
        os.environ["QT_QPA_PLATFORM"] = "xcb"
