"""Low-loss EELS analysis: ZLP position, energy alignment, log-ratio t/λ.

Plain pytest, no Qt, no exspy. Synthetic checks build their spectra here (erf-integrated
peaks, explicit Poisson sums of self-convolutions); one group checks against the truth of
the layered-oxide dual-EELS demo (the low loss does not depend on the core-loss
cross-sections, so simple hydrogenic-like shapes as in test_specimen_layered_oxide do).
"""
import numpy as np
import pytest
from scipy.special import erf
from scipy.stats import poisson

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.low_loss import (absolute_thickness, align_energy,
                                                 inelastic_mean_free_path, t_over_lambda,
                                                 zero_loss_position, zero_loss_threshold)
from batteryscope.analysis.specimens import eels_low_loss as generator
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_dual_eels

AXIS = AxisCalibration("Energy loss", "eV", 0.5, -20.0, 512)
E = AXIS.values()
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))
E_CORE = DualEELSAcquisition().core_loss_axis().values()
SMALL = {"nav_shape": (6, 24), "pixel_size_nm": 0.5}     # vacuum, layer and bulk, fast


def _edge(onset, peak, exponent=2.5):
    return np.where(E_CORE >= onset, peak * (onset / np.maximum(E_CORE, onset)) ** exponent, 0.0)


CROSS_SECTIONS = {"O_K": _edge(532.0, 23.0, 3.0), "Mn_L3": _edge(640.0, 32.0),
                  "Co_L3": _edge(779.0, 19.0), "Ni_L3": _edge(855.0, 14.0)}


def split_gaussian_counts(energy, centre, fwhm, ratio=1.0, area=1.0):
    """Bin-integrated split Gaussian (σ_high = ratio·σ_low, mode at ``centre``)."""
    d = energy[1] - energy[0]
    s_lo = fwhm / FWHM_PER_SIGMA * 2 / (1 + ratio)
    s_hi = ratio * s_lo
    c = np.asarray(centre, dtype=float)[..., None]

    def cdf(x):
        z = x - c
        lo = s_lo * (1 + erf(np.minimum(z, 0) / (s_lo * np.sqrt(2))))
        hi = s_hi * erf(np.maximum(z, 0) / (s_hi * np.sqrt(2)))
        return (lo + hi) / (s_lo + s_hi)

    return area * (cdf(energy + d / 2) - cdf(energy - d / 2))


# --------------------------------------------------------------------------- ZLP position
@pytest.mark.parametrize("fwhm_channels", [1.6, 3.0, 6.0])
def test_gaussian_zlp_position_to_a_fiftieth_of_a_channel(fwhm_channels):
    offsets = np.linspace(-1.5, 1.5, 61) * AXIS.scale        # sub-channel phases
    spectra = split_gaussian_counts(E, offsets, fwhm_channels * AXIS.scale, area=1e5)
    pos = zero_loss_position(spectra.astype(np.float32), AXIS)
    assert pos.shape == offsets.shape and pos.dtype == np.float64
    assert np.max(np.abs(pos - offsets)) / AXIS.scale < 0.02


def test_asymmetric_zlp_bias_is_on_the_loss_side_and_bounded():
    # log-parabola through 3 point samples of a split Gaussian sampled at its mode reads
    # 0.5 (r² − 1)/(r² + 1) channel high (0.069 for r = 1.15); bin integration reduces it.
    r = 1.15
    bound = 0.5 * (r**2 - 1) / (r**2 + 1)
    offsets = np.linspace(-0.5, 0.5, 41) * AXIS.scale
    spectra = split_gaussian_counts(E, offsets, 0.8, ratio=r, area=1e5)
    bias = (zero_loss_position(spectra, AXIS) - offsets) / AXIS.scale
    assert np.all(bias > 0.03) and np.all(bias < bound)
    # the phase-dependent part, what survives aligning a paired SI, is small
    assert np.ptp(bias) < 0.03


def test_zlp_position_flags_what_it_cannot_measure():
    good = split_gaussian_counts(E, 0.3, 0.8, area=1e4)
    spectra = np.stack([good, np.zeros_like(good), np.full_like(good, np.nan), good, good])
    spectra[3, 45] = np.nan                             # a NaN inside the search window
    spectra[4] = split_gaussian_counts(E, -9.9, 0.8, area=1e4)     # maximum on the edge
    pos = zero_loss_position(spectra, AXIS)
    assert np.isfinite(pos[0]) and np.all(np.isnan(pos[1:]))


