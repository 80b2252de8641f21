"""Known-truth tests of MLLS fitting of reference spectra (phase maps)."""
import numpy as np
import pytest

from batteryscope.analysis.eels import _mlls_solver
from batteryscope.analysis.eels.mlls import (FLAG_AT_BOUND, FLAG_BAD_FIT, FLAG_INVALID,
                                             design_matrix, mlls_fit)
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_expected_spectra

from eels_references_for_tests import (axis, demo_cross_sections, fe_l_phase_references,
                                       o_k_phase_references, power_law, voigt)

AX_O = axis(515.0, 600.0, 0.25)
E_O = AX_O.values()
REFS_O = o_k_phase_references(E_O)
STACK_O = np.stack(list(REFS_O.values()))


def test_noise_free_fractions_exact_with_power_law_background():
    rng = np.random.default_rng(0)
    f = rng.dirichlet([1, 1, 1], size=(3, 4))
    bg = power_law(E_O, 40.0 * 520.0 ** 3, 3.0)           # E^-3 lies in the r = 2…5 basis
    spectra = 50.0 * f @ STACK_O + bg
    res = mlls_fit(spectra, AX_O, REFS_O, fit_range=(518.0, 598.0), background="power_law",
                   n_background=4, return_residuals=True)
    assert res.names == ("layered", "spinel", "rock_salt")
    assert res.fractions == pytest.approx(f, abs=1e-7)
    assert res.coefficients == pytest.approx(50.0 * f, rel=1e-6)
    assert np.max(np.abs(res.residuals)) < 1e-6
    assert res.residuals.dtype == np.float32 and res.residuals.shape == (3, 4, res.fit_energy.size)


@pytest.mark.parametrize("weighting", ["poisson", "uniform"])
def test_pull_distribution_of_phase_fractions(weighting):
    rng = np.random.default_rng(1)
    n = 3000
    f = rng.dirichlet([2, 2, 2], size=n)
    y = rng.poisson(60.0 * f @ STACK_O).astype(np.float32)
    res = mlls_fit(y, AX_O, REFS_O, fit_range=(525.0, 595.0), weighting=weighting)
    ok = res.flags == 0
    assert ok.mean() > 0.98
    pull = (res.fractions[ok] - f[ok]) / res.fraction_std[ok]
    assert np.all(np.abs(pull.mean(axis=0)) < 0.1)
    assert np.all((pull.std(axis=0) > 0.9) & (pull.std(axis=0) < 1.12))
    cpull = (res.coefficients[ok] - 60.0 * f[ok]) / res.coefficient_std[ok]
    assert np.all((cpull.std(axis=0) > 0.9) & (cpull.std(axis=0) < 1.12))
    assert np.nanmean(res.reduced_chi2) == pytest.approx(1.0, abs=0.06)


def test_lifepo4_fepo4_map_from_fe_l():
    ax = axis(690.0, 740.0, 0.2)
    refs = fe_l_phase_references(ax.values())
    yy, xx = np.mgrid[0:16, 0:16]
    r = np.hypot(yy - 7.5, xx - 7.5)
    x_fp = np.clip((r - 3.0) / 4.0, 0.0, 1.0)        # FePO4 shell, LiFePO4 core
    truth = 40.0 * ((1 - x_fp)[..., None] * refs["LiFePO4"] + x_fp[..., None] * refs["FePO4"])
    y = np.random.default_rng(2).poisson(truth)
    res = mlls_fit(y, ax, refs, fit_range=(700.0, 735.0))
    pull = (res.fractions[..., 1] - x_fp) / res.fraction_std[..., 1]
    assert np.all(np.abs(pull) < 5)
    assert 0.85 < pull.std() < 1.15
    assert np.median(res.fraction_std[..., 1]) < 0.05


def test_derivative_terms_measure_small_shifts():
    ax = axis(690.0, 740.0, 0.2)
    e = ax.values()
    refs = fe_l_phase_references(e)
    # the same phases 0.15 eV higher (recomputed on a shifted axis, not interpolated)
    shifted = fe_l_phase_references(e - 0.15)
    spectra = np.stack([30.0 * shifted["LiFePO4"] + 10.0 * shifted["FePO4"]])
    plain = mlls_fit(spectra, ax, refs, fit_range=(700.0, 735.0), weighting="uniform")
    res = mlls_fit(spectra, ax, refs, fit_range=(700.0, 735.0), derivatives=True,
                   weighting="uniform")
    assert res.shifts_eV[0] == pytest.approx([0.15, 0.15], abs=0.02)
    assert res.fractions[0] == pytest.approx([0.75, 0.25], abs=0.005)
    assert abs(plain.fractions[0, 0] - 0.75) > abs(res.fractions[0, 0] - 0.75)


def test_nonnegative_constraint():
    rng = np.random.default_rng(4)
    y = rng.poisson(np.broadcast_to(40.0 * REFS_O["layered"], (200, E_O.size)))
    free = mlls_fit(y, AX_O, REFS_O, fit_range=(525.0, 595.0))
    res = mlls_fit(y, AX_O, REFS_O, fit_range=(525.0, 595.0), nonnegative=True)
    assert np.any(free.coefficients < 0)
    assert np.all(res.coefficients >= 0)
    at_bound = (res.flags & FLAG_AT_BOUND) != 0
    assert at_bound.any()
    assert np.all(res.coefficient_std[at_bound].min(axis=1) == 0)
    assert np.all((res.fractions >= 0) & (res.fractions <= 1))
    # the bound biases the absent phases upwards (their noise is cut at 0): a few %
    assert 0.9 < np.mean(res.fractions[:, 0]) < 1.0
    assert np.mean(free.fractions[:, 0]) == pytest.approx(1.0, abs=0.02)


