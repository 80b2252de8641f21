"""The acquisition engine with a test camera: counters, recording, errors, back-pressure."""
import errno
import threading
import time

import numpy as np
import pytest

from batteryscope.app.acquisition.engine import (AcquisitionEngine, AcquisitionError, RunState)
from batteryscope.app.acquisition.recording_layouts import movie_recording
from batteryscope.app.acquisition.sources import CameraSource
from batteryscope.app.acquisition.zspy_store import ZspyRecording
from batteryscope.app.hyperspy_adapter import import_hyperspy
from fake_devices import FakeCamera, expected_frame


def _record(tmp_path, camera, name="m.zspy", chunk=8, expected=16):
    return movie_recording(tmp_path / name, camera.frame_shape, camera.dtype, frame_interval_s=1e-3,
                           pixel_size_nm=0.05, expected_frames=expected, chunk_frames=chunk)


def _check_file(path, n_frames):
    """Every frame in the file is the one the camera sent with that device index."""
    s = import_hyperspy().load(path)
    index = s.metadata.Acquisition.Frames.index
    assert s.data.shape[0] == len(index) == n_frames
    for i, idx in enumerate(index):
        np.testing.assert_array_equal(s.data[i], expected_frame(idx, s.data.shape[1:]))
    return s


def test_every_frame_is_recorded_with_its_values_and_device_gaps_count_as_dropped(tmp_path):
    camera = FakeCamera(skip_every=10)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16)
    states = []
    engine.subscribe(lambda status: states.append(status.state))
    engine.subscribe(lambda status: 1 / 0)            # a broken listener changes nothing
    engine.start(frames=101, recording=_record(tmp_path, camera))
    status = engine.wait(20)
    assert status.state is RunState.FINISHED and status.error is None
    c = status.counters
    assert (c.acquired, c.recorded, c.dropped) == (101, 101, 10)
    assert states == [RunState.RUNNING, RunState.FINISHED]
    s = _check_file(tmp_path / "m.zspy", 101)
    frames = s.metadata.Acquisition.Frames
    assert np.all(np.diff(frames.monotonic_s) >= 0) and np.all(frames.dose_e_per_A2 == 2.0)
    assert np.isnan(frames.bias_V).all()              # no bias source in this run
    assert s.metadata.Acquisition.status == "complete"
    assert s.axes_manager["x"].units == "nm"


def test_a_device_failure_stops_the_run_cleanly_and_reconnect_clears_it(tmp_path):
    camera = FakeCamera(fail_at=37)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16)
    engine.start(frames=100, recording=_record(tmp_path, camera))
    status = engine.wait(20)
    assert status.state is RunState.ERROR
    assert "cable unplugged" in status.error and "camera 'fake'" in status.error
    assert status.counters.acquired == status.counters.recorded == 37
    s = _check_file(tmp_path / "m.zspy", 37)
    assert s.metadata.Acquisition.status.startswith("stopped: camera 'fake'")
    with pytest.raises(AcquisitionError, match="reconnect first"):
        engine.start(frames=5)
    engine.reconnect()
    assert engine.state is RunState.IDLE and camera.reconnects == 1
    engine.start(frames=20, recording=_record(tmp_path, camera, "again.zspy"))
    assert engine.wait(20).state is RunState.FINISHED
    _check_file(tmp_path / "again.zspy", 20)


def _limited_disk(monkeypatch, chunks_allowed):
    """A fake filesystem layer: data-chunk writes fail with ENOSPC after ``chunks_allowed``."""
    real = ZspyRecording._write_file
    written = []

    def write_file(self, path, parts):
        if "data" not in path.parts:                 # per-frame values: small, let them pass
            return real(self, path, parts)
        if len(written) >= chunks_allowed:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        real(self, path, parts)

    monkeypatch.setattr(ZspyRecording, "_write_file", write_file)


def test_a_full_disk_stops_the_run_with_a_clear_message_and_keeps_what_was_written(tmp_path, monkeypatch):
    _limited_disk(monkeypatch, chunks_allowed=3)
    camera = FakeCamera()
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16)
    engine.start(frames=1000, recording=_record(tmp_path, camera, chunk=8))
    status = engine.wait(20)
    assert status.state is RunState.ERROR
    assert "No space left on device" in status.error and "m.zspy" in status.error
    assert "24 frames kept" in status.error
    assert status.counters.recorded == 24 and status.counters.acquired < 1000
    monkeypatch.undo()
    s = _check_file(tmp_path / "m.zspy", 24)
    assert "No space left on device" in s.metadata.Acquisition.status