def test_windows_and_shapes_are_checked():
    s = np.ones((2, AXIS.size))
    with pytest.raises(ValueError, match="outside"):
        zero_loss_position(s, AXIS, search=(-30, 5))
    with pytest.raises(ValueError, match="outside"):
        t_over_lambda(s, AXIS, zlp_window=(200, 300))
    with pytest.raises(ValueError, match="lo < hi"):
        t_over_lambda(s, AXIS, zlp_window=(3, -3))
    with pytest.raises(ValueError, match="shape"):
        zero_loss_position(np.ones((2, 7)), AXIS)
    with pytest.raises(ValueError, match="fill"):
        align_energy(s, AXIS, 0.0, fill="zero")
    with pytest.raises(ValueError, match="broadcast"):
        align_energy(s, AXIS, np.zeros(3))
    with pytest.raises(ValueError, match="imfp"):
        absolute_thickness(1.0, 0.0)


# --------------------------------------------------------------------------- alignment
def test_align_energy_undoes_a_known_shift():
    shifts = np.array([[0.0, 0.37, -1.13], [2.5, -0.5, 0.01]])   # eV, (2, 3) pixels
    reference = split_gaussian_counts(E, 100.0, 12.0, area=1e4)[None, None] \
        + split_gaussian_counts(E, 60.0, 8.0, area=5e3)[None, None]
    drifted = (split_gaussian_counts(E, 100.0 + shifts, 12.0, area=1e4)
               + split_gaussian_counts(E, 60.0 + shifts, 8.0, area=5e3)).astype(np.float32)
    out = align_energy(drifted, AXIS, shifts)
    assert out.dtype == np.float32 and out.shape == drifted.shape
    # linear interpolation of a peak 16+ channels wide: error ≲ f(1−f)/2 · max|J''| h²
    err = np.nanmax(np.abs(out - reference)) / reference.max()
    assert err < 2e-3
    # counts conserved away from the ends (the spectra are ~0 there)
    np.testing.assert_allclose(np.nansum(out, axis=-1), drifted.sum(-1), rtol=1e-5)


def test_align_energy_edges_and_whole_channel_shifts():
    s = np.arange(1.0, AXIS.size + 1)[None].repeat(4, 0)
    shifts = np.array([0.0, 1.0, -1.0, 0.25])          # 0, +2, −2, +0.5 channels
    out = align_energy(s, AXIS, shifts)
    np.testing.assert_array_equal(out[0], s[0])
    np.testing.assert_array_equal(out[1, :-2], s[1, 2:])
    assert np.all(np.isnan(out[1, -2:]))
    np.testing.assert_array_equal(out[2, 2:], s[2, :-2])
    assert np.all(np.isnan(out[2, :2]))
    np.testing.assert_allclose(out[3, :-1], s[3, :-1] + 0.5)
    assert np.isnan(out[3, -1])
    edge = align_energy(s, AXIS, shifts, fill="edge")
    assert edge[1, -1] == s[1, -1] and edge[2, 0] == s[2, 0] and not np.isnan(edge).any()
    nan_shift = align_energy(s[:1], AXIS, np.nan)
    assert np.all(np.isnan(nan_shift))
    assert align_energy(s, AXIS, 0.0).dtype == np.float64


# --------------------------------------------------------------------------- t / λ
def drude_ssd(loss, plasmon_eV=15.0, width_eV=4.0, gap_eV=3.0):
    ssd = plasmon_eV**2 * loss * width_eV / ((loss**2 - plasmon_eV**2) ** 2 + (loss * width_eV) ** 2)
    ssd = np.where(loss > gap_eV, ssd, 0.0)
    return ssd / ssd.sum()


def poisson_low_loss(axis, tau, zlp_fwhm=1.0, n_max=30):
    """I0 Σ P_n Z * S^{*n}, the self-convolutions done explicitly in real space."""
    e = axis.values()
    k0 = int(round(-axis.offset / axis.scale))
    ssd = drude_ssd(axis.scale * np.arange(axis.size))
    zlp = split_gaussian_counts(e, 0.0, zlp_fwhm)
    out, order = np.zeros((len(tau), axis.size)), zlp.copy()
    for n in range(n_max + 1):
        out += poisson.pmf(n, np.asarray(tau))[:, None] * order
        order = np.convolve(order, ssd)[: axis.size]     # loss grid starts at channel k0
    assert k0 > 0
    return 1e6 * out


