"""Known-truth tests of the synthetic Li-rich layered-oxide dual-EELS spectrum image.

Plain pytest, no Qt, no exspy (except the one ``slow`` test at the end): the continuum
cross-sections are simple hydrogenic-like shapes built here.
"""
import json

import numpy as np
import pytest
from scipy.fft import irfft, rfft
from scipy.special import erf

from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.eels_edge_references import WHITE_LINE_REFERENCES
from batteryscope.analysis.specimens.eels_line_shapes import (asymmetric_gaussian_counts,
                                                              pseudo_voigt_counts)
from batteryscope.analysis.specimens.eels_low_loss import (low_loss_single_scattering,
                                                           plural_scattering,
                                                           plural_scattering_weights)
from batteryscope.analysis.specimens.eels_spectra import (convolve_with_low_loss,
                                                          o_k_fine_structure, shift_spectra,
                                                          white_lines)
from batteryscope.analysis.specimens.layered_oxide_si import (
    LAYERED_OXIDE_EDGES, layered_oxide_dual_eels, layered_oxide_expected_spectra)
from batteryscope.analysis.specimens.specimen import ACQUISITION_KEYS

ACQ = DualEELSAcquisition()
E_CORE = ACQ.core_loss_axis().values()
E_LOW = ACQ.low_loss_axis().values()
D = ACQ.dispersion_eV
SMALL = {"nav_shape": (6, 24), "pixel_size_nm": 0.5}     # vacuum, layer and bulk, fast


def hydrogenic_like(onset, peak, *, exponent, rise_eV=0.0):
    """σ(E) = peak (onset/E)^exponent above the onset, with an optional delayed rise."""
    e = np.maximum(E_CORE, onset)
    sigma = peak * (onset / e) ** exponent
    if rise_eV:
        sigma = sigma * -np.expm1(-(e - onset) / rise_eV)
    return np.where(E_CORE >= onset, sigma, 0.0)


CROSS_SECTIONS = {
    "O_K": hydrogenic_like(532.0, 23.0, exponent=3.0),
    "Mn_L3": hydrogenic_like(640.0, 32.0, exponent=2.5, rise_eV=12.0),
    "Co_L3": hydrogenic_like(779.0, 19.0, exponent=2.5, rise_eV=12.0),
    "Ni_L3": hydrogenic_like(855.0, 14.0, exponent=2.5, rise_eV=12.0),
}


@pytest.fixture(scope="module")
def expected():
    return layered_oxide_expected_spectra(CROSS_SECTIONS, seed=3)


@pytest.fixture(scope="module")
def noisy():
    return layered_oxide_dual_eels(CROSS_SECTIONS, seed=3)


def _bulk(exp):
    return exp.maps["distance_nm"] > 4.0


def _surface(exp):
    d = exp.maps["distance_nm"]
    return (d > 0.25) & (d < 1.5)


# --------------------------------------------------------------------------- building blocks
def test_plural_scattering_is_the_poisson_sum_of_self_convolutions():
    loss = 0.5 * np.arange(512)        # FFT padded to 2x: wrap-around ~1e-11 on this grid
    ssd = low_loss_single_scattering(loss, plasmon_eV=12.0, plasmon_fwhm_eV=4.0)
    tau = np.array([0.0, 0.4, 1.3])
    weights = plural_scattering_weights(tau, 25)
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    direct = np.zeros((3, loss.size))
    order = np.zeros(loss.size)
    order[0] = 1.0
    for n in range(1, 26):
        order = np.convolve(order, ssd)[: loss.size]
        direct += weights[:, n, None] * order
    np.testing.assert_allclose(plural_scattering(ssd, tau), direct, rtol=1e-6, atol=1e-10)
    other = low_loss_single_scattering(loss, plasmon_eV=20.0)
    mixed = plural_scattering(np.stack([ssd, other]), tau, weights=[[0.3, 0.7]] * 3)
    np.testing.assert_allclose(mixed, plural_scattering(0.3 * ssd + 0.7 * other, tau), atol=1e-15)


