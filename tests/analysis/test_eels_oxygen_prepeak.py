"""Known-truth tests of the O K pre-peak ratio and peak positions."""
import numpy as np
import pytest

from batteryscope.analysis.eels.background import fit_background
from batteryscope.analysis.eels.oxygen_prepeak import (FLAG_BACKGROUND, FLAG_NONPOSITIVE,
                                                       FLAG_PEAK, oxygen_prepeak)
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_expected_spectra

from eels_references_for_tests import axis, demo_cross_sections, o_k_with_prepeak, power_law

AX = axis(490.0, 600.0, 0.25)
E = AX.values()
BACKGROUND = power_law(E, 300.0 * 525.0 ** 3, 3.0)


def window_sum(spec, lo, hi):
    return spec[(E >= lo - 1e-9) & (E <= hi + 1e-9)].sum()


@pytest.mark.parametrize("position", [529.50, 529.56, 529.63, 529.71])
def test_ratio_exact_and_positions_sub_channel_noise_free(position):
    pre, rest = o_k_with_prepeak(E, pre_peak_eV=position, pre_peak_area=800.0,
                                 main_area=8000.0, continuum=200.0)
    res = oxygen_prepeak((pre + rest)[None], AX, background=None)
    truth = window_sum(pre + rest, 527, 533) / window_sum(pre + rest, 533, 560)
    assert res.ratio[0] == pytest.approx(truth, rel=1e-9)
    # 0.25 eV channels: sub-channel means well below 0.05 channel here
    assert res.pre_peak_eV[0] == pytest.approx(position, abs=0.012)
    assert res.main_peak_eV[0] == pytest.approx(540.5, abs=0.05)
    assert res.flags[0] == 0


def test_noisy_errors_match_scatter():
    rng = np.random.default_rng(8)
    pre, rest = o_k_with_prepeak(E, pre_peak_eV=529.63, pre_peak_area=1500.0,
                                 main_area=8000.0, continuum=200.0)
    ideal = pre + rest + BACKGROUND
    si = rng.poisson(np.broadcast_to(ideal, (24, 25, E.size))).astype(np.float32)
    fit = fit_background(si, AX, windows=(500.0, 525.0))
    res = oxygen_prepeak(si, AX, background=fit)
    truth = window_sum(pre + rest, 527, 533) / window_sum(pre + rest, 533, 560)
    ok = res.flags == 0
    assert ok.mean() > 0.95
    pull = (res.ratio[ok] - truth) / res.ratio_std[ok]
    assert abs(pull.mean()) < 0.3        # the log-linear power-law fit has a small bias
    assert 0.85 < pull.std() < 1.15
    pos_pull = (res.pre_peak_eV[ok] - 529.63) / res.pre_peak_eV_std[ok]
    assert abs(np.mean(res.pre_peak_eV[ok]) - 529.63) < 0.01
    assert 0.8 < pos_pull.std() < 1.25


def test_bad_input():
    pre, rest = o_k_with_prepeak(E, pre_peak_eV=529.6, pre_peak_area=800.0, main_area=8000.0,
                                 continuum=200.0)
    spec = np.stack([pre + rest + BACKGROUND] * 3)
    with pytest.raises(ValueError, match="pre_peak_window"):
        oxygen_prepeak(spec, AX, background=None, pre_peak_window=(527, 535),
                       main_window=(533, 560))
    with pytest.raises(ValueError, match="outside"):
        oxygen_prepeak(spec, AX, background=None, main_window=(533, 700))
    fit = fit_background(spec, AX, windows=(500.0, 528.0))
    with pytest.raises(ValueError, match="inside the analysed range"):
        oxygen_prepeak(spec, AX, background=fit)
    spec[1, 170] = np.inf
    spec[2] = BACKGROUND                                   # vacuum-like: no O K edge
    fit = fit_background(spec, AX, windows=(500.0, 525.0))
    res = oxygen_prepeak(spec, AX, background=fit)
    assert res.flags[0] == 0
    assert res.flags[1] & FLAG_BACKGROUND and np.isnan(res.ratio[1])
    assert res.flags[2] & FLAG_NONPOSITIVE and np.isnan(res.ratio[2])


def test_demo_si_ratio_follows_the_pre_peak_strength():
    acq = DualEELSAcquisition()
    ax = acq.core_loss_axis()
    exp = layered_oxide_expected_spectra(demo_cross_sections(ax.values()), seed=4,
                                         nav_shape=(2, 40), pixel_size_nm=0.25)
    # single scattering, no background: the ratio is linear in the truth strength
    res = oxygen_prepeak(exp.core_loss_single_scattering, ax, background=None)
    inside = exp.maps["particle_fraction"] > 0.99
    strength = exp.maps["pre_peak_strength"][inside]
    slope, intercept = np.polyfit(strength, res.ratio[inside], 1)
    # linear up to the pre-peak's Lorentzian tail in the main window (0.1 % of the range)
    assert np.max(np.abs(res.ratio[inside] - (slope * strength + intercept))) < 1e-4
    assert slope > 0
    # where the pre-peak is weak the sharp continuum onset at 532 eV is the window maximum:
    # those pixels must be flagged, the others read the pre-peak at 530 eV
    found = inside & ((res.flags & FLAG_PEAK) == 0)
    assert found.sum() > 0.75 * inside.sum()
    assert res.pre_peak_eV[found] == pytest.approx(530.0, abs=0.02)
    assert np.all(np.isnan(res.pre_peak_eV[inside & ~found]))
