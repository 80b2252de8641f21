"""EELS pre-edge background fits, extrapolation variance and edge integration."""
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.background import (
    BackgroundFit, fit_background, integrate_edge, subtract_background,
)

# channel centres 300.25, 300.75, ...: the channel edges fall on whole and half eV
AXIS = AxisCalibration("Energy loss", "eV", 0.5, 300.25, 400)
E = AXIS.values()
W1, W2 = (320.0, 340.0), (340.0, 360.0)
EDGE = (380.0, 430.0)
A_TRUE, R_TRUE = 2.0e11, 3.3


def point_power_law(a=A_TRUE, r=R_TRUE, e=E):
    """Counts per channel sampled at the channel centre (the model's own convention)."""
    return a * e ** -r


def binned_power_law(a=A_TRUE, r=R_TRUE, axis=AXIS):
    """Channel integral of the density a·E^-r / scale: what the two-area method assumes."""
    lo = axis.values() - axis.scale / 2
    hi = lo + axis.scale
    return a / axis.scale * (hi ** (1 - r) - lo ** (1 - r)) / (1 - r)


def edge_shape(j=300.0, onset=380.0, s=2.5, e=E):
    return np.where(e >= onset, j * (np.maximum(e, onset) / onset) ** -s, 0.0)


def in_window(lo, hi, e=E):
    return (e >= lo) & (e <= hi)


# --------------------------------------------------------------------------- exact data

def test_lsq_power_law_recovers_parameters_exactly():
    fit = fit_background(point_power_law(), AXIS, windows=(W1[0], W2[1]), method="lsq")
    assert isinstance(fit, BackgroundFit) and fit.model == "power_law" and fit.method == "lsq"
    a, r = fit.parameters
    assert r == pytest.approx(R_TRUE, rel=1e-6)
    assert a == pytest.approx(A_TRUE, rel=1e-6)
    assert not fit.failed and fit.fit_quality < 1e-12
    np.testing.assert_allclose(fit.evaluate(E[300:]), point_power_law()[300:], rtol=1e-6)


@pytest.mark.parametrize("windows", [(W1[0], W2[1]), ((320.0, 330.0), (350.0, 365.0))])
def test_poisson_ml_power_law_is_the_default_and_exact(windows):
    fit = fit_background(point_power_law(), AXIS, windows=windows)
    assert fit.method == "mle"
    a, r = fit.parameters
    assert r == pytest.approx(R_TRUE, rel=1e-6)
    assert a == pytest.approx(A_TRUE, rel=1e-6)
    assert not fit.failed and fit.fit_quality < 1e-8


def test_poisson_ml_is_unbiased_at_low_counts_where_log_lsq_is_not():
    """~50 counts per channel: the extrapolated background under an edge window, averaged
    over 20,000 spectra. ML is off by only the unavoidable non-linearity of extrapolating
    with a noisy exponent (σ_r ≈ 0.5 here, E[e^(-δr·L)] > 1: measured +0.25 %); the
    log-domain least squares by ~2 % (measured here: +2.0 % at 50, +7 % at 15 counts)."""
    rng = np.random.default_rng(0)
    mu = point_power_law(a=50 * 330.0 ** R_TRUE)
    counts = rng.poisson(mu, (20000, E.size)).astype(np.float32)
    truth = mu[in_window(*EDGE)].sum()
    bg = {}
    for method in ("mle", "lsq"):
        fit = fit_background(counts, AXIS, windows=(W1[0], W2[1]), method=method)
        total, var = fit.window_sum(AXIS, *EDGE)
        bg[method] = total[~fit.failed].mean() / truth - 1
        if method == "mle":
            assert fit.failed.mean() < 0.001
            ok = ~fit.failed
            pull = (total[ok] - truth) / np.sqrt(var[ok])
            assert abs(pull.mean()) < 0.1 and 0.95 < pull.std() < 1.05
            r_pull = (fit.parameters[ok, 1] - R_TRUE) / np.sqrt(fit.covariance[ok, 1, 1])
            assert abs(r_pull.mean()) < 0.05 and 0.95 < r_pull.std() < 1.05
            assert np.median(fit.fit_quality[ok]) == pytest.approx(1.0, abs=0.05)
    assert abs(bg["mle"]) < 0.005
    assert abs(bg["lsq"]) > 4 * abs(bg["mle"])