def test_line_shapes_keep_their_area_mode_and_width():
    fine = np.arange(-5.0, 5.0, 0.001)
    zlp = asymmetric_gaussian_counts(fine, 0.3, 0.8, asymmetry=1.15, area=2.0)
    assert zlp.sum() == pytest.approx(2.0, rel=1e-9)
    assert fine[np.argmax(zlp)] == pytest.approx(0.3, abs=1e-3)
    above = fine[zlp >= zlp.max() / 2]
    assert above[-1] - above[0] == pytest.approx(0.8, abs=2e-3)
    coarse = pseudo_voigt_counts(E_CORE, 641.3, 2.0, lorentz_fraction=0.2, area=5.0)
    assert coarse.sum() == pytest.approx(5.0, rel=2e-3)          # Lorentz tails beyond the axis
    centres = np.array([399.0, 400.1, 641.3, 911.4, 930.0])       # also at and beyond the ends
    edges = np.concatenate(([E_CORE[0] - D / 2], E_CORE + D / 2))
    sigma = 1.7 / (2 * np.sqrt(2 * np.log(2)))
    full = np.diff(0.5 * erf((edges - centres[:, None]) / (sigma * np.sqrt(2))), axis=-1)
    np.testing.assert_allclose(pseudo_voigt_counts(E_CORE, centres, 1.7, lorentz_fraction=0.0),
                               full, atol=1e-15)


def test_shift_and_convolution_with_a_delta_low_loss():
    spec = CROSS_SECTIONS["O_K"]
    np.testing.assert_allclose(shift_spectra(spec, 4.0)[4:], spec[:-4])
    delta = np.zeros(E_LOW.size)
    delta[ACQ.zero_loss_index] = 1.0
    np.testing.assert_allclose(convolve_with_low_loss(spec, delta,
                                                      zero_loss_index=ACQ.zero_loss_index),
                               spec, atol=1e-12)
    delta = np.roll(delta, 2)                                     # ZLP 1 eV up: spectrum too
    shifted = convolve_with_low_loss(spec, delta, zero_loss_index=ACQ.zero_loss_index)
    np.testing.assert_allclose(shifted[2:], spec[:-2], atol=1e-12)


# --------------------------------------------------------------------------- structure
def test_same_seed_same_data_other_seed_other_noise():
    a = layered_oxide_dual_eels(CROSS_SECTIONS, seed=7, **SMALL)
    b = layered_oxide_dual_eels(CROSS_SECTIONS, seed=7, **SMALL)
    c = layered_oxide_dual_eels(CROSS_SECTIONS, seed=8, **SMALL)
    for sa, sb, sc in zip(a.signals, b.signals, c.signals):
        np.testing.assert_array_equal(sa.data, sb.data)
        assert not np.array_equal(sa.data, sc.data)
    assert json.dumps(a.truth) == json.dumps(b.truth)
    assert a.truth["maps"]["zlp_shift_eV"] != c.truth["maps"]["zlp_shift_eV"]   # jitter


def test_signals_axes_and_acquisition_metadata(noisy):
    low, core = noisy.signals
    for sig, offset in ((low, -20.0), (core, 400.0)):
        assert sig.data.shape == (48, 64, 1024) and sig.data.dtype == np.float32
        assert sig.signal_type == "EELS"
        y, x, e = sig.axes
        assert (y.name, y.units, y.navigate, y.scale) == ("y", "nm", True, 0.25)
        assert (x.name, x.units, x.navigate) == ("x", "nm", True)
        assert (e.name, e.units, e.navigate, e.scale, e.offset) == ("Energy loss", "eV", False,
                                                                    0.5, offset)
        assert set(sig.acquisition) <= ACQUISITION_KEYS
        assert sig.acquisition["beam_energy_keV"] == 300.0
    assert low.acquisition["dwell_time_s"] * 50 < core.acquisition["dwell_time_s"]
    assert core.acquisition["dose_e_per_pixel"] == pytest.approx(0.2e-9 * 20e-3 / 1.602176634e-19)
    assert core.axes[2].high > 872 + 30          # past Ni L2