def _slow_disk(monkeypatch, seconds):
    real = ZspyRecording._write_file

    def write_file(self, path, parts):
        time.sleep(seconds)
        real(self, path, parts)

    monkeypatch.setattr(ZspyRecording, "_write_file", write_file)


def test_a_slow_disk_with_overflow_stop_ends_the_run_without_losing_a_recorded_frame(tmp_path, monkeypatch):
    _slow_disk(monkeypatch, 0.05)
    camera = FakeCamera(fps=2000)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16, overflow="stop")
    engine.start(frames=2000, recording=_record(tmp_path, camera, chunk=8))
    status = engine.wait(30)
    assert status.state is RunState.ERROR and "ring buffer full" in status.error
    # the frames acquired before the stop are all on disk: none lost silently
    assert status.counters.recorded == status.counters.acquired < 2000
    monkeypatch.undo()
    _check_file(tmp_path / "m.zspy", status.counters.recorded)


def test_a_slow_disk_with_overflow_block_paces_the_producer_and_records_everything(tmp_path, monkeypatch):
    _slow_disk(monkeypatch, 0.01)
    camera = FakeCamera()                          # as fast as read: it must wait for the disk
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16, overflow="block",
                               block_timeout_s=5)
    engine.start(frames=200, recording=_record(tmp_path, camera, chunk=8))
    status = engine.wait(30)
    assert status.state is RunState.FINISHED
    assert status.counters.recorded == 200 and status.counters.ring_waits > 0
    monkeypatch.undo()
    _check_file(tmp_path / "m.zspy", 200)


def test_display_takes_the_latest_frame_only_and_never_slows_acquisition():
    camera = FakeCamera(fps=500)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=8)
    engine.start(frames=150)
    shown = []
    while engine.state is RunState.RUNNING:
        frame = engine.latest_frame(newer_than=shown[-1] if shown else -1)
        if frame is not None:
            np.testing.assert_array_equal(frame.data, expected_frame(frame.meta["index"], camera.shape))
            shown.append(frame.seq)
        time.sleep(0.03)                           # a ~30 Hz display timer
    c = engine.wait(10).counters
    assert c.acquired == 150 and c.recorded == 0
    assert 0 < c.displayed == len(shown) < 150     # the display skipped frames
    assert shown == sorted(set(shown))


def test_stop_ends_a_timed_run_early_and_the_recording_is_complete(tmp_path):
    camera = FakeCamera(fps=200)
    engine = AcquisitionEngine(CameraSource(camera))
    engine.start(duration_s=30, recording=_record(tmp_path, camera, chunk=8))
    time.sleep(0.3)
    engine.stop()
    status = engine.wait(10)
    assert status.state is RunState.FINISHED and 10 < status.counters.acquired < 30 * 200
    _check_file(tmp_path / "m.zspy", status.counters.acquired)
    engine.start(frames=3)                          # ready again after a finished run
    assert engine.wait(10).counters.acquired == 3


def test_stop_recording_keeps_the_live_run_going(tmp_path):
    camera = FakeCamera(fps=300)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=16)
    calls = []
    unsubscribe = engine.subscribe(calls.append)
    engine.start(frames=150, recording=_record(tmp_path, camera, chunk=8))
    while engine.counters().acquired < 40:
        engine.wait(0.01)
    engine.stop_recording()
    unsubscribe()
    status = engine.wait(10)
    assert status.state is RunState.FINISHED and status.counters.acquired == 150
    assert 40 <= status.counters.recorded < 150
    _check_file(tmp_path / "m.zspy", status.counters.recorded)
    assert [s.state for s in calls] == [RunState.RUNNING]      # unsubscribed before the end


def test_a_camera_reconfigured_between_runs_gets_a_ring_of_its_new_size():
    camera = FakeCamera(shape=(16, 16))
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=4)
    engine.start(frames=5)
    engine.wait(10)
    camera.shape = (8, 12)
    engine.start(frames=5)
    assert engine.wait(10).state is RunState.FINISHED
    frame = engine.latest_frame()
    assert frame.data.shape == (8, 12)
    np.testing.assert_array_equal(frame.data, expected_frame(4, (8, 12)))
