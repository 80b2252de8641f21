"""Known-truth tests of the L3/L2 white-line ratio and the valence calibration."""
import numpy as np
import pytest

from batteryscope.analysis.eels.background import fit_background
from batteryscope.analysis.eels.white_lines import (FLAG_BACKGROUND, FLAG_NONPOSITIVE,
                                                    FLAG_OUT_OF_CALIBRATION, ValenceCalibration,
                                                    calibration_from_standards,
                                                    valence_from_ratio, white_line_ratio)
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_expected_spectra

from eels_references_for_tests import axis, demo_cross_sections, l23_edge, power_law

AX = axis(600.0, 720.0, 0.25)
E = AX.values()
WINDOWS = {"l3_window": (638.0, 648.0), "l2_window": (649.0, 659.0),
           "continuum_window": (665.0, 690.0)}
L3_EV, SO_EV = 643.0, 11.0


def mn_edge(ratio, *, l3_area=6000.0, continuum=150.0, decay=0.0, l3_eV=L3_EV):
    lines, cont = l23_edge(E, l3_eV=l3_eV, spin_orbit_eV=SO_EV, l3_area=l3_area,
                           l2_area=l3_area / ratio, continuum=continuum, decay=decay)
    return lines + cont


BACKGROUND = power_law(E, 200.0 * 640.0 ** 3, 3.0)


@pytest.mark.parametrize("ratio", [2.0, 2.7, 3.6, 4.5])
def test_ratio_and_peak_positions_recovered_noise_free(ratio):
    # known L3/L2 on a known 2:1 continuum step (erf-broadened, not the arctan the method uses)
    res = white_line_ratio(mn_edge(ratio)[None], AX, background=None, **WINDOWS)
    # tolerance 1.5 %: the Lorentzian tails of the Voigt lines leak ~0.5–1 % out of the windows
    assert res.ratio[0] == pytest.approx(ratio, rel=0.015)
    assert res.l3_eV[0] == pytest.approx(L3_EV, abs=0.03)
    assert res.l2_eV[0] == pytest.approx(L3_EV + SO_EV, abs=0.05)
    assert res.continuum[0] == pytest.approx(150.0, rel=3e-3)  # + the Lorentzian tails
    assert res.flags[0] == 0


def test_sub_channel_step_positions_follow_the_lines():
    for shift in (0.0, 0.07, 0.13, 0.19):
        res = white_line_ratio(mn_edge(3.0, l3_eV=L3_EV + shift)[None], AX, background=None,
                               **WINDOWS)
        assert res.l3_eV[0] == pytest.approx(L3_EV + shift, abs=0.03)
        assert res.ratio[0] == pytest.approx(3.0, rel=0.015)


def test_decaying_continuum_needs_the_linear_continuum_model():
    spec = mn_edge(3.0, decay=3.0)[None]
    flat = white_line_ratio(spec, AX, background=None, **WINDOWS)
    linear = white_line_ratio(spec, AX, background=None, continuum_model="linear", **WINDOWS)
    assert linear.ratio[0] == pytest.approx(3.0, rel=0.03)
    assert abs(flat.ratio[0] - 3.0) > abs(linear.ratio[0] - 3.0)


def test_fixed_steps_and_arctan_steps():
    spec = mn_edge(2.5)[None]
    fixed = white_line_ratio(spec, AX, background=None, step_positions=(L3_EV, L3_EV + SO_EV),
                             **WINDOWS)
    smooth = white_line_ratio(spec, AX, background=None, step_width_eV=1.0, **WINDOWS)
    assert fixed.ratio[0] == pytest.approx(2.5, rel=0.015)
    # arctangent steps have slowly decaying (1/x) tails, unlike the erf steps of the data: 4 %
    assert smooth.ratio[0] == pytest.approx(2.5, rel=0.04)
    assert np.all(fixed.l3_eV == L3_EV)