def test_poisson_ml_takes_zero_counts_and_flags_negative_ones():
    """At ~3 counts per channel zeros are ordinary Poisson outcomes: ML uses them, the log
    fit has to flag every such spectrum."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(point_power_law(a=3 * 330.0 ** R_TRUE), (2000, E.size)).astype(float)
    has_zero = np.any(counts[:, in_window(W1[0], W2[1])] == 0, axis=1)
    assert has_zero.mean() > 0.9
    mle = fit_background(counts, AXIS, windows=(W1[0], W2[1]))
    lsq = fit_background(counts, AXIS, windows=(W1[0], W2[1]), method="lsq")
    assert np.all(lsq.failed[has_zero])
    # ML fails only where r itself is out of its plausible range (σ_r ≈ 1.5 here)
    assert mle.failed.mean() < 0.1
    ok = ~mle.failed
    r_pull = (mle.parameters[ok, 1] - R_TRUE) / np.sqrt(mle.covariance[ok, 1, 1])
    assert abs(np.median(r_pull)) < 0.15
    counts[3, 50] = -2
    assert fit_background(counts[:5], AXIS, windows=(W1[0], W2[1])).failed[3]


@pytest.mark.parametrize("windows", [(W1, W2), ((320.0, 330.0), (350.0, 365.0)), (320.0, 360.0)])
def test_two_area_exact_recovers_parameters(windows):
    fit = fit_background(binned_power_law(), AXIS, windows=windows, method="two_area_exact")
    a, r = fit.parameters
    assert r == pytest.approx(R_TRUE, rel=1e-6)
    assert a == pytest.approx(A_TRUE, rel=1e-6)
    assert not fit.failed


def test_classic_two_area_exact_for_r_2_and_close_otherwise():
    a, r = fit_background(binned_power_law(r=2.0), AXIS, windows=(W1, W2),
                          method="two_area").parameters
    assert r == pytest.approx(2.0, rel=1e-6)
    assert a == pytest.approx(A_TRUE, rel=1e-6)
    # the geometric-mean approximation: relative error ~u²·r(r-2)/6 per window, u ≈ w/2E
    a, r = fit_background(binned_power_law(), AXIS, windows=(W1, W2), method="two_area").parameters
    assert abs(r - R_TRUE) < 5e-3


def test_two_area_equals_egertons_formula():
    rng = np.random.default_rng(3)
    counts = rng.poisson(binned_power_law()).astype(np.float64)
    fit = fit_background(counts, AXIS, windows=(W1, W2), method="two_area")
    # Egerton (2011) §4.4.2, equal-width adjacent windows E1–E2, E2–E3:
    e1, e2, e3 = 320.0, 340.0, 360.0
    i1 = counts[in_window(*W1)].sum() * AXIS.scale
    i2 = counts[in_window(*W2)].sum() * AXIS.scale
    r = 2 * np.log(i1 / i2) / np.log(e3 / e1)
    a1 = (1 - r) * i1 / (e2 ** (1 - r) - e1 ** (1 - r))
    a2 = (1 - r) * i2 / (e3 ** (1 - r) - e2 ** (1 - r))
    a = (a1 * i1 + a2 * i2) / (i1 + i2)  # exspy's count-weighted mean of the two estimates
    assert fit.parameters[1] == pytest.approx(r, rel=1e-12)
    assert fit.parameters[0] == pytest.approx(a, rel=1e-10)


def test_exponential_and_polynomial_on_exact_data():
    exp_counts = 5e5 * np.exp(-0.011 * E)
    fit = fit_background(exp_counts, AXIS, windows=(W1, W2), model="exponential")
    np.testing.assert_allclose(fit.parameters, [5e5, 0.011], rtol=1e-9)
    poly = 4000.0 - 7.0 * (E - 300) + 0.02 * (E - 300) ** 2
    fit = fit_background(poly, AXIS, windows=(W1, W2), model="polynomial", order=2)
    np.testing.assert_allclose(fit.evaluate(E), poly, rtol=1e-9)
    s, _ = integrate_edge(poly + edge_shape(), AXIS, fit, lo=EDGE[0], hi=EDGE[1])
    assert s == pytest.approx(edge_shape()[in_window(*EDGE)].sum(), rel=1e-8)


def test_power_law_sum_fits_two_power_laws_within_one_percent():
    truth = 3e10 * E ** -2.6 + 4e14 * E ** -4.4
    for n_terms in (2, 3, 4):
        fit = fit_background(truth, AXIS, windows=(W1, W2), model="power_law_sum", n_terms=n_terms)
        assert np.all(fit.parameters >= 0) and not fit.failed
        sel = in_window(W1[0], W2[1])
        np.testing.assert_allclose(fit.evaluate(E[sel]), truth[sel], rtol=1e-2)
        if n_terms >= 3:  # {2, 5} alone extrapolates 2.6 & 4.4 to 380–430 eV only within 4 %
            sel = in_window(*EDGE)
            np.testing.assert_allclose(fit.evaluate(E[sel]), truth[sel], rtol=1e-2)
    exact = 3e10 * E ** -2.0 + 4e14 * E ** -4.0  # on the 4-term basis {2, 3, 4, 5}: exact
    fit = fit_background(exact, AXIS, windows=(W1, W2), model="power_law_sum", n_terms=4)
    np.testing.assert_allclose(fit.parameters, [3e10, 0, 4e14, 0], rtol=1e-6, atol=1e-3 * 3e10)


def test_subtract_and_integrate_noise_free():
    spectrum = point_power_law() + edge_shape()
    fit = fit_background(spectrum, AXIS, windows=(W1, W2))
    sub = subtract_background(spectrum.astype(np.float32), AXIS, fit, lo=EDGE[0], hi=EDGE[1])
    assert sub.dtype == np.float32
    np.testing.assert_allclose(sub, edge_shape()[in_window(*EDGE)], atol=2e-3 * spectrum.max())
    signal, var = integrate_edge(spectrum, AXIS, fit, lo=EDGE[0], hi=EDGE[1])
    truth = edge_shape()[in_window(*EDGE)].sum()
    background = point_power_law()[in_window(*EDGE)].sum()
    # analytic window integral = channel sum to the midpoint rule (~r²·scale²/24E²)
    assert abs(signal - truth) < 1e-6 * background
    assert var >= spectrum[in_window(*EDGE)].sum()


# --------------------------------------------------------------------------- statistics

@pytest.mark.parametrize("method", ["lsq", "two_area", "two_area_exact"])
def test_reported_uncertainty_covers_68_percent(method):
    rng = np.random.default_rng(20261127)
    truth_spec = binned_power_law(a=4e11) + edge_shape(j=400.0)
    noisy = rng.poisson(np.broadcast_to(truth_spec, (400, E.size))).astype(np.float32)
    fit = fit_background(noisy, AXIS, windows=(W1, W2), method=method)
    assert not fit.failed.any()
    assert 0.7 < np.median(fit.fit_quality) < 1.3
    signal, var = integrate_edge(noisy, AXIS, fit, lo=EDGE[0], hi=EDGE[1])
    truth = edge_shape(j=400.0)[in_window(*EDGE)].sum()
    inside = np.abs(signal - truth) <= np.sqrt(var)
    assert 0.55 <= inside.mean() <= 0.80, inside.mean()
    # the extrapolation term is a real part of the error budget here
    total = noisy[:, in_window(*EDGE)].sum(axis=1)
    assert np.median(var - total) > 0.2 * np.median(total)


def test_extrapolation_variance_matches_scatter_of_fits():
    rng = np.random.default_rng(5)
    noisy = rng.poisson(np.broadcast_to(point_power_law(), (2000, E.size))).astype(np.float64)
    fit = fit_background(noisy, AXIS, windows=(W1, W2))
    at = np.array([345.0, 400.0, 450.0])
    predicted = np.median(fit.extrapolation_variance(at), axis=0)
    observed = fit.evaluate(at).var(axis=0)
    np.testing.assert_allclose(predicted, observed, rtol=0.12)


# --------------------------------------------------------------------------- vectorisation

@pytest.mark.parametrize("model,method", [("power_law", "lsq"), ("power_law", "two_area"),
                                          ("power_law", "two_area_exact"), ("exponential", "lsq"),
                                          ("polynomial", "lsq"), ("power_law_sum", "lsq")])
def test_vectorised_equals_loop(model, method):
    rng = np.random.default_rng(11)
    scale = rng.uniform(0.5, 2.0, (7, 5, 1))
    data = rng.poisson(scale * (point_power_law() + edge_shape())).astype(np.float32)
    kw = dict(windows=(W1, W2), model=model, method=method)
    fit = fit_background(data, AXIS, **kw)
    sig, var = integrate_edge(data, AXIS, fit, lo=EDGE[0], hi=EDGE[1])
    assert fit.parameters.shape[:2] == (7, 5) and sig.shape == (7, 5) == fit.failed.shape
    for iy in range(7):
        for ix in range(5):
            one = fit_background(data[iy, ix], AXIS, **kw)
            np.testing.assert_allclose(one.parameters, fit.parameters[iy, ix], rtol=1e-9)
            s1, v1 = integrate_edge(data[iy, ix], AXIS, one, lo=EDGE[0], hi=EDGE[1])
            np.testing.assert_allclose([s1, v1], [sig[iy, ix], var[iy, ix]], rtol=1e-8)


# --------------------------------------------------------------------------- failures

def test_failed_flags_zero_negative_and_nan():
    data = np.tile(point_power_law(), (6, 1))
    data[1, 60] = 0.0          # zero count inside W1: log undefined
    data[2, 90] = -5.0         # negative count
    data[3, 70] = np.nan       # NaN
    data[4, :] = 0.0           # empty spectrum
    data[5, 150] = np.nan      # NaN outside the fit windows: fit fine
    for method in ("lsq", "two_area", "two_area_exact"):
        fit = fit_background(data, AXIS, windows=(W1, W2), method=method)
        expected = [False, method == "lsq", True, True, True, False]
        np.testing.assert_array_equal(fit.failed, expected, err_msg=method)
        sig, var = integrate_edge(data, AXIS, fit, lo=EDGE[0], hi=EDGE[1])
        assert np.isnan(sig[2:5]).all() and np.isfinite(sig[0])
    fit = fit_background(data, AXIS, windows=(W1, W2), model="exponential")
    np.testing.assert_array_equal(fit.failed, [False, True, True, True, True, False])


def test_failed_flags_r_out_of_range_and_negative_polynomial():
    fit = fit_background(np.tile(1e3 * E ** -0.1, (2, 1)), AXIS, windows=(W1, W2))
    assert fit.failed.all()
    falling = 6000.0 - 15.0 * (E - 300)  # goes negative at 700 eV... beyond the axis: fine
    steep = 6000.0 - 40.0 * (E - 300)    # negative from 450 eV, inside the axis
    fit = fit_background(np.stack([falling, steep]), AXIS, windows=(W1, W2),
                         model="polynomial", order=1)
    np.testing.assert_array_equal(fit.failed, [False, True])


@pytest.mark.parametrize("kwargs,message", [
    (dict(windows=(250.0, 320.0)), "outside the energy axis"),
    (dict(windows=(320.0, 320.8)), "at least 3"),
    (dict(windows=(W1, (330.0, 350.0))), "overlap"),
    (dict(windows=((320.0, 340.25), (340.25, 360.0))), "share the channel at 340.25"),
    (dict(windows=W1, model="gaussian"), "unknown background model"),
    (dict(windows=W1, model="exponential", method="two_area"), "not available"),
    (dict(windows=[1, 2, 3]), "one (lo, hi) pair"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_background(point_power_law(), AXIS, **kwargs)


def test_shape_mismatch_and_edge_window_errors():
    with pytest.raises(ValueError, match="do not match the energy axis"):
        fit_background(np.ones((3, 399)), AXIS, windows=W1)
    fit = fit_background(point_power_law(), AXIS, windows=(W1, W2))
    with pytest.raises(ValueError, match="overlaps the fit window"):
        integrate_edge(point_power_law(), AXIS, fit, lo=355.0, hi=400.0)
    with pytest.raises(ValueError, match="outside the energy axis"):
        integrate_edge(point_power_law(), AXIS, fit, lo=480.0, hi=520.0)
    with pytest.raises(ValueError, match="overlaps the fit window"):
        subtract_background(point_power_law(), AXIS, fit, lo=300.5, hi=330.0)
    with pytest.raises(ValueError, match="positive energies"):
        axis = AxisCalibration("E", "eV", 1.0, -10.0, 100)
        fit_background(np.ones(100), axis, windows=(-5.0, 20.0))


# --------------------------------------------------------------------------- exspy

def test_two_area_agrees_with_exspy():
    exspy = pytest.importorskip("exspy")
    pytest.importorskip("hyperspy")
    from hyperspy.components1d import PowerLaw

    rng = np.random.default_rng(8)
    data = rng.poisson(np.broadcast_to(binned_power_law(), (4, E.size))).astype(np.float64)
    s = exspy.signals.EELSSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    # hyperspy's two-area code uses axis values as the channel *left edges*
    ax.scale, ax.offset, ax.units = AXIS.scale, AXIS.offset - AXIS.scale / 2, "eV"
    a_ex, r_ex = PowerLaw().estimate_parameters(s, intervals=[W1, W2], out=True)
    fit = fit_background(data, AXIS, windows=(W1, W2), method="two_area")
    np.testing.assert_allclose(fit.parameters[:, 1], r_ex, atol=1e-3)
    np.testing.assert_allclose(fit.parameters[:, 1], r_ex, rtol=1e-9)  # in fact identical
    integrate_sums = s.axes_manager.signal_axes[0].is_binned  # binned: window integral = sum
    factor = AXIS.scale if integrate_sums else 1.0
    np.testing.assert_allclose(fit.parameters[:, 0], np.asarray(a_ex) * factor, rtol=1e-8)


# --------------------------------------------------------------------------- kernels / fast paths

def test_window_sum_fast_paths_match_channel_sums():
    rng = np.random.default_rng(2)
    noisy = rng.poisson(np.broadcast_to(5e5 * np.exp(-0.011 * E), (50, E.size))).astype(float)
    for model, data in (("exponential", noisy), ("power_law", noisy)):
        fit = fit_background(data, AXIS, windows=(W1, W2), model=model)
        sel = in_window(*EDGE)
        total, var = fit.window_sum(AXIS, *EDGE)
        np.testing.assert_allclose(total, fit.evaluate(E[sel]).sum(axis=-1), rtol=1e-5)
        jac = fit._jacobian(E[sel]).sum(axis=-2)
        np.testing.assert_allclose(var, np.einsum("pk,pkl,pl->p", jac, fit.covariance, jac),
                                   rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loglinear_kernel_matches_numpy(dtype):
    from batteryscope.analysis.eels import _background_fits as fits

    rng = np.random.default_rng(4)
    data = rng.uniform(1, 100, (8 * 17, 23)).astype(dtype)
    data[3, 5], data[7, 2], data[9, 0] = np.nan, 0.0, -1.0
    idx = np.array([1, 2, 3, 5, 8, 13, 21])
    x = np.log(rng.uniform(300, 400, idx.size))
    theta, cov, flags, moments = fits.fit_loglinear(data, idx, x)
    chi2 = fits.loglinear_chi2(moments, theta)
    c = data[:, idx].astype(np.float64)
    good = np.isfinite(c) & (c > 0)
    np.testing.assert_array_equal(flags[:, 0], ~np.all(np.isfinite(c), axis=1))
    np.testing.assert_array_equal(flags[:, 1], np.any(np.isfinite(c) & (c <= 0), axis=1))
    np.testing.assert_array_equal(flags[:, 2], np.any(np.isfinite(c) & (c < 0), axis=1))
    for p in range(len(c)):
        w, y, xx = c[p][good[p]], np.log(c[p][good[p]]), x[good[p]]
        design = np.stack([np.ones_like(xx), xx], axis=1)
        normal = design.T @ (w[:, None] * design)
        ref = np.linalg.solve(normal, design.T @ (w * y))
        np.testing.assert_allclose(theta[p], ref, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(cov[p], np.linalg.inv(normal), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(chi2[p], np.sum(w * (y - ref[0] - ref[1] * xx) ** 2),
                                   rtol=1e-6, atol=1e-9)
    empty_theta, *_ = fits.fit_loglinear(np.zeros((0, 23), dtype), idx, x)
    assert empty_theta.shape == (0, 2)


@pytest.mark.parametrize("method", ["mle", "lsq"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_fit_and_integrate_in_one_pass_equals_the_two_steps(method, dtype):
    from batteryscope.analysis.eels.background import fit_and_integrate

    rng = np.random.default_rng(7)
    counts = rng.poisson(point_power_law() + edge_shape(), (6, 5, E.size)).astype(dtype)
    counts[0, 0, 10] = 0
    fit, signal, variance = fit_and_integrate(counts, AXIS, windows=(W1, W2), lo=EDGE[0],
                                              hi=EDGE[1], method=method)
    ref = fit_background(counts, AXIS, windows=(W1, W2), method=method)
    ref_signal, ref_var = integrate_edge(counts, AXIS, ref, lo=EDGE[0], hi=EDGE[1])
    np.testing.assert_allclose(fit.parameters, ref.parameters, rtol=1e-12)
    np.testing.assert_allclose(signal, ref_signal, rtol=1e-9)
    np.testing.assert_allclose(variance, ref_var, rtol=1e-9)
    truth = edge_shape()[in_window(*EDGE)].sum()
    assert np.mean(signal) == pytest.approx(truth, rel=3 * np.sqrt(np.mean(variance) / 30) / truth)
