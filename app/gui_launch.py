"""Start the GUI, after checking there is a display Qt can use.

Without these checks Qt aborts the process with "could not load the Qt platform plugin
xcb" (a core dump, not an exit code) when there is no display or a system library is
missing. Here the user gets one line saying what is wrong and what to run instead.
"""
from __future__ import annotations

import ctypes
import os
import socket
import sys
from pathlib import Path

from .errors import UserFacingError

#: Shared libraries Qt's xcb platform plugin needs beyond a basic X11 install, with the
#: Debian/Ubuntu package that provides each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
}
HEADLESS_HINT = ("headless commands still work: 'batteryscope info FILE', "
                 "'batteryscope demo --out DIR', 'batteryscope --screenshot OUT.png --demo'")


class NoDisplayError(UserFacingError):
    """There is no display the GUI can use."""

    exit_code = 3


def _x_server_reachable(display: str) -> bool:
    """True if the X server named by ``display`` (":0", "host:1.0") accepts connections."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix") or host.startswith("/"):
        sock_path = Path(f"/tmp/.X11-unix/X{number}")
        if host.startswith("/"):  # macOS launchd-style path
            return Path(display).exists()
        abstract = _connect_unix("\0" + str(sock_path))
        return abstract or _connect_unix(str(sock_path))
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def _connect_unix(address: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(address)
            return True
    except OSError:
        return False


def missing_xcb_packages() -> list[str]:
    """Debian packages whose libraries Qt's xcb plugin needs but cannot load here."""
    missing = []
    for lib, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(package)
    return missing


def check_display(environ=None) -> None:
    """Raise :class:`NoDisplayError` if Qt would fail to open a window here."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform.split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return
    if not sys.platform.startswith("linux"):
        return
    if env.get("WAYLAND_DISPLAY") and not platform.startswith("xcb"):
        return
    display = env.get("DISPLAY", "")
    if not display:
        raise NoDisplayError(f"no display found (DISPLAY is not set); {HEADLESS_HINT}")
    if not _x_server_reachable(display):
        raise NoDisplayError(f"cannot connect to the X display {display!r}; {HEADLESS_HINT}")
    missing = missing_xcb_packages()
    if missing:
        raise NoDisplayError("Qt needs system libraries that are missing; install them with "
                             f"'sudo apt-get install {' '.join(missing)}' (Debian/Ubuntu)")


def launch(*, files=(), demo: bool = False, screenshot: str | None = None,
           panel: str | None = None) -> int:
    """Start the application; returns the process exit status."""
    if screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # "render offscreen", display or not
    else:
        check_display()
    from .gui_app import run_application

    return run_application(files=list(files), demo=demo, screenshot=screenshot, panel=panel)
