"""Elemental maps over a spectrum image: truth, calibrated errors, flags, exspy agreement.

The spectrum image is built from exspy's own hydrogenic edge model (O-K, Mn-L2,3, Fe-L2,3 on
a power law whose A and r vary across the map) with an Fe-rich, Mn-poor surface layer, like
the anchor measurements in ../shared/anchors/eels, and Poisson noise.
"""
import warnings

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.background import fit_background
from batteryscope.analysis.eels.maps import EdgeWindows, WindowQuantifier, quantify_maps

AXIS = AxisCalibration("Energy loss", "eV", 0.5, 450.0, 1024)
E = AXIS.values()
# windows chosen with no channel centre on a boundary, so exspy's half-open and our
# closed channel rules pick the same channels
WINDOWS = {"O": ((480.25, 526.75), (532.25, 581.75)),
           "Mn": ((590.25, 635.75), (640.25, 689.75)),
           "Fe": ((675.25, 704.75), (708.25, 757.75))}
EDGES = {"O": "O_K", "Mn": "Mn_L3", "Fe": "Fe_L3"}


def exspy_shapes():
    exspy = pytest.importorskip("exspy")
    s = exspy.signals.EELSSpectrum(np.ones(E.size))
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = AXIS.offset, AXIS.scale, "eV"
    s.set_microscope_parameters(beam_energy=300, convergence_angle=20, collection_angle=30)
    s.add_elements(list(EDGES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = s.create_model(GOS="hydrogenic", auto_background=True)
    out = {}
    for el, name in EDGES.items():
        m[name].intensity.value = 1.0
        out[el] = np.asarray(m[name].function(E)) * AXIS.scale      # barn per channel
    return out


@pytest.fixture(scope="module")
def shapes():
    return exspy_shapes()


def sigma(shapes, el):
    lo, hi = WINDOWS[el][1]
    return float(shapes[el][(E >= lo) & (E <= hi)].sum())


@pytest.fixture(scope="module")
def si(shapes):
    return make_si(shapes)


def make_si(shapes, noise=True):
    """(counts, truth N per element, surface-layer mask) on a 24 × 24 scan."""
    rng = np.random.default_rng(11)
    ny = nx = 24
    yy, xx = np.mgrid[0:ny, 0:nx]
    layer = yy < 6
    n_o = np.full((ny, nx), 2700.0)
    n_mn = np.where(layer, 0.3, 0.6) / 4 * n_o
    n_fe = np.where(layer, 0.6, 0.4) / 4 * n_o
    dose = 6.24e7 * 1e-10
    truth = {"O": n_o, "Mn": n_mn, "Fe": n_fe}
    mu = sum(dose * truth[el][..., None] * shapes[el] for el in EDGES)
    r = 2.8 + 0.6 * (xx + yy) / (nx + ny - 2)
    b530 = dose * 4 * 13.7 * 50 * shapes["O"].max() / 3
    mu = mu + (b530 * 530.0 ** r)[..., None] * E ** -r[..., None]
    return (rng.poisson(mu) if noise else mu).astype(np.float32), truth, layer


def edge_windows(shapes):
    return [EdgeWindows(el, WINDOWS[el][0], WINDOWS[el][1], sigma(shapes, el)) for el in EDGES]


def test_maps_recover_the_composition_with_calibrated_errors(si, shapes):
    counts, truth, layer = si
    maps = quantify_maps(counts, AXIS, edge_windows(shapes))
    # ~100 counts per channel and a 30 eV Fe pre-edge window: a rare pixel's exponent
    # comes out implausible (< 0.5) and is flagged, not used
    for el in EDGES:
        assert maps.background_failed(el).mean() < 0.005, el
    for a, b in (("Mn", "O"), ("Fe", "O"), ("Fe", "Mn")):
        q, q_err = maps.ratio(a, b)
        t = truth[a] / truth[b]
        pull = (q - t) / q_err
        assert abs(np.nanmedian(pull)) < 0.3, (a, b)
        assert 0.8 < np.nanstd(pull) < 1.25, (a, b)
        for region in (layer, ~layer):   # region means: the surface layer is resolved
            ok = region & np.isfinite(q)
            sem = np.sqrt(np.sum(q_err[ok] ** 2)) / ok.sum()
            # statistics, plus 2 % for the known small-count bias of log-domain fits
            assert abs(np.mean(q[ok]) - np.mean(t[ok])) < 3 * sem + 0.02 * np.mean(t[ok])
    pct_sum = sum(maps.atomic_percent[el] for el in EDGES)
    ok = np.isfinite(pct_sum)
    np.testing.assert_allclose(pct_sum[ok], 100.0, rtol=1e-5)
    total = sum(truth.values())
    pull = (maps.atomic_percent["Fe"] - 100 * truth["Fe"] / total) / maps.atomic_percent_err["Fe"]
    assert 0.8 < np.nanstd(pull) < 1.25


def exspy_window_counts(counts, windows, offset):
    """exspy's route: remove_background(power law, fast=True, i.e. the two-area estimate),
    then the sum of the integration window's channels."""
    exspy = pytest.importorskip("exspy")
    s = exspy.signals.EELSSpectrum(np.asarray(counts, dtype=np.float64))
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units = offset, AXIS.scale, "eV"
    e = offset + AXIS.scale * np.arange(E.size)
    out = {}
    for el, (bg, (lo, hi)) in windows.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sb = s.remove_background(signal_range=bg, background_type="Power law", fast=True,
                                     show_progressbar=False)
        out[el] = sb.data[..., (e >= lo - 1e-9) & (e < hi - 1e-9)].sum(axis=-1)
    return out


def test_same_background_estimate_as_exspy_and_ratios_within_1_percent(si, shapes):
    """exspy's two-area estimate bounds each window at the *centres* of its first channel
    and of the channel after its last one, i.e. half a channel higher than the channels it
    sums. On an axis shifted by half a channel (its centres are our channel edges) and the
    same channels, its (A, r) are ours to rounding. On the real axis, exspy then subtracts
    that background half a channel off from where it was estimated: the strong O and Mn
    edges barely notice (ratios within 1 %, the issue's bar), the weak Fe edge on a steep
    background does (a few %; the noise-free test below shows whose number is right)."""
    exspy = pytest.importorskip("exspy")
    counts, truth, layer = si
    half = AXIS.scale / 2
    edges = E - half                    # the shifted axis: its centres are our channel edges
    for el, (bg, _) in WINDOWS.items():
        sel = np.nonzero((E >= bg[0]) & (E <= bg[1]))[0]
        n = sel.size - sel.size % 2     # we split one window in halves, dropping an odd last
        s = exspy.signals.EELSSpectrum(counts[:4, :4].astype(np.float64))
        ax = s.axes_manager.signal_axes[0]
        ax.offset, ax.scale, ax.units = AXIS.offset - half, AXIS.scale, "eV"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, model = s.remove_background(signal_range=(edges[sel[0]], edges[sel[0] + n]),
                                           background_type="Power law", fast=True,
                                           show_progressbar=False, return_model=True)
        fit = fit_background(counts[:4, :4], AXIS, windows=bg, method="two_area")
        np.testing.assert_allclose(fit.parameters[..., 1], model["PowerLaw"].r.map["values"],
                                   rtol=1e-9)
        # exspy's A is per eV, ours per channel
        np.testing.assert_allclose(fit.parameters[..., 0],
                                   model["PowerLaw"].A.map["values"] * AXIS.scale, rtol=1e-9)
    theirs = exspy_window_counts(counts, WINDOWS, AXIS.offset)
    ours = quantify_maps(counts, AXIS, edge_windows(shapes), method="two_area")
    for a, b in (("Mn", "O"), ("Fe", "O"), ("Fe", "Mn")):
        q_ours = ours.relative_density(a) / ours.relative_density(b)
        q_theirs = (theirs[a] / sigma(shapes, a)) / (theirs[b] / sigma(shapes, b))
        tol = 0.01 if a == "Mn" else 0.06
        for region in (layer, ~layer):
            assert np.nanmean(q_ours[region]) == pytest.approx(np.mean(q_theirs[region]),
                                                               rel=tol), (a, b)


def test_closer_to_the_truth_than_exspy_on_noise_free_spectra(shapes):
    """On expected counts (no noise) exspy's half-channel offset biases the extrapolated
    background, which weak edges feel most; ours is limited by the power-law model only."""
    counts, truth, layer = make_si(shapes, noise=False)
    theirs = exspy_window_counts(counts[:1, :1], WINDOWS, AXIS.offset)
    ours = quantify_maps(counts[:1, :1], AXIS, edge_windows(shapes), method="two_area")
    lsq = quantify_maps(counts[:1, :1], AXIS, edge_windows(shapes))
    for a, b in (("Mn", "O"), ("Fe", "O")):
        t = truth[a][0, 0] / truth[b][0, 0]
        err_ours = abs(ours.relative_density(a)[0, 0] / ours.relative_density(b)[0, 0] / t - 1)
        err_lsq = abs(lsq.relative_density(a)[0, 0] / lsq.relative_density(b)[0, 0] / t - 1)
        err_theirs = abs((theirs[a][0, 0] / sigma(shapes, a))
                         / (theirs[b][0, 0] / sigma(shapes, b)) / t - 1)
        # what is left is the power-law model itself: under Fe's pre-edge window sits the
        # tail of the Mn L2,3 continuum, which a power law follows only approximately
        assert err_ours < (0.01 if a == "Mn" else 0.03), (a, b, err_ours)
        assert err_lsq < (0.01 if a == "Mn" else 0.03), (a, b, err_lsq)
        assert err_ours < err_theirs, (a, b, err_ours, err_theirs)


def test_failed_backgrounds_are_flagged_and_nan(si, shapes):
    counts, truth, layer = si
    bad = counts.copy()
    bad[3, 4, (E > 600) & (E < 620)] = 0          # a dead stretch in Mn's pre-edge window
    bad[5, 5, 100] = np.nan
    maps = quantify_maps(bad, AXIS, edge_windows(shapes))
    assert maps.background_failed("Mn")[3, 4] and not maps.background_failed("O")[3, 4]
    assert np.isnan(maps.atomic_percent["O"][3, 4])       # the total is unknown there
    assert maps.background_failed("O")[5, 5]
    assert maps.summary()["Mn"]["failed_pixels"] == 1 + maps.background_failed("Mn").sum() - 1
    assert maps.background_failed("Mn").sum() - quantify_maps(
        counts, AXIS, edge_windows(shapes)).background_failed("Mn").sum() == 1
    assert np.isfinite(maps.atomic_percent["O"][0, 0])


def test_negative_signal_is_flagged_not_clipped(shapes):
    e_only_bg = 1e11 * E ** -3.0
    counts = np.random.default_rng(2).poisson(np.broadcast_to(e_only_bg, (8, 8, E.size)))
    maps = quantify_maps(counts.astype(np.float64), AXIS, edge_windows(shapes))
    neg = maps.negative_signal("Fe")
    assert 0 < neg.sum() < neg.size                       # noise around zero both ways
    assert np.all(maps.signals["Fe"].counts[neg] < 0)
    z = maps.signals["Fe"].counts / np.sqrt(maps.signals["Fe"].variance)
    assert abs(np.mean(z)) < 0.5 and 0.7 < np.std(z) < 1.3


def test_moving_a_window_recomputes_that_element_only(si, shapes):
    counts, truth, layer = si
    q = WindowQuantifier(counts, AXIS, edge_windows(shapes))
    before_o = q.maps.signals["O"]
    moved = EdgeWindows("Mn", (600.25, 635.75), (640.25, 679.75),
                        float(shapes["Mn"][(E >= 640.25) & (E <= 679.75)].sum()))
    after = q.update(moved)
    assert after.signals["O"] is before_o
    full = quantify_maps(counts, AXIS, [moved if w.element == "Mn" else w
                                        for w in edge_windows(shapes)])
    np.testing.assert_allclose(after.atomic_percent["Mn"], full.atomic_percent["Mn"])
    live = q.update(moved, quality=False)          # while dragging: no fit-quality map
    np.testing.assert_allclose(live.atomic_percent["Mn"], full.atomic_percent["Mn"])
    assert np.all(np.isnan(live.signals["Mn"].fit_quality))
    assert np.all(np.isfinite(q.update(moved).signals["Mn"].fit_quality))
    with pytest.raises(ValueError, match="not one of"):
        q.update(EdgeWindows("Ni", (800, 840), (855, 900), 1.0))


def test_clear_errors(shapes):
    with pytest.raises(ValueError, match="twice"):
        quantify_maps(np.ones((2, E.size)), AXIS, edge_windows(shapes) * 2)
    with pytest.raises(ValueError, match="> 0 barn"):
        quantify_maps(np.ones((2, E.size)), AXIS, [EdgeWindows("O", (480, 520), (532, 580), 0)])
    with pytest.raises(ValueError, match="outside the energy axis"):
        quantify_maps(np.ones((2, E.size)), AXIS, [EdgeWindows("Ni", (800, 840), (855, 1000), 1)])
