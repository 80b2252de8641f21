"""Physics of the simulated STEM: shot noise, drift, dose-dependent damage, EELS, limits."""
import numpy as np
import pytest
from skimage.registration import phase_cross_correlation

from batteryscope.app.hardware.interfaces import (DeviceError, DeviceState, ScanSettings,
                                                  SettingError, SpectrumImageSettings)
from batteryscope.app.hardware.simulated import SimulatedDriver


def _two_frames(scan, settings):
    scan.configure(settings)
    buf = np.empty((len(settings.detectors),) + settings.shape, np.float32)
    scan.start()
    first = scan.read_frame(buf)
    a = buf.copy()
    second = scan.read_frame(buf)
    scan.stop()
    return a, buf.copy(), first, second


def test_shot_noise_variance_is_proportional_to_dose(sim_devices):
    ratios, means = [], []
    for current in (20e-12, 80e-12):
        s = ScanSettings(shape=(64, 64), dwell_s=1e-6, detectors=("ABF",), beam_current_A=current)
        a, b, meta, _ = _two_frames(sim_devices.scan, s)
        var = np.var(a[0] - b[0]) / 2.0        # same expected image: difference is pure noise
        ratios.append(var / a[0].mean())
        means.append(a[0].mean())
        assert meta.electrons == pytest.approx(current * 1e-6 / 1.602176634e-19 * 64 * 64)
    assert ratios == pytest.approx([1.0, 1.0], rel=0.1)          # Poisson: variance = mean
    assert means[1] / means[0] == pytest.approx(4.0, rel=0.05)   # counts ∝ dose


def _drift_between_frames(drift_A_per_s):
    driver = SimulatedDriver()
    devices = driver.open(seed=1, drift_A_per_s=drift_A_per_s,
                          critical_dose_e_per_A2=float("inf"), row_jitter_px=0.0, read_noise=0.0)
    try:
        scan = devices.scan
        s = ScanSettings(shape=(128, 128), dwell_s=1e-6, detectors=("HAADF", "ABF"),
                         beam_current_A=2e-9)
        scan.configure(s)
        buf = np.empty((2, 128, 128), np.float32)
        scan.start()
        m0 = scan.read_frame(buf)
        a = buf[1].copy()
        scan.stop()
        import time
        time.sleep(0.4)
        scan.start()
        m1 = scan.read_frame(buf)
        scan.stop()
        # shift that registers the later frame onto the first = minus the image displacement;
        # the image moves with the specimen (a feature at X is seen at scan position X + drift)
        shift_px, _, _ = phase_cross_correlation(a, buf[1], upsample_factor=20)
        pixel = m0.settings["pixel_size_A"]
        spec = scan._column.specimen
        d0, d1 = np.array(spec.drift_A(m0.monotonic_s)), np.array(spec.drift_A(m1.monotonic_s))
        return -shift_px * pixel, (d1 - d0)[::-1], pixel         # (y, x) order
    finally:
        driver.close()


def test_specimen_drift_moves_the_image_by_the_drift():
    measured, expected, pixel = _drift_between_frames(5.0)
    assert np.hypot(*expected) > 1.0                              # > 4 px of drift
    assert measured == pytest.approx(expected, abs=2 * pixel)
    still, _, pixel = _drift_between_frames(0.0)
    assert np.abs(still).max() < 0.2 * pixel


def _lattice_contrast(frame):
    """Relative lattice contrast with the Poisson noise variance (= mean) removed."""
    m = frame.mean()
    return np.sqrt(max(frame.var() - m, 0.0)) / m


def test_beam_damage_grows_with_dose_and_stays_where_the_beam_was():
    driver = SimulatedDriver()
    devices = driver.open(seed=2, drift_A_per_s=0.0, critical_dose_e_per_A2=5e4,
                          row_jitter_px=0.0, read_noise=0.0)
    try:
        scan, stage = devices.scan, devices.stage
        s = ScanSettings(shape=(64, 64), dwell_s=1e-6, detectors=("ABF",), beam_current_A=1e-9)
        scan.configure(s)
        buf = np.empty((1, 64, 64), np.float32)
        scan.start()
        contrast, damage, dose = [], [], []
        for _ in range(6):
            meta = scan.read_frame(buf)
            contrast.append(_lattice_contrast(buf[0]))
            damage.append(meta.settings["mean_damage"])
            dose.append(meta.dose_e_per_A2)
        scan.stop()
        assert dose[0] > 2e4                                  # ~3e4 e/Å² per frame
        assert damage[0] == 0.0 and all(np.diff(damage) > 0)  # grows with cumulative dose
        assert damage[-1] > 0.9
        assert contrast[-1] < 0.5 * contrast[0]               # lattice contrast lost
        assert devices.microscope.cumulative_dose_e_per_A2 > 0
        stage.move_to(x_um=0.003)                             # 30 Å away: a fresh area
        scan.start()
        meta = scan.read_frame(buf)
        scan.stop()
        assert meta.settings["mean_damage"] < 0.2
        assert _lattice_contrast(buf[0]) > 0.8 * contrast[0]
    finally:
        driver.close()


