"""Low-loss kernels and the model fit with plural scattering convolved into the model.

The plural scattering here is built independently of the code under test: a Poisson sum
of self-convolutions of a Drude-like single-scattering distribution (Egerton 2011,
ch. 3.7 / 4.3), applied with ``np.convolve`` on a finer grid and then binned.
"""
import math

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.model_fit import EdgeComponent, fit_edge_model
from batteryscope.analysis.eels.plural_scattering import low_loss_kernel

CORE = AxisCalibration("Energy loss", "eV", 0.5, 400.0, 1024)
E = CORE.values()
ONSETS = {"O_K": 532.0, "Mn_L3": 640.0, "Ni_L3": 855.0}


def low_loss(t_over_lambda, dispersion=0.5, offset=-20.0, n=600, plasmon=22.0, width=6.0):
    """(counts, axis): ZLP (Gaussian, 1 eV FWHM) ⊗ Poisson plural plasmon scattering."""
    axis = AxisCalibration("Energy loss", "eV", dispersion, offset, n)
    e = axis.values()
    loss = dispersion * np.arange(n)
    ssd = loss * width * plasmon / ((loss ** 2 - plasmon ** 2) ** 2 + (loss * width) ** 2)
    ssd /= ssd.sum()
    total = np.zeros(n)
    term = np.zeros(n)
    term[0] = 1.0
    for k in range(12):        # P(k) = exp(-t) t^k / k!
        total += np.exp(-t_over_lambda) * t_over_lambda ** k / math.factorial(k) * term
        term = np.convolve(term, ssd)[:n]
    zlp = np.exp(-0.5 * (e / (1.0 / 2.3548)) ** 2)
    counts = np.convolve(zlp, total)[:n]        # ZLP stays where 0 eV is on the axis
    return 1e6 * counts / counts.sum(), axis


def saw_tooth(onset, decay=3.0, rise=3.0):
    u = np.clip((E - onset) / rise, 0, None)
    return np.where(E > onset, (1 - np.exp(-u)) * (E / onset) ** -decay, 0.0)


def white_line(centre, fwhm=1.5, area=3.0):
    s = fwhm / 2.3548
    return area * 0.5 / (np.sqrt(2 * np.pi) * s) * np.exp(-0.5 * ((E - centre) / s) ** 2)


def test_kernel_is_normalised_and_centred():
    counts, axis = low_loss(0.6)
    k = low_loss_kernel(counts, axis, 0.5)
    assert k.weights.sum() == pytest.approx(1.0)
    assert k.zero_index == 40                         # -20 eV at 0.5 eV/channel
    assert abs(np.argmax(k.weights) - k.zero_index) <= 1
    # a kernel that is a delta leaves a column unchanged; a shifted delta shifts it
    delta = low_loss_kernel(np.eye(1, 600, 40)[0], axis, 0.5)
    col = saw_tooth(532.0)
    np.testing.assert_allclose(delta.convolve(col), col, atol=1e-12)
    shifted = low_loss_kernel(np.eye(1, 600, 50)[0], axis, 0.5)   # a 5 eV loss
    np.testing.assert_allclose(shifted.convolve(col)[10:], col[:-10], atol=1e-12)


def test_rebinning_to_another_dispersion_conserves_the_loss_distribution():
    fine, fine_axis = low_loss(0.8, dispersion=0.25, offset=-20.0, n=1200)
    coarse, coarse_axis = low_loss(0.8, dispersion=0.5, offset=-20.0, n=600)
    a = low_loss_kernel(fine, fine_axis, 0.5)
    b = low_loss_kernel(coarse, coarse_axis, 0.5)
    assert a.zero_index == b.zero_index
    # the mean energy loss is the same (t/λ × mean plasmon loss) to a fraction of a channel
    mean = [np.sum(k.weights * 0.5 * (np.arange(k.weights.size) - k.zero_index)) for k in (a, b)]
    assert mean[0] == pytest.approx(mean[1], abs=0.1)


def _spectrum(amps, t_over_lambda, with_white_lines=True):
    shapes = {n: saw_tooth(on) for n, on in ONSETS.items()}
    ssd = sum(a * shapes[n] for a, n in zip(amps, ONSETS))
    if with_white_lines:     # white lines ride on the TM edges: the free region takes them
        ssd = ssd + amps[1] * (white_line(642.0) + white_line(653.0, area=1.2))
        ssd = ssd + amps[2] * (white_line(857.0) + white_line(874.0, area=1.0))
    counts, axis = low_loss(t_over_lambda)
    kernel = low_loss_kernel(counts, axis, 0.5)
    plural = kernel.convolve(ssd)
    return 2000.0 * (E / 500.0) ** -3.1 + plural, shapes, (counts, axis)


def components(shapes, fine=True):
    return [EdgeComponent(n, shapes[n], ONSETS[n], (25.0 if fine else 0.0), 4.0)
            for n in ONSETS]


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_convolved_model_recovers_the_single_scattering_amplitudes(tau):
    amps = np.array([4000.0, 900.0, 600.0])
    y, shapes, (counts, axis) = _spectrum(amps, tau)
    kernel = low_loss_kernel(counts, axis, 0.5)
    fit = fit_edge_model(y, CORE, components(shapes), fit_range=(470, CORE.high),
                         low_loss=kernel)
    assert not fit.failed
    np.testing.assert_allclose(fit.amplitudes, amps, rtol=2e-3)
    assert fit.background_r == pytest.approx(3.1, abs=2e-3)
    # the same spectrum fitted as if it were single scattering: Ni (near the end of the
    # axis, where its plural-scattering tail is cut off) and the ratios go wrong
    naive = fit_edge_model(y, CORE, components(shapes), fit_range=(470, CORE.high))
    err = np.abs(naive.amplitudes / amps - 1)
    assert err.max() > 5e-3 * (1 + 10 * tau)


def test_noisy_convolved_fit_is_unbiased_within_its_errors():
    rng = np.random.default_rng(3)
    amps = np.array([4000.0, 900.0, 600.0])
    y, shapes, (counts, axis) = _spectrum(amps, 0.8)
    kernel = low_loss_kernel(counts, axis, 0.5)
    noisy = rng.poisson(np.broadcast_to(y, (400, y.size))).astype(np.float32)
    fit = fit_edge_model(noisy, CORE, components(shapes), fit_range=(470, CORE.high),
                         low_loss=kernel)
    assert not fit.failed.any()
    pulls = (fit.amplitudes - amps) / fit.amplitude_err
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.2)
    assert np.all((pulls.std(axis=0) > 0.85) & (pulls.std(axis=0) < 1.15))


def test_bad_kernels_are_refused():
    counts, axis = low_loss(0.5)
    with pytest.raises(ValueError, match="0 eV"):
        low_loss_kernel(counts, AxisCalibration("E", "eV", 0.5, 5.0, 600), 0.5)
    with pytest.raises(ValueError, match="non-finite"):
        low_loss_kernel(np.where(np.arange(600) == 3, np.nan, counts), axis, 0.5)
    with pytest.raises(ValueError, match="no counts"):
        low_loss_kernel(np.zeros(600), axis, 0.5)
    y, shapes, _ = _spectrum(np.array([4000.0, 900.0, 600.0]), 0.5)
    with pytest.raises(ValueError, match="eV/channel"):
        fit_edge_model(y, CORE, components(shapes), low_loss=low_loss_kernel(counts, axis, 0.25))
