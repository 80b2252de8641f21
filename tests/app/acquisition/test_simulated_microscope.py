"""The engine and the CLI commands on the built-in simulated microscope."""
import numpy as np
import pytest

from batteryscope.app import cli
from batteryscope.app.acquisition.engine import AcquisitionEngine, ContextSampler, RunState
from batteryscope.app.acquisition.recording_layouts import movie_recording
from batteryscope.app.acquisition.sources import CameraSource
from batteryscope.app.hardware.interfaces import CameraSettings
from batteryscope.app.hardware.simulated import SimulatedDriver
from batteryscope.app.hyperspy_adapter import import_hyperspy


def test_acquire_records_frames_with_bias_stage_and_dose(tmp_path, capsys):
    out = tmp_path / "movie.zspy"
    rc = cli.main(["acquire", "--frames", "40", "--size", "128", "--fps", "200", "--bias",
                   "--pixel-size-A", "2", "--quiet", "--driver-option", "seed=1", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "frames acquired: 40" in text and "frames recorded: 40" in text and "frames dropped:" in text
    s = import_hyperspy().load(out)
    assert s.data.shape == (40, 128, 128) and s.data.dtype == np.uint16 and s.data.max() > 0
    f = s.metadata.Acquisition.Frames
    assert np.isfinite(f.bias_V).all() and np.isfinite(f.bias_A).all()
    assert np.isfinite(f.stage_x_um).all() and (f.dose_e_per_A2 > 0).all()
    assert np.all(np.diff(f.region_dose_e_per_A2) > 0)          # the region's dose accumulates
    assert np.all(np.diff(f.index) >= 1)
    bias = s.metadata.Acquisition.Bias                           # the electrochemical curve
    assert len(bias.voltage_V) == len(bias.current_A) == len(bias.timestamp_s) >= 2
    assert bias.timestamp_s[0] <= f.timestamp_s[-1] and np.isfinite(bias.voltage_V).all()
    assert s.axes_manager["x"].scale == pytest.approx(0.2) and s.axes_manager["x"].units == "nm"
    assert s.metadata.Acquisition_instrument.TEM.beam_energy == pytest.approx(300.0)


@pytest.mark.slow
def test_acquire_si_records_an_eels_spectrum_image_and_haadf(tmp_path, capsys):
    out = tmp_path / "si.zspy"
    rc = cli.main(["acquire-si", "--shape", "6x8", "--channels", "256", "--dwell", "2e-4",
                   "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "rows acquired: 6" in text and "rows recorded: 6" in text
    signals = import_hyperspy().load(out)
    eels = next(s for s in signals if s.metadata.Signal.signal_type == "EELS")
    haadf = next(s for s in signals if s.metadata.General.title == "HAADF")
    assert eels.data.shape == (6, 8, 256) and haadf.data.shape == (6, 8)
    e = eels.axes_manager.signal_axes[0]
    assert (e.units, e.scale, e.offset) == ("eV", 0.25, 400.0)
    assert eels.data.sum() > 0 and haadf.data.min() > 0
    assert len(eels.metadata.Acquisition.Frames.index) == 6


def test_cli_refuses_a_bad_output_and_stops_at_the_dose_budget(tmp_path, capsys):
    assert cli.main(["acquire", "--frames", "5", "--out", str(tmp_path / "x.hspy")]) == 2
    assert ".zspy" in capsys.readouterr().err
    out = tmp_path / "budget.zspy"
    rc = cli.main(["acquire", "--seconds", "20", "--size", "64", "--fps", "200", "--quiet",
                   "--pixel-size-A", "1", "--dose-budget", "500", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc != 0 and "dose budget of 500 e/Å² reached" in captured.err
    recorded = int(captured.out.split("frames recorded:")[1].split()[0])
    s = import_hyperspy().load(out)
    assert 0 < s.data.shape[0] == recorded
    assert s.metadata.Acquisition.Frames.region_dose_e_per_A2[-1] >= 500


def test_a_simulated_cable_pull_stops_the_run_and_a_reconnect_clears_it(tmp_path):
    driver = SimulatedDriver()
    devices = driver.open(seed=2)
    try:
        camera = devices.camera
        camera.configure(CameraSettings(exposure_s=1 / 300, frame_rate_hz=300, size=(64, 64)))
        engine = AcquisitionEngine(CameraSource(camera), sampler=ContextSampler(stage=devices.stage))
        rec = movie_recording(tmp_path / "pull.zspy", (64, 64), np.uint16, frame_interval_s=1 / 300,
                              chunk_frames=8)
        engine.start(duration_s=20, recording=rec)
        while engine.counters().acquired < 30:
            engine.wait(0.01)
        camera.simulate_disconnect()
        status = engine.wait(10)
        assert status.state is RunState.ERROR and "simulated cable pull" in status.error
        assert status.counters.recorded == status.counters.acquired >= 30
        s = import_hyperspy().load(tmp_path / "pull.zspy")
        assert s.data.shape[0] == status.counters.recorded and s.data[-1].max() > 0
        assert "simulated cable pull" in s.metadata.Acquisition.status
        engine.reconnect()
        engine.start(frames=10)
        assert engine.wait(10).state is RunState.FINISHED
    finally:
        driver.close()


def test_a_bias_source_failure_ends_the_run_and_reconnect_clears_it(tmp_path):
    from fake_devices import FakeCamera

    driver = SimulatedDriver()
    devices = driver.open(seed=3)
    try:
        camera = FakeCamera(fps=200)
        engine = AcquisitionEngine(CameraSource(camera),
                                   sampler=ContextSampler(bias=devices.bias, rate_hz=50))
        rec = movie_recording(tmp_path / "bias.zspy", camera.frame_shape, camera.dtype,
                              frame_interval_s=1 / 200, chunk_frames=8)
        engine.start(duration_s=20, recording=rec)
        while engine.counters().acquired < 20:
            engine.wait(0.01)
        devices.bias.simulate_disconnect()
        status = engine.wait(10)
        assert status.state is RunState.ERROR and "sim-smu" in status.error
        s = import_hyperspy().load(tmp_path / "bias.zspy")
        assert s.data.shape[0] == status.counters.recorded >= 20
        assert np.isfinite(s.metadata.Acquisition.Frames.bias_V).all()
        with pytest.raises(Exception, match="reconnect first"):
            engine.start(frames=5)
        engine.reconnect()                          # the camera and the SMU
        engine.start(frames=10)
        assert engine.wait(10).state is RunState.FINISHED
    finally:
        driver.close()
