"""Render resources/batteryscope.svg to the PNG sizes the desktop entry and installers use.

    python packaging/make_icons.py      # writes resources/batteryscope{,-128,-48}.png

The 256 px PNG is ``batteryscope.png`` (PyInstaller turns it into the Windows .ico and the
macOS .icns); 128 and 48 px are for the freedesktop icon theme. Runs offscreen.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "batteryscope.svg"
SIZES = {256: "batteryscope.png", 128: "batteryscope-128.png", 48: "batteryscope-48.png"}


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"cannot read {SVG}", file=sys.stderr)
        return 1
    for size, name in SIZES.items():
        image = QImage(size, size, QImage.Format_ARGB32_Premultiplied)
        image.fill(Qt.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = ROOT / "resources" / name
        if not image.save(str(out), "PNG"):
            print(f"cannot write {out}", file=sys.stderr)
            return 1
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
