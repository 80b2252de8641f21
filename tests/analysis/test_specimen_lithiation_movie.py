"""Tests of the synthetic in-situ SnO2 nanowire lithiation movie and its SMU log."""
import json

import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from batteryscope.analysis.specimens.lithiation_electrochemistry import (
    BiasCircuit, FrontKinetics, lithiation_charge_per_length)
from batteryscope.analysis.specimens.lithiation_movie import (
    effective_mean_free_path_nm, nanowire_lithiation_movie)


@pytest.fixture(scope="module")
def movie():
    return nanowire_lithiation_movie(seed=3)


@pytest.fixture(scope="module")
def clean():
    return nanowire_lithiation_movie(seed=3, shot_noise=False)


def _measured_front_px(frame, truth, i):
    """Front from the wire width along the axis: where it crosses the pristine/lithiated mean."""
    wire = truth["wire"]
    u, n = np.array(wire["axis_direction_yx"]), np.array(wire["axis_normal_yx"])
    start = np.array(wire["axis_start_px"]) + np.array(truth["frames"]["drift_px"][i])
    step = 0.25
    s, r = np.arange(5, 330, step), np.arange(-60, 60 + step, step)
    coords = start[:, None, None] + s[None, :, None] * u[:, None, None] + r[None, None, :] * n[:, None, None]
    profile = ndimage.map_coordinates(frame, coords, order=1)
    width = (profile < 0.97 * np.median(frame[:40])).sum(axis=1) * step
    lithiated, pristine = np.median(width[(s > 25) & (s < 45)]), np.median(width[s > 300])
    middle = 0.5 * (lithiated + pristine)
    k = next(k for k in range(len(s)) if s[k] > 45 and width[k] < middle)
    return s[k - 1] + (width[k - 1] - middle) / (width[k - 1] - width[k]) * step


def test_deterministic_and_seeded():
    a = nanowire_lithiation_movie(seed=5, n_frames=6)
    b = nanowire_lithiation_movie(seed=5, n_frames=6)
    c = nanowire_lithiation_movie(seed=6, n_frames=6)
    np.testing.assert_array_equal(a.signals[0].data, b.signals[0].data)
    for key in a.tables["electrochemistry"]:
        np.testing.assert_array_equal(a.tables["electrochemistry"][key], b.tables["electrochemistry"][key])
    assert json.dumps(a.truth) == json.dumps(b.truth)
    assert not np.array_equal(a.signals[0].data, c.signals[0].data)


def test_signal_layout_and_metadata(movie):
    sig = movie.signals[0]
    assert sig.data.shape == (120, 256, 384) and sig.data.dtype == np.float32
    assert sig.signal_type == "image_stack"
    assert [(a.name, a.units, a.navigate) for a in sig.axes] == [
        ("Time", "s", True), ("y", "nm", False), ("x", "nm", False)]
    np.testing.assert_allclose(sig.axes[0].values(), movie.truth["frames"]["timestamp_s"])
    assert sig.acquisition["acquisition_mode"] == "TEM"
    assert sig.acquisition["beam_energy_keV"] in (200.0, 300.0)
    assert sig.acquisition["exposure_time_s"] <= sig.acquisition["frame_time_s"]
    assert np.all(sig.data == np.round(sig.data)) and sig.data.min() >= 0


def test_truth_is_json_serialisable(movie):
    truth = json.loads(json.dumps(movie.truth))
    assert len(truth["frames"]["front_nm"]) == 120
    assert truth["clocks"]["clock_offset_s"] > 0
    assert truth["wire"]["lithiated_diameter_nm"] > truth["wire"]["pristine_diameter_nm"]
    assert "SnO2" in movie.physics and "pA" in movie.physics


def test_front_is_monotone_and_stalls(movie):
    front = np.array(movie.truth["frames"]["front_nm"])
    assert np.all(np.diff(front) >= 0)
    assert front[-1] - front[0] > 300
    law = FrontKinetics.from_dict(movie.truth["front_law"])
    t = np.linspace(-5, 70, 20001)
    x = law.position(t)
    assert np.all(np.diff(x) >= 0)
    in_stall = (t > law.stall_start_s) & (t < law.stall_start_s + law.stall_duration_s)
    assert np.ptp(x[in_stall]) == 0
    numeric = np.gradient(x, t)
    smooth = (t > law.onset_s + 0.1) & ~((t > law.stall_start_s - 0.1) & (t < law.stall_start_s + 4.1))
    np.testing.assert_allclose(law.velocity(t)[smooth], numeric[smooth], rtol=1e-3)


def test_measured_front_matches_truth(clean):
    frames, truth = clean.signals[0].data, clean.truth
    for i in range(8, 120, 8):
        measured = _measured_front_px(frames[i], truth, i)
        assert abs(measured - truth["frames"]["front_px"][i]) < 2.0, i


def test_charge_per_nm_from_sno2_density():
    n_per_nm3 = 6.95 / 150.71 * 6.02214076e23 * 1e-21
    expected = 1.602176634e-19 * 8.4 * n_per_nm3 * np.pi * 40.0 ** 2
    assert lithiation_charge_per_length(80.0) == pytest.approx(expected, rel=1e-9)
    assert lithiation_charge_per_length(80.0) == pytest.approx(1.88e-13, rel=0.01)


