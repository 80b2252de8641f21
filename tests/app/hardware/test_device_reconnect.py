"""A failing device raises DeviceError, stays in the error state, and reconnect clears it."""
import numpy as np
import pytest

from batteryscope.app.hardware.interfaces import (BiasSettings, CameraSettings, DeviceError,
                                                  DeviceState, ScanSettings)
from batteryscope.app.hardware.simulated import SimulatedDriver


def test_camera_disconnect_mid_run_then_reconnect(sim_devices):
    cam = sim_devices.camera
    cam.configure(CameraSettings(exposure_s=1e-3, size=(128, 128)))
    out = np.empty((128, 128), np.uint16)
    cam.start()
    cam.read_frame(out)
    cam.simulate_disconnect("USB cable pulled")
    with pytest.raises(DeviceError, match=r"^camera 'sim-camera': USB cable pulled$"):
        cam.read_frame(out)
    assert cam.state is DeviceState.ERROR and cam.error == "USB cable pulled"
    with pytest.raises(DeviceError, match="reconnect first"):
        cam.start()
    cam.reconnect()
    assert cam.state is DeviceState.IDLE and cam.error is None
    cam.start()
    assert cam.read_frame(out).index == 0
    cam.stop()


def test_every_simulated_device_fails_and_recovers(sim_devices):
    calls = {
        "scan": lambda d: d.configure(ScanSettings(shape=(8, 8))),
        "spectrometer": lambda d: d.set_offset(500.0),
        "microscope": lambda d: d.set_beam_current(1e-11),
        "stage": lambda d: d.move_to(x_um=1.0),
        "bias": lambda d: d.configure(BiasSettings()),
    }
    for kind, call in calls.items():
        device = getattr(sim_devices, kind)
        device.simulate_disconnect()
        with pytest.raises(DeviceError, match=rf"^{kind} '"):
            call(device)
        with pytest.raises(DeviceError, match="error state"):
            call(device)
        device.reconnect()
        call(device)


def test_exception_inside_the_simulation_ends_the_run_in_error_state(sim_devices, monkeypatch):
    scan = sim_devices.scan
    scan.configure(ScanSettings(shape=(8, 8), dwell_s=1e-6))
    scan.start()

    def broken(*args, **kwargs):
        raise FloatingPointError("numerical blow-up")

    monkeypatch.setattr(scan._column.specimen, "sample", broken)
    with pytest.raises(DeviceError, match="scan simulation failed: FloatingPointError"):
        scan.read_frame(np.empty((1, 8, 8), np.float32))
    monkeypatch.undo()
    scan.reconnect()
    scan.start()
    scan.read_frame(np.empty((1, 8, 8), np.float32))
    scan.stop()


def test_driver_reconnect_opens_a_fresh_set():
    driver = SimulatedDriver()
    first = driver.open(seed=5)
    first.camera.simulate_disconnect()
    second = driver.reconnect()
    assert first.camera.state is DeviceState.CLOSED
    with pytest.raises(DeviceError, match="closed"):
        first.camera.start()
    second.camera.configure(CameraSettings(size=(64, 64)))
    second.camera.start()
    second.camera.read_frame(np.empty((64, 64), np.uint16))
    driver.close()


def test_reading_before_start_is_refused_without_breaking_the_device(sim_devices):
    cam, scan = sim_devices.camera, sim_devices.scan
    cam.configure(CameraSettings(size=(32, 32)))
    with pytest.raises(DeviceError, match="not started"):
        cam.read_frame(np.empty((32, 32), np.uint16))
    assert cam.state is DeviceState.IDLE
    cam.start()
    cam.read_frame(np.empty((32, 32), np.uint16))
    cam.stop()
    scan.configure(ScanSettings(shape=(8, 8)))
    with pytest.raises(DeviceError, match="no scan running"):
        scan.read_frame(np.empty((1, 8, 8), np.float32))
    assert scan.state is DeviceState.IDLE