def test_truth_is_json_serialisable_and_complete(noisy):
    truth = json.loads(json.dumps(noisy.truth, allow_nan=False))
    maps = truth["maps"]
    for key in ("t_over_lambda", "thickness_nm", "zlp_shift_eV", "region",
                "distance_from_surface_nm", "o_k_pre_peak_strength",
                "background_A_counts_per_channel", "background_r"):
        assert np.shape(maps[key]) == (48, 64), key
    for el in ("Li", "O", "Mn", "Co", "Ni"):
        assert np.shape(maps["areal_density_atoms_per_nm2"][el]) == (48, 64)
    for el in ("Mn", "Co", "Ni"):
        assert np.shape(maps["l3_l2_ratio"][el]) == (48, 64)
    tau, t = np.array(maps["t_over_lambda"]), np.array(maps["thickness_nm"])
    np.testing.assert_allclose(t, tau * truth["mean_free_path_nm"])
    assert 140 < truth["mean_free_path_nm"] < 180
    assert truth["region_names"] == ["vacuum", "surface_layer", "bulk"]


def test_geometry_regions_and_chemistry_follow_the_model(expected):
    m = expected.maps
    region, tau = m["region"], m["t_over_lambda"]
    assert (region[:, 0] == 0).all() and (region[:, -1] == 2).all()
    assert set(np.unique(region)) == {0, 1, 2}
    inside = region > 0
    assert tau[inside].min() > 0.0 and 0.25 < tau[_surface(expected)].min() < 0.45
    assert 0.9 < tau[:, -1].mean() < 1.1
    bulk, surf = _bulk(expected), _surface(expected)
    n = m["areal_density"]
    assert np.sum(n["Mn"][bulk]) / np.sum(n["O"][bulk]) == pytest.approx(0.54 / 2.0, rel=1e-3)
    assert np.sum(n["Mn"][surf]) / np.sum(n["O"][surf]) > 0.44          # TM-rich, O-poor
    assert np.sum(n["Li"][surf]) / np.sum(n["O"][surf]) < 0.2           # Li-poor
    ratio = m["l3_l2_ratio"]["Mn"]
    assert ratio[bulk].mean() == pytest.approx(2.0, abs=1e-3)
    assert 2.6 < ratio[surf].mean() < 3.0
    shift = m["l3_peak_eV"]["Mn"][bulk].mean() - m["l3_peak_eV"]["Mn"][surf].mean()
    assert 1.0 < shift < 1.3                                             # Mn4+ vs Mn2.8+
    np.testing.assert_allclose(m["l3_l2_ratio"]["Ni"][inside], 3.0)      # Ni2+ everywhere
    assert m["pre_peak_strength"][surf].mean() < 0.4 < 0.99 < m["pre_peak_strength"][bulk].min()
    drift = m["zlp_shift_eV"]
    assert 1.0 < drift.max() - drift.min() < 2.5


# --------------------------------------------------------------------------- noise
def test_counts_are_poisson_around_the_expectation(expected, noisy):
    low, core = (s.data.astype(np.float64) for s in noisy.signals)
    assert np.array_equal(core, np.round(core)) and core.min() >= 0
    bulk = _bulk(expected)
    mu, k = expected.core_loss[bulk], core[bulk]
    z = (k - mu) / np.sqrt(mu)
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1.0) < 0.02
    ll_mu, ll_k = expected.low_loss[bulk], low[bulk]
    sel = ll_mu > 50
    z = (ll_k[sel] - ll_mu[sel]) / np.sqrt(ll_mu[sel])
    assert abs(z.mean()) < 0.02 and abs(z.var() - 1.0) < 0.03


def test_noise_free_option_returns_the_expectation(expected):
    spec = layered_oxide_dual_eels(CROSS_SECTIONS, seed=3, noise=False)
    np.testing.assert_allclose(spec.signals[1].data, expected.core_loss, rtol=1e-6)
    assert spec.truth["noise"] is False


# --------------------------------------------------------------------------- low loss
def test_log_ratio_of_low_loss_gives_t_over_lambda(expected):
    m = expected.maps
    low = expected.low_loss
    zlp_window = E_LOW[None, None, :] < m["zlp_shift_eV"][..., None] + 1.75   # gap at 2 eV
    i0 = np.sum(low * zlp_window, axis=-1)
    tau = np.log(low.sum(-1) / i0)
    inside = m["t_over_lambda"] > 0.05
    np.testing.assert_allclose(tau[inside], m["t_over_lambda"][inside], rtol=0.01)


