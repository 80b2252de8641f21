"""Fixtures for the hardware tests: the simulated driver, pyvisa-sim SMU, Merlin simulator."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest


@pytest.fixture
def sim_devices():
    """A freshly opened simulated set with no drift, no damage and no extra noise."""
    from batteryscope.app.hardware.simulated import SimulatedDriver

    driver = SimulatedDriver()
    devices = driver.open(seed=3, drift_A_per_s=0.0, critical_dose_e_per_A2=float("inf"),
                          row_jitter_px=0.0, read_noise=0.0)
    yield devices
    driver.close()


# ----------------------------------------------------------------------------- Merlin
def write_mib(path: pathlib.Path, n_frames: int = 64, shape=(256, 256), seed: int = 0) -> np.ndarray:
    """Write a single-chip U16 MIB file (our own writer, from the public MIB header layout).

    Each frame: ASCII header padded with NULs to 384 bytes, then big-endian pixels.
    Returns the frames (native uint16) for comparison.
    """
    rng = np.random.default_rng(seed)
    frames = rng.poisson(3.0, size=(n_frames,) + tuple(shape)).astype(np.uint16)
    frames[:, 0, 0] = np.arange(n_frames)              # each frame identifiable
    with open(path, "wb") as f:
        for i, frame in enumerate(frames, start=1):
            fields = ["MQ1", f"{i:06d}", "00384", "01", f"{shape[1]:04d}", f"{shape[0]:04d}", "U16",
                      "   1x1", "01", "2026-11-27 12:00:00.000000", "0.001000", "0", "0", "0",
                      "1.000000E+1", "5.110000E+2"] + ["0.000000E+0"] * 6 + [
                      "3RX", "MQ1A", "2026-11-27T12:00:00.000000000Z", "1000000ns", "12", ""]
            header = ",".join(fields).encode("ascii")
            f.write(header + b"\x00" * (384 - len(header)))
            f.write(frame.astype(">u2").tobytes())
    return frames


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether a socket listens on ``port``, without connecting to it.

    Connecting to probe is not harmless: the Merlin simulator may take a probe connection
    for the client and send the acquisition to it (then waits for a second
    STARTACQUISITION that never comes). Linux's /proc/net/tcp tells us without touching it.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen) -> None:
    """Wait until something listens on ``port`` (checked without connecting)."""
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("needs /proc/net/tcp to see the simulator's sockets without connecting")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with status {proc.returncode}")
        if _listening(port):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop the simulator we started, by its PID: SIGINT, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


class MerlinSimulator:
    """libertem-live's Merlin simulator as a subprocess on 127.0.0.1."""

    def __init__(self, mib: pathlib.Path, nav=(8, 8), log: pathlib.Path | None = None):
        self.mib, self.nav, self.log = mib, nav, log
        self.control_port, self.data_port, self.trigger_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300.0) -> None:
        exe = shutil.which("libertem-live-mib-sim", path=os.path.dirname(sys.executable))
        command = ([exe] if exe else [sys.executable, "-m", "libertem_live.detectors.merlin.sim"]) + [
            str(self.mib), "--nav-shape", str(self.nav[0]), str(self.nav[1]),
            "--host", "127.0.0.1", "--data-port", str(self.data_port),
            "--control-port", str(self.control_port), "--trigger-port", str(self.trigger_port),
            "--wait-trigger", "--cached", "MEM"]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:   # first start compiles numba code: allow minutes on a busy machine
            wait_for_port(self.control_port, timeout_s, self.proc)
            wait_for_port(self.data_port, timeout_s, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture(scope="module")
def merlin_sim(tmp_path_factory):
    pytest.importorskip("libertem_live", reason="libertem-live (test extra) is not installed: "
                                                "the Merlin detector simulator is needed")
    folder = tmp_path_factory.mktemp("merlin")
    frames = write_mib(folder / "frames.mib")
    sim = MerlinSimulator(folder / "frames.mib", log=folder / "sim.log")
    sim.start()
    sim.frames = frames
    yield sim
    sim.stop()