def test_bad_fits_are_flagged():
    rng = np.random.default_rng(5)
    truth = np.broadcast_to(80.0 * REFS_O["spinel"], (4, E_O.size)).copy()
    truth[1] += voigt(E_O, 560.0, 600.0, sigma=0.8, gamma=0.2)   # a feature no reference has
    y = rng.poisson(truth).astype(float)
    y[2, 100] = np.nan
    res = mlls_fit(y, AX_O, REFS_O, fit_range=(525.0, 595.0))
    assert res.flags[0] == 0 and res.flags[3] == 0
    assert res.flags[1] & FLAG_BAD_FIT
    assert res.flags[2] & FLAG_INVALID and np.all(np.isnan(res.fractions[2]))


def test_bad_input_is_rejected():
    y = np.ones((2, E_O.size))
    with pytest.raises(ValueError, match="singular"):
        mlls_fit(y, AX_O, {"a": REFS_O["layered"], "b": 2 * REFS_O["layered"]},
                 fit_range=(525, 595))
    with pytest.raises(ValueError, match="shape"):
        mlls_fit(y, AX_O, {"a": REFS_O["layered"][:-1]}, fit_range=(525, 595))
    with pytest.raises(ValueError, match="non-empty"):
        mlls_fit(y, AX_O, {}, fit_range=(525, 595))
    with pytest.raises(ValueError, match="derivative"):
        mlls_fit(y, AX_O, REFS_O, fit_range=(525, 595), nonnegative=True, derivatives=True)
    with pytest.raises(ValueError, match="outside"):
        mlls_fit(y, AX_O, REFS_O, fit_range=(400, 595))
    with pytest.raises(ValueError, match="weighting"):
        mlls_fit(y, AX_O, REFS_O, fit_range=(525, 595), weighting="chi")
    with pytest.raises(ValueError, match="zero over the fit range"):
        mlls_fit(y, AX_O, {"a": REFS_O["layered"], "z": np.zeros(E_O.size)}, fit_range=(525, 595))


def test_demo_si_surface_layer_fraction_from_o_k():
    """Layered bulk vs reconstructed surface from the demo's O K: the fraction of the surface
    reference, references normalised per O atom, is the truth layer fraction."""
    acq = DualEELSAcquisition()
    ax = acq.core_loss_axis()
    exp = layered_oxide_expected_spectra(demo_cross_sections(ax.values()), seed=5,
                                         nav_shape=(4, 48), pixel_size_nm=0.25)
    ssd = exp.core_loss_single_scattering
    d = exp.maps["distance_nm"]
    bulk = ssd[np.unravel_index(np.argmax(d), d.shape)]            # deepest pixel, s ~ 1e-13
    surf = ssd[np.unravel_index(np.argmin(np.abs(d - 0.25)), d.shape)]   # s ≈ 0.9997
    refs = {"bulk": bulk, "surface": surf}
    inside = exp.maps["particle_fraction"] > 0.999
    y = np.random.default_rng(6).poisson(ssd[inside] * 4.0)       # 4× the demo dose
    res = mlls_fit(y, ax, refs, fit_range=(525.0, 600.0), normalization_window=(575.0, 600.0))
    s = exp.maps["layer_fraction"][inside]
    pull = (res.fractions[:, 1] - s) / res.fraction_std[:, 1]
    assert np.all(np.abs(pull) < 4.5)
    assert 0.8 < pull.std() < 1.2


def test_numba_kernel_matches_the_numpy_reference_on_odd_shapes():
    rng = np.random.default_rng(12)
    f = rng.dirichlet([1, 1, 1], size=(8, 17))
    y = rng.poisson(30.0 * f @ STACK_O + 5.0).astype(np.float32)
    y[3, 5, 150] = np.nan
    kw = {"fit_range": (523.0, 597.0), "background": "polynomial", "n_background": 2}
    done = []
    res = mlls_fit(y, AX_O, REFS_O, progress=done.append, **kw)
    assert done[-1] == 1.0
    x, _, sl = design_matrix(REFS_O, AX_O, **kw)
    rows = y.reshape(-1, E_O.size)[:, sl].astype(np.float64)
    good = np.all(np.isfinite(rows), axis=1)
    theta, cov, model = _mlls_solver.solve_poisson(rows[good], x)
    assert res.coefficients.reshape(-1, 3)[good] == pytest.approx(theta[:, :3], rel=1e-9, abs=1e-9)
    assert res.covariance.reshape(-1, 3, 3)[good] == pytest.approx(cov[:, :3, :3], rel=1e-9)
    chi2 = np.sum((rows[good] - model) ** 2 / np.maximum(model, 1.0), axis=1) / (x.shape[0] - 5)
    assert res.reduced_chi2.reshape(-1)[good] == pytest.approx(chi2, rel=1e-9)
    assert res.flags[3, 5] & FLAG_INVALID and np.all(np.isnan(res.coefficients[3, 5]))
    with pytest.raises(ValueError, match="no spectrum"):
        mlls_fit(np.zeros((0, E_O.size)), AX_O, REFS_O, fit_range=(523.0, 597.0))