def test_log_charge_equals_lithiated_content(movie):
    log, echem = movie.tables["electrochemistry"], movie.truth["electrochemistry"]
    assert set(log) == {"time_s", "potential_V", "current_A", "charge_C"}
    lithiated_nm = echem["front_nm_at_log_end"] - echem["front_nm_at_log_start"]
    faradaic = log["charge_C"][-1] - echem["nonfaradaic_charge_at_log_end_C"]
    assert faradaic == pytest.approx(lithiated_nm * echem["charge_per_nm_C"], rel=0.02)
    assert log["charge_C"][-1] == pytest.approx(lithiated_nm * echem["charge_per_nm_C"], rel=0.04)
    integral = np.sum(0.5 * (log["current_A"][1:] + log["current_A"][:-1]) * np.diff(log["time_s"]))
    assert integral == pytest.approx(log["charge_C"][-1], rel=0.02)


def test_current_is_pA_order_with_fA_noise(movie):
    log, truth = movie.tables["electrochemistry"], movie.truth
    t_cam = log["time_s"] - truth["clocks"]["clock_offset_s"]
    onset = truth["front_law"]["onset_s"]
    biased = log["current_A"][t_cam > onset + 1.0]
    assert 0.3e-12 < np.median(biased) < 20e-12 and biased.max() < 50e-12
    idle = log["current_A"][t_cam < onset]
    assert 10e-15 < idle.std() < 60e-15 and abs(idle.mean()) < 30e-15
    np.testing.assert_allclose(log["potential_V"][t_cam > onset + 0.1], -3.5, atol=3e-3)
    np.testing.assert_allclose(log["potential_V"][t_cam < onset], 0.0, atol=3e-3)


def test_clock_offset_maps_frames_into_log(movie):
    log, truth = movie.tables["electrochemistry"], movie.truth
    t_frames = np.array(truth["frames"]["timestamp_s"])
    law = FrontKinetics.from_dict(truth["front_law"])
    params = truth["electrochemistry"]["circuit"]
    circuit = BiasCircuit(**{k: params[k] for k in BiasCircuit.__dataclass_fields__})
    offset = truth["clocks"]["clock_offset_s"]
    nonfaradaic = (circuit.nonfaradaic_charge(t_frames, law.onset_s)
                   - circuit.nonfaradaic_charge(-offset, law.onset_s))
    expected = np.array(truth["frames"]["faradaic_charge_C"])
    mapped = np.interp(t_frames + offset, log["time_s"], log["charge_C"]) - nonfaradaic
    np.testing.assert_allclose(mapped, expected, atol=0.5e-12 + 0.01 * expected.max())
    unmapped = np.interp(t_frames, log["time_s"], log["charge_C"]) - nonfaradaic
    assert np.abs(unmapped - expected).max() > 10e-12   # ignoring the offset is visibly wrong
    assert abs(log["time_s"][0]) < 1e-12 and log["time_s"][-1] > t_frames[-1] + offset


def test_mean_counts_follow_dose(movie, clean):
    truth = movie.truth
    dose = truth["dose"]["dose_e_per_A2_per_frame"]
    incident = dose * (10 * truth["pixel_size_nm"]) ** 2
    assert truth["contrast"]["electrons_per_pixel_per_frame"] == pytest.approx(incident)
    carbon = truth["contrast"]["carbon_film"]
    film = np.exp(-carbon["thickness_nm"] / truth["contrast"]["lambda_eff_nm"]["carbon"])
    noisy, ideal = movie.signals[0].data[:, :40, 100:], clean.signals[0].data[:, :40, 100:]
    assert ideal.mean() == pytest.approx(incident * film, rel=0.005)
    assert noisy.mean() == pytest.approx(ideal.mean(), rel=0.002)
    residual = noisy[::10] - ideal[::10]
    assert residual.var() == pytest.approx(ideal[::10].mean(), rel=0.05)   # Poisson: variance = mean


def test_drift_is_recorded_and_visible(clean):
    frames, truth = clean.signals[0].data, clean.truth
    drift = np.array(truth["frames"]["drift_px"])
    assert np.all(drift[0] == 0) and np.hypot(*drift[-1]) > 1.0
    np.testing.assert_allclose(np.array(truth["frames"]["drift_nm"]), drift * truth["pixel_size_nm"])
    def static_part(frame):   # carbon film above the wire, right of the contact; windowed
        crop = frame[:64, 60:] - frame[:64, 60:].mean()
        return crop * window("hann", crop.shape)

    for i in (30, 60, 119):
        shift, _, _ = phase_cross_correlation(static_part(frames[0]), static_part(frames[i]),
                                              upsample_factor=50, normalization=None)
        np.testing.assert_allclose(-shift, drift[i] - drift[0], atol=0.3)


def test_lithiated_wire_is_less_opaque_per_nm():
    pristine = effective_mean_free_path_nm(6.95, {"Sn": 1, "O": 2})
    assert pristine == pytest.approx(130.0)
    assert effective_mean_free_path_nm(4.58, {"Li": 8.4, "Sn": 1, "O": 2}) > pristine
    with pytest.raises(ValueError, match="elements"):
        effective_mean_free_path_nm(1.0, {"Fe": 1})


@pytest.mark.parametrize("kwargs, match", [
    ({"n_frames": 0}, "n_frames"), ({"frame_shape": (10, 384)}, "frame_shape"),
    ({"dose_e_per_A2": -1.0}, "dose"), ({"exposure_time_s": 1.0}, "exposure_time_s"),
    ({"clock_offset_s": -1.0}, "clock_offset_s"), ({"pixel_size_nm": 0.0}, "pixel_size_nm"),
    ({"diameter_swelling": -0.1}, "swelling"), ({"drift_nm": (1.0,)}, "drift_nm"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nanowire_lithiation_movie(**kwargs)


def test_bad_kinetics_and_circuit_raise():
    with pytest.raises(ValueError, match="stall"):
        FrontKinetics(onset_s=5.0, stall_start_s=2.0)
    with pytest.raises(ValueError, match="negative bias"):
        BiasCircuit(bias_V=1.0)
