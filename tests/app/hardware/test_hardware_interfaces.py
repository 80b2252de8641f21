"""Typed, validated settings and the error types of the hardware interfaces."""
import math

import numpy as np
import pytest

from batteryscope.app.errors import UserFacingError
from batteryscope.app.hardware.interfaces import (BiasSettings, CameraSettings, DeviceError,
                                                  DeviceSet, FrameMeta, ScanSettings, SettingError,
                                                  SpectrumImageSettings, check_range,
                                                  electrons_per_pixel)


@pytest.mark.parametrize("make, setting", [
    (lambda: CameraSettings(exposure_s=0.0), "exposure_s"),
    (lambda: CameraSettings(exposure_s=math.nan), "exposure_s"),
    (lambda: CameraSettings(binning=3), "binning"),
    (lambda: CameraSettings(binning=2.0), "binning"),
    (lambda: CameraSettings(exposure_s="fast"), "exposure_s"),
    (lambda: CameraSettings(size=(1002, 1002), binning=4), "binning"),
    (lambda: CameraSettings(size=(0, 5)), "size"),
    (lambda: CameraSettings(exposure_s=0.01, frame_rate_hz=200.0), "frame_rate_hz"),
    (lambda: ScanSettings(dwell_s=1e-9), "dwell_s"),
    (lambda: ScanSettings(detectors=("HAADF", "SE")), "detectors"),
    (lambda: ScanSettings(detectors=()), "detectors"),
    (lambda: ScanSettings(detectors=("BF", "BF")), "detectors"),
    (lambda: ScanSettings(shape=(256, 2.5)), "shape"),
    (lambda: ScanSettings(pixel_size_A=-1.0), "pixel_size_A"),
    (lambda: SpectrumImageSettings(channels=10), "channels"),
    (lambda: SpectrumImageSettings(channels=64.5), "channels"),
    (lambda: SpectrumImageSettings(dispersion_eV=0.0), "dispersion_eV"),
    (lambda: SpectrumImageSettings(offset_eV=5000.0), "offset_eV"),
    (lambda: BiasSettings(mode="power"), "mode"),
    (lambda: BiasSettings(mode="current", setpoint=2.0), "setpoint"),
    (lambda: BiasSettings(mode="current", compliance=0.0), "compliance"),
    (lambda: BiasSettings(mode="voltage", setpoint=300.0), "setpoint"),
    (lambda: BiasSettings(mode="voltage", setpoint=1.0, compliance=2.0), "compliance"),
    (lambda: BiasSettings(cutoff_low_V=4.0, cutoff_high_V=3.0), "cutoff_low_V"),
])
def test_out_of_range_settings_are_refused_naming_setting_value_and_range(make, setting):
    with pytest.raises(SettingError) as info:
        make()
    message = str(info.value)
    assert message.startswith(f"{setting} = ")
    assert "allowed:" in message
    assert info.value.setting == setting
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserFacingError)


def test_valid_settings_are_kept_and_normalised():
    cam = CameraSettings(exposure_s=0.0025, size=(1024, 1024), binning=2)
    assert cam.frame_shape == (512, 512)
    assert cam.frame_interval_s == pytest.approx(0.0025)
    scan = ScanSettings(shape=[128, 64], detectors="ABF")
    assert scan.shape == (128, 64) and scan.detectors == ("ABF",)
    si = SpectrumImageSettings(channels=32, dispersion_eV=0.5, offset_eV=500.0)
    assert np.allclose(si.energy_axis()[[0, -1]], [500.0, 515.5])
    assert BiasSettings(mode="current", setpoint=1e-12, compliance=4.5).setpoint == 1e-12  # pA


def test_check_range_message_and_device_prefix():
    with pytest.raises(SettingError, match=r"^cam 'x': exposure_s = 5 is not allowed "
                                           r"\(allowed: 0 … 1 s\)$"):
        check_range("exposure_s", 5, 0, 1, "s", device="cam 'x'")
    assert check_range("v", "0.5", 0, 1) == 0.5


def test_device_error_names_the_device():
    err = DeviceError("camera 'merlin'", "connection   closed\nby peer")
    assert str(err) == "camera 'merlin': connection closed by peer"
    assert err.device == "camera 'merlin'"
    assert str(DeviceError("all in one")) == "all in one"


def test_frame_meta_dict_and_electron_count():
    meta = FrameMeta(index=3, timestamp_s=1.0, monotonic_s=2.0, exposure_s=0.1,
                     settings={"a": 1})
    assert meta.to_dict()["settings"] == {"a": 1}
    assert electrons_per_pixel(1.602176634e-10, 1e-6) == pytest.approx(1000.0)


def test_device_set_lists_only_present_devices(sim_devices):
    kinds = [d.kind for d in sim_devices.devices()]
    assert kinds == ["camera", "scan", "spectrometer", "microscope", "stage", "bias"]
    assert list(DeviceSet().devices()) == []
