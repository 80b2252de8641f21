"""kill -9 in the middle of a recording, and a really full disk (a small tmpfs)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from batteryscope.app.acquisition.zspy_store import recover
from batteryscope.app.hyperspy_adapter import import_hyperspy
from fake_devices import expected_frame

HERE = Path(__file__).parent

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    from fake_devices import FakeCamera
    from batteryscope.app.acquisition.engine import AcquisitionEngine
    from batteryscope.app.acquisition.recording_layouts import movie_recording
    from batteryscope.app.acquisition.sources import CameraSource

    camera = FakeCamera(shape=(64, 48), fps=400)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=32)
    rec = movie_recording({out!r}, camera.frame_shape, camera.dtype, frame_interval_s=1 / 400,
                          expected_frames=64, chunk_frames=8)
    engine.start(duration_s=60, recording=rec, flush_interval_s=0.05)
    while True:                                   # report what is on disk until killed
        print(engine.counters().recorded, flush=True)
        time.sleep(0.01)
""")


def test_kill_9_mid_recording_leaves_every_flushed_frame_readable(tmp_path):
    out = tmp_path / "killed.zspy"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(here=str(HERE), out=str(out))],
                            stdout=subprocess.PIPE, text=True)
    flushed = 0
    try:
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            flushed = int(line)
            if flushed >= 150 or time.monotonic() > deadline:   # past a capacity growth
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert flushed >= 150, "the writer did not get going"
    s = import_hyperspy().load(out)
    flags = s.metadata.Acquisition.Frames.recorded.astype(bool)
    n = int(flags.sum())
    assert n >= flushed and flags[:n].all() and not flags[n:].any()   # a prefix: no holes
    index = s.metadata.Acquisition.Frames.index
    for i in range(n):
        np.testing.assert_array_equal(s.data[i], expected_frame(index[i], (64, 48)))
    assert recover(out) == n                       # trim the preallocated tail
    s = import_hyperspy().load(out)
    assert s.data.shape[0] == s.axes_manager[0].size == n
    assert "interrupted" in s.metadata.Acquisition.status


def _tmpfs_available(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c",
                            f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"],
                           capture_output=True)
    return probe.returncode == 0


CHECK = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import hyperspy.api as hs
    s = hs.load(sys.argv[1])
    f = s.metadata.Acquisition.Frames
    print(json.dumps({"frames": int(s.data.shape[0]), "axis": int(s.axes_manager[0].size),
                      "recorded": int(f.recorded.sum()), "status": s.metadata.Acquisition.status,
                      "nonzero": bool((s.data.reshape(len(s.data), -1).max(axis=1) > 0).all())}))
""")


@pytest.mark.slow
def test_a_full_tmpfs_stops_the_cli_cleanly_with_the_file_closed(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _tmpfs_available(disk):
        pytest.skip("unprivileged mount namespaces (unshare -r -m) are not available here")
    check = tmp_path / "check.py"
    check.write_text(CHECK)
    out = disk / "full.zspy"
    script = (f"mount -t tmpfs -o size=3m tmpfs {disk} && "
              f"{sys.executable} -m batteryscope.app.cli acquire --frames 2000 --size 128 --fps 1000 "
              f"--chunk 4 --quiet --out {out}; echo \"rc=$?\"; {sys.executable} {check} {out}")
    done = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], capture_output=True,
                          text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert "rc=2" in lines, done.stdout + done.stderr
    assert "No space left on device" in done.stderr and "full.zspy" in done.stderr
    assert "Traceback" not in done.stderr
    recorded = int(done.stdout.split("frames recorded:")[1].split()[0])
    assert 20 < recorded < 2000                    # 3 MiB hold ~90 frames of 32 KiB
    result = json.loads(lines[-1])
    assert result["frames"] == result["axis"] == result["recorded"] == recorded
    assert result["nonzero"] and "No space left on device" in result["status"]