def test_t_over_lambda_recovers_the_poisson_thickness():
    axis = AxisCalibration("Energy loss", "eV", 0.25, -10.0, 2048)
    tau = np.array([0.05, 0.3, 1.0, 2.0, 3.0])
    spectra = poisson_low_loss(axis, tau)
    got = t_over_lambda(spectra.astype(np.float32), axis)
    np.testing.assert_allclose(got, tau, rtol=0.01)
    windowed = t_over_lambda(spectra, axis, zlp_window=(-10.0, 2.5))
    np.testing.assert_allclose(windowed, tau, rtol=0.01)
    thr = zero_loss_threshold(spectra, axis)
    assert np.all((thr > 1.0) & (thr < 4.0))


def test_t_over_lambda_flags_missing_data():
    s = poisson_low_loss(AXIS, [0.5, 0.5, 0.5])
    s[1] = np.nan
    s[2] = 0.0
    got = t_over_lambda(s, AXIS)
    assert np.isfinite(got[0]) and np.all(np.isnan(got[1:]))
    flat = np.ones((1, AXIS.size))                      # no peak, no minimum
    assert np.isnan(t_over_lambda(flat, AXIS)[0])


def test_absolute_thickness_and_the_shared_imfp():
    lam = inelastic_mean_free_path(4.24, beam_energy_keV=300, convergence_mrad=20,
                                   collection_mrad=30)
    assert inelastic_mean_free_path is generator.inelastic_mean_free_path
    assert 100 < lam < 250
    np.testing.assert_allclose(absolute_thickness(np.array([0.5, np.nan]), lam)[0], 0.5 * lam)
    assert np.isnan(absolute_thickness(np.nan, lam))


# --------------------------------------------------------------------------- demo truth
@pytest.fixture(scope="module")
def demo():
    return layered_oxide_dual_eels(CROSS_SECTIONS, seed=3, **SMALL)


def test_demo_zlp_drift_is_recovered(demo):
    low = demo.signals[0]
    truth = np.array(demo.truth["maps"]["zlp_shift_eV"])
    pos = zero_loss_position(low.data, low.axes[-1])
    err = pos - truth
    assert not np.isnan(pos).any()
    # 0.5 eV channels, 0.8 eV FWHM split-Gaussian ZLP: the asymmetry bias is 0.02–0.035 eV
    assert np.sqrt(np.mean(err**2)) < 0.05
    # what matters for aligning the core loss: the pixel-to-pixel scatter
    assert np.std(err) < 0.01


def test_demo_t_over_lambda_matches_truth(demo):
    low = demo.signals[0]
    truth = np.array(demo.truth["maps"]["t_over_lambda"])
    got = t_over_lambda(low.data, low.axes[-1])
    # Poisson counting: var ln(I_t/I_0) = 1/I_0 − 1/I_t = (e^τ − 1)/N per pixel;
    # the noise-free log-ratio is within 2e-4 of the truth (ZLP tail / onset overlap)
    n = demo.truth["electrons_per_pixel"]["low_loss"]
    sigma = np.sqrt(np.expm1(truth) / n)
    assert np.all(np.abs(got - truth) < 5 * sigma + 1e-3)
    thick = truth > 0.2
    assert abs(np.mean((got - truth)[thick] / truth[thick])) < 0.005
    assert np.max(np.abs(got - truth)[thick] / truth[thick]) < 0.03


def test_demo_core_loss_aligns_on_the_low_loss_drift():
    # noise-free core loss (same seed, same drift) aligned on the drift measured from the
    # low loss agrees with the alignment on the true drift to within the drift error
    # (≤ 0.1 channel) times the steepest channel-to-channel step of the spectra
    specimen = layered_oxide_dual_eels(CROSS_SECTIONS, seed=3, noise=False, **SMALL)
    low, core = specimen.signals
    truth = np.array(specimen.truth["maps"]["zlp_shift_eV"])
    drift = zero_loss_position(low.data, low.axes[-1])
    measured = align_energy(core.data, core.axes[-1], drift)
    ideal = align_energy(core.data, core.axes[-1], truth)
    step = np.max(np.abs(np.diff(core.data, axis=-1)), axis=-1, keepdims=True)
    step = np.maximum(step, np.finfo(np.float32).tiny)      # vacuum holds no core loss
    mismatch = np.nanmax(np.abs(measured - ideal) / step)
    assert mismatch < 0.1
    unaligned = np.nanmax(np.abs(core.data - ideal) / step)
    assert unaligned > 10 * mismatch
