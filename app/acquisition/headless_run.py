"""What ``batteryscope acquire`` and ``acquire-si`` share: opening the driver, running the
engine in the foreground with a progress line, and the summary they print."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import FileSaveError, UserFacingError
from .engine import AcquisitionEngine, AcquisitionError, RunState


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--driver", default="simulated", help="hardware driver (default: simulated)")
    p.add_argument("--driver-option", action="append", default=[], metavar="KEY=VALUE",
                   help="driver option (repeatable), e.g. seed=3")
    p.add_argument("--out", required=True, metavar="FILE.zspy",
                   help="new .zspy store to record into (opens with hyperspy.api.load)")
    p.add_argument("--bias", action="store_true",
                   help="record the source-measure unit's V and I with every frame")
    p.add_argument("--dose-budget", type=float, metavar="E_PER_A2",
                   help="dose budget per specimen region (e/Å²): stop the run when reached")
    p.add_argument("--fsync", action="store_true",
                   help="fsync every chunk (survives a power cut, slower)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def check_out_path(out: str) -> Path:
    path = Path(out).expanduser()
    if path.suffix.lower() != ".zspy":
        raise FileSaveError(path, "acquisitions are recorded as .zspy stores (use FILE.zspy)")
    if path.exists():
        raise FileSaveError(path, "already exists (choose another name)")
    if not path.parent.is_dir():
        raise FileSaveError(path, f"folder {path.parent} does not exist")
    return path


def open_devices(args):
    """(driver, DeviceSet) for ``--driver`` with its ``--driver-option`` values."""
    from ..hardware.discovery import load_driver

    options = {}
    for item in args.driver_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserFacingError(f"--driver-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    driver = load_driver(args.driver)
    return driver, driver.open(**options)


def run_foreground(engine: AcquisitionEngine, *, quiet: bool, total: int | None,
                   what: str = "frames") -> int:
    """Wait for the run, with a progress line on stderr; Ctrl-C stops it cleanly.

    Returns the exit status (0, or 130 after Ctrl-C); raises AcquisitionError if the run
    ended in error, after the summary has been printed.
    """
    t0 = time.monotonic()
    interrupted = False
    try:
        while engine.state is RunState.RUNNING:
            engine.wait(0.5)
            if not quiet and engine.state is RunState.RUNNING:
                c = engine.counters()
                of = f"/{total}" if total else ""
                print(f"\r{what}: {c.acquired}{of} acquired, {c.recorded} recorded, "
                      f"{c.dropped} dropped", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        engine.stop()
        engine.wait()
    elapsed = time.monotonic() - t0
    if not quiet:
        print(file=sys.stderr)
    print_summary(engine, elapsed, what)
    if engine.state is RunState.ERROR:
        raise AcquisitionError(engine.error or "acquisition failed")
    return 130 if interrupted else 0


def print_summary(engine: AcquisitionEngine, elapsed_s: float, what: str) -> None:
    c = engine.counters()
    print(f"{what} acquired: {c.acquired}")
    print(f"{what} recorded: {c.recorded}")
    print(f"{what} dropped:  {c.dropped}")
    first, last = engine.first_frame_monotonic, engine.last_frame_monotonic
    if first is not None and last is not None and last > first and c.acquired > 1:
        rate = (c.acquired - 1) / (last - first)
        print(f"rate: {rate:.1f} {what}/s acquired over {last - first:.2f} s "
              f"({elapsed_s:.2f} s in all, start-up and writing included)"
              + (f"; the camera waited for the disk {c.ring_waits} times" if c.ring_waits else ""))
    if engine.recorder is not None:
        if c.acquired > c.recorded:
            print(f"{what} not recorded: {c.acquired - c.recorded} (the recording stopped before they were written)")
        print(f"file: {engine.recorder.path}")