def test_blanked_beam_gives_no_counts_and_no_dose(sim_devices):
    sim_devices.microscope.blank()
    s = ScanSettings(shape=(32, 32), dwell_s=1e-6, detectors=("HAADF", "BF"))
    a, _, meta, _ = _two_frames(sim_devices.scan, s)
    assert not a.any() and meta.electrons == 0.0
    assert sim_devices.microscope.cumulative_dose_e_per_A2 == 0.0
    sim_devices.microscope.unblank()
    a, _, meta, _ = _two_frames(sim_devices.scan, s)
    assert a[1].mean() > 10 * a[0].mean() > 0                      # BF ≫ HAADF


def test_scan_fills_dict_buffers_and_checks_them(sim_devices):
    scan = sim_devices.scan
    scan.configure(ScanSettings(shape=(16, 24), dwell_s=1e-6, detectors=("HAADF", "BF")))
    bufs = {"HAADF": np.zeros((16, 24), np.float32), "BF": np.zeros((16, 24), np.float32)}
    scan.start()
    meta = scan.read_frame(bufs)
    assert bufs["HAADF"].any() and bufs["BF"].any() and meta.index == 0
    with pytest.raises(ValueError, match="buffer"):
        scan.read_frame({"HAADF": np.zeros((16, 24), np.float64)})
    with pytest.raises(SettingError, match="stop the scan"):
        scan.configure(ScanSettings())
    scan.stop()


def test_spectrum_image_rows_show_edges_and_damage_oxidises_iron():
    driver = SimulatedDriver()
    devices = driver.open(seed=4, drift_A_per_s=0.0, critical_dose_e_per_A2=1e7)
    try:
        scan = devices.scan
        si = SpectrumImageSettings(shape=(3, 16), dwell_s=2e-3, channels=2048,
                                   dispersion_eV=0.25, offset_eV=400.0, beam_current_A=1e-9)
        energy = si.energy_axis()

        def acquire():
            scan.start_spectrum_image(si)
            spectra = np.empty((16, 2048), np.float32)
            haadf = np.empty(16, np.float32)
            total = np.zeros(2048)
            rows = []
            for _ in range(3):
                meta = scan.read_si_row(spectra, haadf)
                rows.append(meta.index)
                total += spectra.sum(0)
            assert rows == [0, 1, 2] and meta.settings["last_row"] and haadf.mean() > 0
            assert scan.state is DeviceState.IDLE
            with pytest.raises(DeviceError, match="no spectrum image"):
                scan.read_si_row(spectra, haadf)
            window = (energy > 700) & (energy < 716)
            return total, energy[window][np.argmax(total[window])]

        fresh, l3_fresh = acquire()
        before = fresh[(energy > 515) & (energy < 525)].mean()
        after = fresh[(energy > 545) & (energy < 555)].mean()
        assert after > 1.2 * before                                 # O-K edge at 532 eV
        assert l3_fresh == pytest.approx(708.5, abs=0.6)           # Fe2+ L3
        assert devices.spectrometer.dispersion_eV == 0.25
        # irradiate the same area hard, then look again: Fe3+ L3 is 1.5 eV higher
        scan.configure(ScanSettings(shape=(16, 16), dwell_s=1e-4, beam_current_A=1e-8,
                                    pixel_size_A=scan._pixel_size_A(si) * 16 / 16))
        scan.start()
        buf = np.empty((1, 16, 16), np.float32)
        for _ in range(3):
            scan.read_frame(buf)
        scan.stop()
        _, l3_damaged = acquire()
        assert l3_damaged - l3_fresh > 0.8
    finally:
        driver.close()


def test_column_and_stage_settings_are_validated(sim_devices):
    mic, stage = sim_devices.microscope, sim_devices.stage
    with pytest.raises(SettingError, match="beam_current_A = -1"):
        mic.set_beam_current(-1)
    with pytest.raises(SettingError, match="high_tension_V"):
        mic.set_high_tension(500e3)
    mic.set_magnification(2e7)
    assert mic.pixel_size_A == pytest.approx(0.06)
    mic.set_high_tension(200e3)
    assert mic.high_tension_V == 200e3
    with pytest.raises(SettingError, match=r"alpha_deg = 80.0 is not allowed \(allowed: -70 … 70 °\)"):
        stage.move_to(alpha_deg=80.0)
    assert stage.position.alpha_deg == 0.0                    # refused move did not happen
    assert stage.move_to(x_um=12.5, alpha_deg=-10).x_um == 12.5
    with pytest.raises(DeviceError, match="no axis gamma"):
        stage.move_to(gamma=1.0)
    with pytest.raises(SettingError, match="dispersion_eV"):
        sim_devices.spectrometer.set_dispersion(0.3)
    with pytest.raises(SettingError, match="channels"):
        sim_devices.scan.start_spectrum_image(SpectrumImageSettings(channels=4096))