def _peak_position(spectra, energy, lo, hi):
    """Maximum of a 3-point parabola through the top channel in [lo, hi] (per spectrum)."""
    out = np.empty(spectra.shape[0])
    for p, (s, a, b) in enumerate(zip(spectra, np.broadcast_to(lo, out.shape),
                                      np.broadcast_to(hi, out.shape))):
        sel = np.flatnonzero((energy >= a) & (energy <= b))
        i = sel[np.argmax(s[sel])]
        y0, y1, y2 = s[i - 1: i + 2]
        out[p] = energy[i] + 0.5 * (energy[1] - energy[0]) * (y0 - y2) / (y0 - 2 * y1 + y2)
    return out


def test_zero_loss_maximum_is_at_the_recorded_shift(expected):
    shift = expected.maps["zlp_shift_eV"].ravel()
    low = np.log(expected.low_loss.reshape(-1, E_LOW.size) + 1e-30)   # Gaussian: parabola in log
    found = _peak_position(low, E_LOW, shift - 1.0, shift + 1.0)
    assert np.max(np.abs(found - shift)) < 0.1


def test_core_loss_carries_the_same_shift(expected):
    m = expected.maps
    particle = (m["distance_nm"] > 0.0).ravel()
    shift = m["zlp_shift_eV"].ravel()[particle]
    core = (expected.core_loss - expected.background).reshape(-1, E_CORE.size)[particle]
    pre_peak = _peak_position(core, E_CORE, 527.0 + shift, 531.5 + shift)
    assert np.ptp(pre_peak - shift) < 0.05          # the O K pre-peak moves with the ZLP
    assert np.mean(pre_peak - shift) == pytest.approx(530.0, abs=0.1)
    mn = _peak_position(core, E_CORE, 638.0 + shift, 648.0 + shift)
    l3 = m["l3_peak_eV"]["Mn"].ravel()[particle] + shift
    assert np.max(np.abs(mn - l3)) < 0.1            # and so does the Mn L3 white line


# --------------------------------------------------------------------------- core loss
def _fourier_ratio(core, low_normalised):
    m0, n = ACQ.zero_loss_index, core.shape[-1]
    length = 4096
    padded = np.zeros(core.shape[:-1] + (length,))
    padded[..., m0: m0 + n] = core
    return irfft(rfft(padded, length) / rfft(low_normalised, length), length)[..., :n]


def test_fourier_ratio_deconvolution_recovers_single_scattering(expected):
    pixels = [(24, 63), (24, 14), (3, 40), (45, 25)]
    low = expected.low_loss / ACQ.electrons_per_pixel(ACQ.low_loss_dwell_s)
    window = (E_CORE > 520) & (E_CORE < 880)          # away from the truncated top end
    for iy, ix in pixels:
        recorded = expected.core_loss[iy, ix] - expected.background[iy, ix]
        ssd = expected.core_loss_single_scattering[iy, ix]
        recovered = _fourier_ratio(recorded, low[iy, ix])
        err = np.abs(recovered - ssd)[window].max() / ssd.max()
        assert err < 1e-6, (iy, ix, err)
    # plural scattering really is there: the recorded spectrum differs from the SSD
    iy, ix = pixels[0]
    assert not np.allclose(expected.core_loss[iy, ix] - expected.background[iy, ix],
                           expected.core_loss_single_scattering[iy, ix], rtol=0.05)


def _continuum(exp, iy, ix):
    """Per-pixel continuum counts (all edges, chemically shifted), no near-edge structure."""
    m, dose = exp.maps, ACQ.electrons_per_pixel(ACQ.core_loss_dwell_s)
    total = m["areal_density"]["O"][iy, ix] * CROSS_SECTIONS["O_K"]
    for el in ("Mn", "Co", "Ni"):
        sigma = shift_spectra(CROSS_SECTIONS[f"{el}_L3"], m["chemical_shift_eV"][el][iy, ix] / D)
        total = total + m["areal_density"][el][iy, ix] * sigma
    return dose * 1e-10 * D * total