def test_noisy_spectrum_image_errors_match_scatter():
    rng = np.random.default_rng(11)
    ideal = mn_edge(3.0) + BACKGROUND
    si = rng.poisson(np.broadcast_to(ideal, (20, 30, E.size))).astype(np.float32)
    fit = fit_background(si, AX, windows=(610.0, 636.0))
    res = white_line_ratio(si, AX, background=fit, **WINDOWS)
    assert res.ratio.shape == (20, 30)
    ok = res.flags == 0
    assert ok.mean() > 0.97
    pull = (res.ratio[ok] - 3.0) / res.ratio_std[ok]
    assert abs(np.mean(pull)) < 0.25
    assert 0.85 < np.std(pull) < 1.15
    assert np.mean(res.ratio[ok]) == pytest.approx(3.0, rel=0.03)


def test_background_uncertainty_is_included():
    rng = np.random.default_rng(3)
    si = rng.poisson(np.broadcast_to(mn_edge(3.0) + BACKGROUND, (50, E.size))).astype(float)
    with_bg = white_line_ratio(si, AX, background=fit_background(si, AX, windows=(610, 636)),
                               **WINDOWS)
    counts_only = white_line_ratio(si - BACKGROUND, AX, background=None, **WINDOWS)
    assert np.all(with_bg.l3_std > counts_only.l3_std * 0.999)


def test_valence_from_standards_and_unknowns():
    # synthetic standards (valence 2, 3, 4 ↔ ratios 4.0, 2.7, 2.1: test numbers, not literature)
    rng = np.random.default_rng(5)
    table = {2.0: 4.0, 3.0: 2.7, 4.0: 2.1}
    results = []
    for v, r in table.items():
        si = rng.poisson(np.broadcast_to(mn_edge(r, l3_area=20000) + BACKGROUND, (40, E.size)))
        fit = fit_background(si, AX, windows=(610.0, 636.0))
        results.append(white_line_ratio(si, AX, background=fit, **WINDOWS))
    cal = calibration_from_standards(results, list(table), element="Mn",
                                     citation="synthetic standards of this test")
    assert cal.ratios == pytest.approx([4.0, 2.7, 2.1], rel=0.02)
    assert "2:1" in cal.method
    for v_true, r_true in ((2.5, 3.35), (3.6, 2.34)):
        si = rng.poisson(np.broadcast_to(mn_edge(r_true, l3_area=20000) + BACKGROUND, (40, E.size)))
        res = white_line_ratio(si, AX, background=fit_background(si, AX, windows=(610, 636)),
                               **WINDOWS)
        val = valence_from_ratio(res.ratio, res.ratio_std, cal, flags=res.flags)
        ok = val.flags == 0
        assert np.mean(val.valence[ok]) == pytest.approx(v_true, abs=0.05)
        pull = (val.valence[ok] - v_true) / val.valence_std[ok]
        assert 0.7 < np.std(pull) < 1.3
        assert np.all(val.calibration_std[ok] > 0)


def test_extrapolation_is_refused():
    cal = ValenceCalibration("Mn", (2.0, 4.0), (3.6, 2.0), (0.0, 0.0), "test", "test numbers")
    val = valence_from_ratio(np.array([1.5, 2.8, 4.0, np.nan]), 0.1, cal)
    assert np.isnan(val.valence[0]) and np.isnan(val.valence[2])
    assert val.flags[0] & FLAG_OUT_OF_CALIBRATION and val.flags[2] & FLAG_OUT_OF_CALIBRATION
    assert val.valence[1] == pytest.approx(3.0)
    assert val.valence_std[1] == pytest.approx(0.1 * 2.0 / 1.6)
    assert np.isnan(val.valence[3]) and val.flags[3] == 0


def test_bad_calibrations_are_rejected():
    with pytest.raises(ValueError, match="monotonic"):
        ValenceCalibration("Mn", (2, 3, 4), (3.6, 2.0, 2.5), (0, 0, 0), "m", "c")
    with pytest.raises(ValueError, match="citation"):
        ValenceCalibration("Mn", (2, 4), (3.6, 2.0), (0, 0), "m", " ")
    with pytest.raises(ValueError, match="distinct"):
        ValenceCalibration("Mn", (2, 2), (3.6, 2.0), (0, 0), "m", "c")


