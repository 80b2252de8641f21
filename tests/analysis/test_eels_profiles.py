"""Profiles of per-pixel EELS quantities and the surface-layer thickness, against known truth."""
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.background import fit_background
from batteryscope.analysis.eels.oxygen_prepeak import oxygen_prepeak
from batteryscope.analysis.eels.profiles import layer_thickness, quantity_profile
from batteryscope.analysis.roi_geometry import LineROI
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_dual_eels

from eels_references_for_tests import demo_cross_sections

PIX = 0.25


def nav_axes(ny, nx):
    # pixel centres at (i + ½)·step, the convention of the demo generator's truth maps
    return (AxisCalibration("y", "nm", PIX, PIX / 2, ny, navigate=True),
            AxisCalibration("x", "nm", PIX, PIX / 2, nx, navigate=True))


def step_map(ny, nx, *, x_surface, d0, width, q_s, q_b):
    x = (np.arange(nx) + 0.5) * PIX
    d = x - x_surface
    q = q_b + (q_s - q_b) * 0.5 * (1 - np.tanh((d - d0) / width))
    return np.broadcast_to(q, (ny, nx)).copy()


def test_profile_means_and_errors():
    ny, nx = 12, 40
    ya, xa = nav_axes(ny, nx)
    rng = np.random.default_rng(0)
    truth = step_map(ny, nx, x_surface=1.0, d0=2.3, width=0.5, q_s=0.4, q_b=1.0)
    sigma = np.full((ny, nx), 0.05)
    values = truth + sigma * rng.standard_normal((ny, nx))
    line = LineROI(1.125, 1.5, 9.625, 1.5, width=1.5)     # 6 rows, starts on a pixel centre
    prof = quantity_profile(values, line, ya, xa, errors=sigma)
    assert np.all(prof.n_valid == 6)
    assert prof.error == pytest.approx(0.05 / np.sqrt(6))
    expected = truth[0, 4:4 + prof.distance.size]
    pull = (prof.values - expected) / prof.error
    assert np.all(np.abs(pull) < 4.5)
    assert np.nanmean(prof.error_scatter) == pytest.approx(0.05 / np.sqrt(6), rel=0.25)
    lt = layer_thickness(prof, surface_distance=1.0 - 1.125)
    assert abs(lt.thickness - 2.3) < 3 * lt.thickness_std
    assert lt.thickness_std < 0.1
    assert lt.surface_value == pytest.approx(0.4, abs=0.05)
    assert lt.bulk_value == pytest.approx(1.0, abs=0.03)


def test_flagged_and_missing_pixels_are_left_out():
    ny, nx = 8, 30
    ya, xa = nav_axes(ny, nx)
    values = step_map(ny, nx, x_surface=0.5, d0=2.0, width=0.4, q_s=2.7, q_b=2.0)
    flags = np.zeros((ny, nx), np.uint8)
    flags[3] = 4
    values[4, 10] = np.nan
    values[5] = 1e6 * flags[3]          # garbage where flagged… must not leak in
    flags[5] = 1
    line = LineROI(0.625, 1.0, 6.625, 1.0, width=1.5)    # rows 1…6
    prof = quantity_profile(values, line, ya, xa, errors=np.full((ny, nx), 0.1), flags=flags)
    assert prof.n_valid.max() == 4
    assert prof.n_valid.min() == 3                      # the NaN pixel
    assert np.all(prof.values < 3.0)
    no_err = quantity_profile(values, line, ya, xa)
    assert np.all(np.isnan(no_err.error))


def test_bad_input():
    ya, xa = nav_axes(8, 30)
    line = LineROI(0.625, 1.0, 6.625, 1.0, width=1.0)
    flat = np.ones((8, 30))
    with pytest.raises(ValueError, match="2-D"):
        quantity_profile(np.ones(30), line, ya, xa)
    with pytest.raises(ValueError, match="errors of shape"):
        quantity_profile(flat, line, ya, xa, errors=np.ones((8, 29)))
    with pytest.raises(ValueError, match=">= 0"):
        quantity_profile(flat, line, ya, xa, errors=-np.ones((8, 30)))
    prof = quantity_profile(flat + 0.01 * np.random.default_rng(1).standard_normal((8, 30)),
                            line, ya, xa, errors=np.full((8, 30), 0.01))
    with pytest.raises(ValueError, match="no significant step"):
        layer_thickness(prof)
    short = quantity_profile(flat, LineROI(0.625, 1.0, 1.5, 1.0), ya, xa,
                             errors=np.full((8, 30), 0.01))
    with pytest.raises(ValueError, match=">= 6 points"):
        layer_thickness(short)


@pytest.fixture(scope="module")
def demo():
    acq = DualEELSAcquisition()
    ax = acq.core_loss_axis()
    spec = layered_oxide_dual_eels(demo_cross_sections(ax.values()), seed=1, nav_shape=(12, 48),
                                   pixel_size_nm=PIX)
    return spec, ax


def test_surface_layer_thickness_from_demo_si_o_k_pre_peak(demo):
    spec, ax = demo
    truth = spec.truth
    core = spec.signals[1].data
    fit = fit_background(core, ax, windows=(480.0, 524.0))
    pre = oxygen_prepeak(core, ax, background=fit)
    ny, nx = core.shape[:2]
    ya, xa = nav_axes(ny, nx)
    x_surface = truth["geometry"]["surface_x_nm"]            # 3 nm; the particle is a big disc
    y_mid = ny * PIX / 2                                      # its centre row: surface ⟂ x
    line = LineROI(3.125, y_mid, 11.875, y_mid, width=1.5)   # from the pixel at the surface
    inside = np.array(truth["maps"]["region"]) > 0
    prof = quantity_profile(np.where(inside, pre.ratio, np.nan), line, ya, xa,
                            errors=pre.ratio_std, flags=pre.flags)
    lt = layer_thickness(prof, surface_distance=x_surface - 3.125)
    layer = truth["geometry"]["surface_layer_nm"]
    # measured on noisy, plurally scattered, drifting spectra: within 0.2 nm of 2 nm
    assert lt.thickness == pytest.approx(layer, abs=0.2)
    assert lt.thickness_std < 0.1
    assert lt.surface_value < lt.bulk_value                   # the pre-peak fades at the surface
    # the same profile of the truth pre-peak strength gives the truth back exactly
    strength = np.array(truth["maps"]["o_k_pre_peak_strength"])
    tprof = quantity_profile(strength, line, ya, xa, errors=np.full(strength.shape, 0.01))
    tl = layer_thickness(tprof, surface_distance=x_surface - 3.125)
    assert tl.thickness == pytest.approx(layer, abs=0.01)
    assert tl.width == pytest.approx(truth["geometry"]["layer_tanh_width_nm"], abs=0.01)