@pytest.mark.parametrize("pixel", [(24, 13), (24, 17), (10, 20), (24, 40), (40, 63)])
def test_white_line_ratios_recovered_from_single_scattering(expected, pixel):
    iy, ix = pixel
    m = expected.maps
    lines = expected.core_loss_single_scattering[iy, ix] - _continuum(expected, iy, ix)
    for el in ("Mn", "Co", "Ni"):
        l3 = m["l3_peak_eV"][el][iy, ix]
        l2 = l3 + WHITE_LINE_REFERENCES[el].spin_orbit_eV
        mid = 0.5 * (l3 + l2)
        a3 = lines[(E_CORE >= l3 - 8) & (E_CORE < mid)].sum()
        a2 = lines[(E_CORE >= mid) & (E_CORE < l2 + 10)].sum()
        assert a3 / a2 == pytest.approx(m["l3_l2_ratio"][el][iy, ix], rel=0.05), el


EDGE_WINDOWS = {  # element: (pre-edge fit window, integration window), eV
    "O": ((480, 526), (527, 577)), "Mn": ((600, 636), (638, 688)),
    "Co": ((745, 776), (777, 827)), "Ni": ((820, 852), (853, 898)),
}


def _edge_counts(spectrum, fit, window):
    """Counts above a power-law background fitted in ``fit`` and summed over ``window``."""
    sel = (E_CORE >= fit[0]) & (E_CORE < fit[1])
    slope, intercept = np.polyfit(np.log(E_CORE[sel]), np.log(spectrum[sel]), 1)
    w = (E_CORE >= window[0]) & (E_CORE < window[1])
    return np.sum(spectrum[w] - np.exp(intercept) * E_CORE[w] ** slope)


def _effective_cross_section(exp, el, window, iy, ix):
    """Per-atom counts-per-electron in ``window``: continuum plus near-edge structure."""
    m, c50 = exp.maps, exp.continuum_integrals
    w = (E_CORE >= window[0]) & (E_CORE < window[1])
    if el == "O":
        fine = o_k_fine_structure(E_CORE, continuum_area=c50["O"],
                                  pre_peak_strength=m["pre_peak_strength"][iy, ix])
        return np.sum((CROSS_SECTIONS["O_K"] * D + fine)[w])
    ref, v = WHITE_LINE_REFERENCES[el], m["valence"][el][iy, ix]
    continuum = shift_spectra(CROSS_SECTIONS[f"{el}_L3"], ref.chemical_shift(v) / D) * D
    lines = white_lines(E_CORE, l3_eV=ref.l3_peak_eV(v), l2_eV=ref.l2_peak_eV(v),
                        area=m["white_line_area_per_atom_barn_eV"][el][iy, ix],
                        l3_l2_ratio=ref.l3_l2_ratio(v), l3_fwhm_eV=ref.l3_fwhm_eV,
                        l2_fwhm_eV=ref.l2_fwhm_eV, lorentz_fraction=ref.lorentz_fraction)
    return np.sum((continuum + lines)[w])


