"""Merlin driver over its real TCP protocol, against LiberTEM-live's Merlin simulator.

The simulator runs as a separate process on 127.0.0.1 (started by the ``merlin_sim``
fixture, stopped by its PID); it replays a MIB file that the fixture writes.
"""
import time

import numpy as np
import pytest

from batteryscope.app.hardware.interfaces import (CameraSettings, DeviceError, DeviceState,
                                                  SettingError)
from batteryscope.app.hardware.merlin import (MerlinDriver, parse_acquisition_header,
                                              parse_frame_header)

FIRST_FRAME_TIMEOUT_S = 300.0   # the simulator compiles numba code on its first acquisition


def _let_the_simulator_drop_old_connections():
    """The simulator serves one data connection at a time and notices a closed one within
    0.1 s; a STARTACQUISITION arriving before that is spent on the dead connection."""
    time.sleep(0.5)


def test_frame_and_acquisition_headers_are_parsed():
    header = (b"MQ1,000042,00384,04,0512,0256,U32,   2x2,0F,2026-11-27 12:00:00.000000,0.000500,"
              b"0,0,0,1.0E+1" + b"\x00" * 300)
    fields = parse_frame_header(header)
    assert fields["sequence"] == 42 and fields["header_size"] == 384
    assert (fields["height"], fields["width"]) == (256, 512) and fields["dtype"] == ">u4"
    assert fields["chips"] == 4 and fields["shutter_s"] == 0.0005
    with pytest.raises(ValueError, match="R64"):
        parse_frame_header(header.replace(b"U32", b"R64"))
    with pytest.raises(ValueError, match="not a MIB frame header"):
        parse_frame_header(b"\x00" * 64)
    acq = parse_acquisition_header(b"HDR,\nFrames in Acquisition (Number):\t64\n"
                                   b"Counter Depth (number):\t12\nEnd\t")
    assert acq == {"Frames in Acquisition (Number)": "64", "Counter Depth (number)": "12"}


def test_connection_refused_is_a_device_error():
    from conftest import free_port
    port = free_port()
    with pytest.raises(DeviceError, match=rf"^camera 'merlin': cannot connect to 127.0.0.1:{port}"):
        MerlinDriver().open(control_port=port, data_port=port, timeout_s=1)


def _read_acquisition(cam, frames):
    out = np.empty(cam.frame_shape, cam.dtype)
    cam.start()
    metas = [cam.read_frame(out, timeout_s=FIRST_FRAME_TIMEOUT_S)]
    assert np.array_equal(out, frames[0])
    t0 = time.perf_counter()
    for expected in frames[1:]:
        metas.append(cam.read_frame(out, timeout_s=30))
        assert np.array_equal(out, expected)
    rate = (len(frames) - 1) / (time.perf_counter() - t0)
    return metas, rate


@pytest.mark.slow
def test_merlin_frames_arrive_bit_exact(merlin_sim):
    driver = MerlinDriver()
    cam = driver.open(control_port=merlin_sim.control_port, data_port=merlin_sim.data_port).camera
    _let_the_simulator_drop_old_connections()
    try:
        assert cam.frame_shape == (256, 256) and cam.dtype == np.uint16
        with pytest.raises(SettingError, match="size"):
            cam.configure(CameraSettings(size=(512, 512)))
        cam.configure(CameraSettings(exposure_s=0.001, size=(256, 256)))
        rates = []
        for repeat in range(2):
            metas, rate = _read_acquisition(cam, merlin_sim.frames)
            rates.append(rate)
            assert [m.settings["sequence"] for m in metas] == list(range(1, 65))
            assert metas[0].index == 64 * repeat and metas[-1].exposure_s == 0.001
            assert cam.frames_in_acquisition == 64
            with pytest.raises(TimeoutError):       # the acquisition is complete
                cam.read_frame(np.empty((256, 256), np.uint16), timeout_s=0.3)
            cam.stop()
        print(f"\nMerlin simulator → driver: {max(rates):.0f} frames/s (256×256 U16)")
    finally:
        driver.close()


@pytest.mark.slow
def test_detector_going_away_then_coming_back(merlin_sim):
    driver = MerlinDriver()
    cam = driver.open(control_port=merlin_sim.control_port, data_port=merlin_sim.data_port,
                      timeout_s=5).camera
    _let_the_simulator_drop_old_connections()
    try:
        cam.configure(CameraSettings(exposure_s=0.001, size=(256, 256)))
        _read_acquisition(cam, merlin_sim.frames)
        cam.stop()
        merlin_sim.stop()                                    # the detector PC goes away
        with pytest.raises(DeviceError, match="^camera 'merlin': "):
            cam.start()
            cam.read_frame(np.empty((256, 256), np.uint16), timeout_s=5)
        assert cam.state is DeviceState.ERROR
        with pytest.raises(DeviceError, match="reconnect first"):
            cam.start()
        merlin_sim.start()                                   # back, same ports
        cam.reconnect()
        assert cam.state is DeviceState.IDLE
        _read_acquisition(cam, merlin_sim.frames)
        cam.stop()
    finally:
        driver.close()
