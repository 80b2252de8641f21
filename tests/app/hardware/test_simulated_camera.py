"""The simulated 1024×1024 uint16 camera: speed, shot noise, frame bookkeeping, limits."""
import time

import numpy as np
import pytest

from batteryscope.app.hardware.interfaces import CameraSettings, DeviceState, SettingError


def test_camera_speed_at_1024_uint16(sim_devices):
    """Frames per second actually delivered into the caller's buffer (floor for a busy box)."""
    cam = sim_devices.camera
    cam.configure(CameraSettings(exposure_s=1e-4, size=(1024, 1024)))   # 10 kHz nominal
    out = np.empty(cam.frame_shape, cam.dtype)
    assert out.shape == (1024, 1024) and out.dtype == np.uint16
    cam.start()
    cam.read_frame(out)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        cam.read_frame(out)
        n += 1
    fps = n / (time.perf_counter() - t0)
    cam.stop()
    print(f"\nsimulated camera: {fps:.0f} frames/s at 1024×1024 uint16")
    assert fps >= 150


def test_camera_runs_at_the_set_frame_rate(sim_devices):
    cam = sim_devices.camera
    cam.configure(CameraSettings(exposure_s=0.0025, size=(256, 256)))   # 400 frames/s
    out = np.empty(cam.frame_shape, cam.dtype)
    cam.start()
    first = cam.read_frame(out)
    for _ in range(40):
        last = cam.read_frame(out)
    cam.stop()
    assert last.index == first.index + 40                     # nothing skipped by a fast reader
    assert last.monotonic_s - first.monotonic_s == pytest.approx(0.1, rel=1e-6)
    assert abs(last.timestamp_s - time.time()) < 5.0


def test_camera_shot_noise_variance_is_proportional_to_dose(sim_devices):
    cam = sim_devices.camera
    ratios, means = [], []
    for current in (2e-9, 8e-9):
        cam.configure(CameraSettings(exposure_s=0.0025, size=(256, 256), beam_current_A=current))
        a, b = np.empty((2, 256, 256), np.uint16)
        cam.start()
        meta = cam.read_frame(a)
        cam.read_frame(b)
        cam.stop()
        diff = a.astype(np.float64) - b
        ratios.append(diff.var() / 2 / a.mean())
        means.append(a.mean())
        assert meta.dose_e_per_A2 > 0
    assert ratios == pytest.approx([1.0, 1.0], rel=0.1)
    assert means[1] / means[0] == pytest.approx(4.0, rel=0.05)


def test_slow_reader_loses_the_oldest_frames_visibly(sim_devices):
    cam = sim_devices.camera
    cam.configure(CameraSettings(exposure_s=1e-3, size=(64, 64)))
    out = np.empty(cam.frame_shape, cam.dtype)
    cam.start()
    first = cam.read_frame(out)
    time.sleep(0.3)                                            # ~300 frames, buffer holds 64
    late = cam.read_frame(out)
    cam.stop()
    assert late.index - first.index > 100


def test_camera_timeout_and_limits(sim_devices):
    cam = sim_devices.camera
    with pytest.raises(SettingError, match=r"size = \(2048, 2048\) is not allowed"):
        cam.configure(CameraSettings(size=(2048, 2048)))
    with pytest.raises(SettingError, match="exposure_s"):
        cam.configure(CameraSettings(exposure_s=1e-5))
    cam.configure(CameraSettings(exposure_s=2.0, size=(1024, 1024), binning=4))
    assert cam.frame_shape == (256, 256)
    out = np.empty((256, 256), np.uint16)
    cam.start()
    assert cam.state is DeviceState.RUNNING
    with pytest.raises(SettingError, match="stop the camera"):
        cam.configure(CameraSettings())
    with pytest.raises(TimeoutError, match="no frame within 0.05 s"):
        cam.read_frame(out, timeout_s=0.05)
    with pytest.raises(ValueError, match="buffer must be"):
        cam.read_frame(np.empty((256, 256), np.float32))
    cam.stop()