def _quantify(exp, spectrum, mask):
    iy, ix = np.argwhere(mask)[mask.sum() // 2]      # a representative pixel of the region
    n = {el: _edge_counts(spectrum, fit, win) / _effective_cross_section(exp, el, win, iy, ix)
         for el, (fit, win) in EDGE_WINDOWS.items()}
    truth = {el: exp.maps["areal_density"][el][mask].sum() for el in EDGE_WINDOWS}
    pairs = (("Mn", "O"), ("Ni", "Mn"), ("Co", "Mn"))
    return {f"{a}/{b}": (n[a] / n[b]) / (truth[a] / truth[b]) for a, b in pairs}


@pytest.mark.parametrize("region", ["bulk", "surface"])
def test_edge_ratios_from_single_scattering_within_5_percent(expected, region):
    """Egerton's ratio method on the (deconvolved) single-scattering spectrum.

    A power-law background (the truth's A, r of a bulk pixel) is added so that the
    pre-edge fit has to remove it; the remaining error (≤ 5 %) is the power-law
    extrapolation of the preceding edges' tails over the 50 eV windows.
    """
    mask = _bulk(expected) if region == "bulk" else _surface(expected)
    ssd = expected.core_loss_single_scattering[mask].sum(0)
    iy, ix = np.argwhere(mask)[0]
    a, r = expected.maps["background_A"][iy, ix], expected.maps["background_r"][iy, ix]
    spectrum = ssd + mask.sum() * a * E_CORE ** -r
    for pair, rel in _quantify(expected, spectrum, mask).items():
        assert rel == pytest.approx(1.0, abs=0.05), pair


def test_edge_ratio_from_recorded_spectrum_within_15_percent(expected):
    """Without deconvolution plural scattering moves intensity across the windows."""
    mask = _bulk(expected)
    rel = _quantify(expected, expected.core_loss[mask].sum(0), mask)
    assert rel["Mn/O"] == pytest.approx(1.0, abs=0.15)
    assert rel["Co/Mn"] == pytest.approx(1.0, abs=0.15)


def test_vacuum_pixels_have_zero_loss_peak_only(expected, noisy):
    vacuum = expected.maps["region"] == 0
    assert vacuum.sum() >= 48 * 8
    assert np.all(expected.core_loss[vacuum] == 0) and np.all(noisy.signals[1].data[vacuum] == 0)
    assert np.all(expected.maps["t_over_lambda"][vacuum] == 0)
    shift = expected.maps["zlp_shift_eV"][vacuum]
    low = expected.low_loss[vacuum]
    beyond = E_LOW[None, :] > shift[:, None] + 3.0
    assert np.max(np.sum(low * beyond, -1) / low.sum(-1)) < 1e-9
    dose = ACQ.electrons_per_pixel(ACQ.low_loss_dwell_s)
    np.testing.assert_allclose(low.sum(-1), dose, rtol=1e-9)


# --------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="lacks"):
        layered_oxide_dual_eels({"O_K": CROSS_SECTIONS["O_K"]})
    bad = dict(CROSS_SECTIONS, Mn_L3=CROSS_SECTIONS["Mn_L3"][:100])
    with pytest.raises(ValueError, match="shape"):
        layered_oxide_dual_eels(bad)
    with pytest.raises(ValueError, match=">= 0"):
        layered_oxide_dual_eels(dict(CROSS_SECTIONS, O_K=-CROSS_SECTIONS["O_K"]))
    with pytest.raises(ValueError, match="seed"):
        layered_oxide_dual_eels(CROSS_SECTIONS, seed=-1)
    with pytest.raises(ValueError, match="nav_shape"):
        layered_oxide_dual_eels(CROSS_SECTIONS, nav_shape=(1, 64))
    with pytest.raises(ValueError, match="whole number of channels"):
        DualEELSAcquisition(low_loss_offset_eV=-20.2)
    assert set(LAYERED_OXIDE_EDGES) == set(CROSS_SECTIONS)


# --------------------------------------------------------------------------- with exspy
@pytest.mark.slow
def test_pipeline_with_exspy_hydrogenic_cross_sections():
    from batteryscope.app.demo_specimens import layered_oxide_eels as layered_oxide_specimen

    spec = layered_oxide_specimen(seed=0, noise=False)
    core = spec.signals[1].data.astype(np.float64)
    maps = spec.truth["maps"]
    bulk = np.array(maps["distance_from_surface_nm"]) > 4.0
    shift = np.array(maps["zlp_shift_eV"])
    # align every bulk spectrum on its ZLP shift (whole channels suffice here) and sum
    aligned = sum(np.roll(core[iy, ix], -int(round(shift[iy, ix] / D)))
                  for iy, ix in np.argwhere(bulk))
    pre = aligned[(E_CORE > 515) & (E_CORE < 525)].mean()
    post = aligned[(E_CORE > 535) & (E_CORE < 545)].mean()
    assert post / pre > 2.0                                   # O K jump ratio
    for lo, hi, expected_eV in ((525, 535, 530.0), (638, 648, 643.5),
                                (775, 790, 781.5), (850, 865, 856.5)):
        sel = (E_CORE >= lo) & (E_CORE <= hi)
        assert E_CORE[sel][np.argmax(aligned[sel])] == pytest.approx(expected_eV, abs=1.0)
    assert np.all(np.isfinite(core)) and core.min() >= 0
    json.dumps(spec.truth, allow_nan=False)