def test_bad_input_gives_errors_or_flags():
    spec = mn_edge(3.0)[None] + BACKGROUND
    with pytest.raises(ValueError, match="ordered"):
        white_line_ratio(spec, AX, background=None, l3_window=(638, 650), l2_window=(649, 659),
                         continuum_window=(665, 690))
    with pytest.raises(ValueError, match="outside"):
        white_line_ratio(spec, AX, background=None, l3_window=(638, 648), l2_window=(649, 659),
                         continuum_window=(665, 790))
    fit = fit_background(spec, AX, windows=(610.0, 640.0))
    with pytest.raises(ValueError, match="inside the analysed range"):
        white_line_ratio(spec, AX, background=fit, **WINDOWS)
    with pytest.raises(ValueError, match="do not match"):
        white_line_ratio(spec[:, :-1], AX, background=None, **WINDOWS)
    with pytest.raises(ValueError, match="step_positions"):
        white_line_ratio(spec, AX, background=None, step_positions=(654.0, 643.0), **WINDOWS)
    bad = np.stack([spec[0], spec[0], BACKGROUND])
    bad[1, 200] = np.nan   # 650 eV, inside the L2 window
    fit = fit_background(bad, AX, windows=(610.0, 636.0))
    res = white_line_ratio(bad, AX, background=fit, **WINDOWS)
    assert res.flags[0] == 0
    assert res.flags[1] & FLAG_BACKGROUND and np.isnan(res.ratio[1])
    assert res.flags[2] & FLAG_NONPOSITIVE and np.isnan(res.ratio[2])   # no edge at all


def test_demo_si_ratio_tracks_truth_on_single_scattering():
    """On the demo SI's single-scattering spectra the Mn ratio follows the truth, with the bias
    a 2:1 step continuum has on the demo's slowly rising (hydrogenic-like) continuum."""
    acq = DualEELSAcquisition()
    ax = acq.core_loss_axis()
    exp = layered_oxide_expected_spectra(demo_cross_sections(ax.values()), seed=2,
                                         nav_shape=(2, 40), pixel_size_nm=0.25)
    res = white_line_ratio(exp.core_loss_single_scattering, ax, background=None,
                           l3_window=(637, 648), l2_window=(649, 660), continuum_window=(662, 690))
    truth = exp.maps["l3_l2_ratio"]["Mn"]
    inside = exp.maps["particle_fraction"] > 0.99
    r, t = res.ratio[inside], truth[inside]
    assert np.corrcoef(r, t)[0, 1] > 0.99
    assert np.all(np.abs(r / t - 1) < 0.3)      # the method bias, stated, not hidden


def test_just_outside_the_range_within_its_error_is_the_end_member():
    from batteryscope.analysis.eels.white_lines import FLAG_AT_CALIBRATION_LIMIT

    cal = ValenceCalibration("Mn", (2.0, 3.0, 4.0), (3.6, 2.5, 2.0), (0.0, 0.0, 0.0), "t", "t")
    val = valence_from_ratio(np.array([1.9, 1.9, 3.75, 1.5]), np.array([0.1, 0.02, 0.1, 0.1]), cal)
    assert val.valence[0] == 4.0 and val.flags[0] == FLAG_AT_CALIBRATION_LIMIT   # 1σ below
    assert val.valence_std[0] == pytest.approx(0.1 * 1.0 / 0.5)                  # end slope
    assert np.isnan(val.valence[1]) and val.flags[1] & FLAG_OUT_OF_CALIBRATION     # 5σ below
    assert val.valence[2] == 2.0 and val.flags[2] == FLAG_AT_CALIBRATION_LIMIT     # 1.5σ above
    assert np.isnan(val.valence[3])
    strict = valence_from_ratio(np.array([1.9]), np.array([0.1]), cal, limit_sigma=0.0)
    assert np.isnan(strict.valence[0]) and strict.flags[0] & FLAG_OUT_OF_CALIBRATION
