"""Known-truth tests of the synthetic LiFePO4 [010] STEM specimens (no Qt)."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from scipy import special

from batteryscope.analysis.specimens.lfp_antisite import choose_antisite_columns, lfp_antisite_pair
from batteryscope.analysis.specimens.lfp_li_staging import lfp_li_staging_abf, staging_region_labels
from batteryscope.analysis.specimens.lifepo4_structure import (
    fepo4_structure, lifepo4_structure, project_along_b, site_orbit, tile_columns)
from batteryscope.analysis.specimens.specimen import ACQUISITION_KEYS, Specimen
from batteryscope.analysis.specimens.stem_image_model import StemImaging, render_columns

SHAPE = (256, 256)


@pytest.fixture(scope="module")
def antisite_clean():
    """Noise-free pair without probe tail (cleanest peak heights)."""
    return lfp_antisite_pair(seed=3, shape=SHAPE, noise=False, tail_fraction=0.0,
                             antisite_fraction=0.15)


@pytest.fixture(scope="module")
def staging_clean():
    return lfp_li_staging_abf(seed=1, shape=(320, 320), noise=False)


def _cols(spec: Specimen) -> dict:
    c = spec.truth["columns"]
    return {k: (np.asarray(v) if not isinstance(v, dict) else {s: np.asarray(n) for s, n in v.items()})
            for k, v in c.items()}


def _interior(c, shape, margin=12):
    return (c["x_px"] > margin) & (c["x_px"] < shape[1] - 1 - margin) & \
           (c["y_px"] > margin) & (c["y_px"] < shape[0] - 1 - margin)


def _at(img, c, mask):
    return img[np.rint(c["y_px"][mask]).astype(int), np.rint(c["x_px"][mask]).astype(int)].astype(float)


def _refine_extremum(img, x, y, sign):
    """Hill-climb to the nearest local extremum, then a 3-point parabola in x and y."""
    f = sign * np.asarray(img, dtype=float)
    ix, iy = int(round(x)), int(round(y))
    for _ in range(20):
        win = f[iy - 1:iy + 2, ix - 1:ix + 2]
        dy, dx = np.unravel_index(np.argmax(win), win.shape)
        if dy == 1 and dx == 1:
            break
        iy, ix = iy + dy - 1, ix + dx - 1

    def vertex(fm, f0, fp):
        return 0.5 * (fm - fp) / (fm - 2 * f0 + fp)
    return (ix + vertex(f[iy, ix - 1], f[iy, ix], f[iy, ix + 1]),
            iy + vertex(f[iy - 1, ix], f[iy, ix], f[iy + 1, ix]))


# --- structure -------------------------------------------------------------------------

def test_pnma_orbits_give_wyckoff_multiplicities():
    mult = {s.label: len(site_orbit(s.frac)) for s in lifepo4_structure().sites}
    assert mult == {"Li": 4, "Fe": 4, "P": 4, "O1": 4, "O2": 4, "O3": 8}


def test_projection_along_b_column_counts():
    cols = project_along_b(lifepo4_structure())
    assert Counter(c.site for c in cols) == {"Li": 2, "Fe": 4, "P": 4, "O1": 4, "O2": 4, "O3": 4}
    per_b = {c.site: c.atoms_per_b for c in cols}
    assert per_b == {"Li": 2, "Fe": 1, "P": 1, "O1": 1, "O2": 1, "O3": 2}
    assert all(c.atoms_per_b == per_b[c.site] for c in cols)
    assert sum(c.atoms_per_b for c in cols) == 28                  # 4 LiFePO4 per cell
    li = sorted((c.u, c.w) for c in cols if c.site == "Li")
    assert np.allclose(li, [(0, 0), (0.5, 0.5)])
    fp = project_along_b(fepo4_structure())
    assert len(fp) == 20 and sum(c.atoms_per_b for c in fp) == 24


def test_tile_columns_density_and_rotation():
    st = lifepo4_structure()
    cols = project_along_b(st)
    t = tile_columns(cols, a_A=st.a_A, c_A=st.c_A, field_A=(0, 200, 0, 150), rotation_deg=17.0,
                     origin_A=(3.0, 4.0))
    expected = len(cols) * 200 * 150 / (st.a_A * st.c_A)
    assert abs(t.x_A.size - expected) / expected < 0.03
    li = t.column == 0
    xy = np.array([t.x_A[li], t.y_A[li]])
    d = np.hypot(*(xy[:, :, None] - xy[:, None, :]))
    assert np.isclose(np.min(d[d > 0]), st.c_A, atol=1e-9)     # Li-Li nearest along c
    with pytest.raises(ValueError):
        tile_columns(cols, a_A=st.a_A, c_A=st.c_A, field_A=(5, 0, 0, 1))


# --- forward model ---------------------------------------------------------------------

def test_render_columns_matches_direct_pixel_integration():
    x, y, w = np.array([3.3, 11.8, 21.9]), np.array([4.2, 9.6, -1.0]), np.array([1.0, 2.5, 0.7])
    disp = np.vstack([np.linspace(0, 1.5, 17), np.linspace(0, 0.7, 17)])
    got = render_columns(x, y, w, shape=(17, 23), sigma_px=1.7, row_displacement_px=disp)[0]
    r, c = np.mgrid[0:17, 0:23].astype(float)
    ref = np.zeros((17, 23))
    for xk, yk, wk in zip(x, y, w):
        def prof(p, centre):
            s = np.sqrt(2) * 1.7
            return 0.5 * (special.erf((p + 0.5 - centre) / s) - special.erf((p - 0.5 - centre) / s))
        ref += wk * prof(c, xk + disp[0][:, None]) * prof(r, yk + disp[1][:, None])
    np.testing.assert_allclose(got, ref, atol=1e-6)          # window cut at ~4.5 sigma
    inner = render_columns([40.2], [35.7], [3.0], shape=(80, 80), sigma_px=3.0,
                           tail_fraction=0.1, tail_sigma_px=6.0)
    assert np.isclose(inner.sum(), 3.0, rtol=1e-3)              # dose is conserved


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="shape"):
        lfp_antisite_pair(shape=(8, 8))
    with pytest.raises(ValueError, match="antisite_occupancy"):
        lfp_antisite_pair(shape=SHAPE, antisite_occupancy=0.0)
    with pytest.raises(ValueError, match="dose_e_per_A2"):
        lfp_antisite_pair(shape=SHAPE, dose_e_per_A2=-1.0)
    with pytest.raises(ValueError, match="region_fractions"):
        lfp_li_staging_abf(shape=SHAPE, region_fractions=(0.5, 0.0, 0.5))
    with pytest.raises(ValueError, match="tail_sigma_A"):
        StemImaging(tail_fraction=0.1, tail_sigma_A=0.2)


# --- antisite pair ---------------------------------------------------------------------

def test_same_seed_identical_different_seed_differs():
    a1 = lfp_antisite_pair(seed=7, shape=SHAPE)
    a2 = lfp_antisite_pair(seed=7, shape=SHAPE)
    b = lfp_antisite_pair(seed=8, shape=SHAPE)
    for s1, s2, s3 in zip(a1.signals, a2.signals, b.signals):
        assert s1.data.dtype == np.float32
        np.testing.assert_array_equal(s1.data, s2.data)
        assert not np.array_equal(s1.data, s3.data)
    assert json.dumps(a1.truth) == json.dumps(a2.truth)
    clean = lfp_antisite_pair(seed=7, shape=SHAPE, noise=False)
    assert not np.array_equal(a1.signals[0].data, clean.signals[0].data)


def test_haadf_fe_over_li_follows_z_to_1p7(antisite_clean):
    c, img = _cols(antisite_clean), antisite_clean.signals[0].data
    bg = 5e4 * 0.12 ** 2 * 0.8 * 0.002                       # dose x area x eff x background
    inner = _interior(c, SHAPE)
    fe = np.median(_at(img, c, inner & (c["site"] == "Fe")) - bg)
    li = np.median(_at(img, c, inner & (c["site"] == "Li") & ~c["antisite"]) - bg)
    n_fe, n_li = c["n_atoms"]["Fe"][c["site"] == "Fe"][0], c["n_atoms"]["Li"][c["site"] == "Li"].max()
    assert (n_fe, n_li) == (33, 67)                           # 20 nm: 1 and 2 per b x t / b
    expected = (n_fe / n_li) * (26 / 3) ** 1.7
    assert fe / li == pytest.approx(expected, rel=0.08)


def test_antisite_columns_brighter_in_haadf_by_expected_amount(antisite_clean):
    sp = antisite_clean
    c, img = _cols(sp), sp.signals[0].data
    anti = np.zeros(c["x_px"].size, bool)
    anti[sp.truth["antisite_columns"]] = True
    assert np.array_equal(anti, c["antisite"]) and anti.sum() >= 3
    assert set(c["site"][anti]) == {"Li"}
    occ = c["n_atoms"]["Fe"][anti] / (c["n_atoms"]["Fe"][anti] + c["n_atoms"]["Li"][anti])
    assert np.allclose(occ, 0.15, atol=0.01)
    li_normal = (c["site"] == "Li") & ~anti
    normal = _at(img, c, _interior(c, SHAPE) & li_normal)
    extra = c["haadf_cross_section_A2"][anti] - np.median(c["haadf_cross_section_A2"][li_normal])
    peak = 1.0 / (2 * np.pi * (0.40 / 0.12) ** 2)            # probe core at its centre, per pixel
    expected = 5e4 * 0.8 * extra * peak                       # dose x eff x d(sigma) x P(0)
    got = _at(img, c, anti) - np.median(normal)
    np.testing.assert_allclose(got, expected, rtol=0.05)
    abf = sp.signals[1].data                                  # slightly darker in ABF too
    assert np.all(_at(abf, c, anti) < np.median(_at(abf, c, li_normal)))


def test_antisite_cluster_is_nearest_neighbours():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 100, 50), rng.uniform(0, 100, 50)
    cand = np.arange(0, 50, 2)
    anti, cluster = choose_antisite_columns(x, y, cand, n_antisite=6, cluster_size=4, rng=rng)
    assert anti.size == 6 and cluster.size == 4 and set(cluster) <= set(anti) <= set(cand)
    # the cluster is the 4 candidates nearest one of its members
    nearest = [set(cand[np.argsort(np.hypot(x[cand] - x[m], y[cand] - y[m]))[:4]]) for m in cluster]
    assert set(cluster) in nearest
    assert choose_antisite_columns(x, y, cand, n_antisite=0, cluster_size=4, rng=rng)[0].size == 0


def test_truth_positions_on_extrema(antisite_clean, staging_clean):
    c, haadf = _cols(antisite_clean), antisite_clean.signals[0].data
    fe = np.flatnonzero(_interior(c, SHAPE) & (c["site"] == "Fe"))
    err = [np.hypot(*np.subtract(_refine_extremum(haadf, c["x_px"][k], c["y_px"][k], +1),
                                 (c["x_px"][k], c["y_px"][k]))) for k in fe]
    assert len(err) > 20 and max(err) < 0.5
    s, abf = _cols(staging_clean), staging_clean.signals[0].data
    li = np.flatnonzero(_interior(s, abf.shape) & (s["site"] == "Li") & (s["occupancy"] > 0))
    err = [np.hypot(*np.subtract(_refine_extremum(abf, s["x_px"][k], s["y_px"][k], -1),
                                 (s["x_px"][k], s["y_px"][k]))) for k in li]
    assert len(err) > 20 and max(err) < 0.5


def test_mean_counts_match_dose_times_efficiency():
    sp = lfp_antisite_pair(seed=2, shape=SHAPE)
    c, px = _cols(sp), 0.12
    e_px = sp.signals[0].acquisition["dose_e_per_pixel"]
    assert e_px == pytest.approx(5e4 * px ** 2)
    area = SHAPE[0] * SHAPE[1] * px ** 2
    haadf_fraction = 0.002 + c["haadf_cross_section_A2"].sum() / area
    for sig, eff in zip(sp.signals, (0.8, 0.9)):
        mu = sp.truth["expected_mean_counts"][sig.acquisition["detector"]]
        assert abs(sig.data.mean() - mu) < 5 * np.sqrt(mu / sig.data.size)   # Poisson
    assert sp.truth["expected_mean_counts"]["HAADF"] == pytest.approx(e_px * 0.8 * haadf_fraction, rel=0.03)
    abf_open = e_px * 0.9 * sp.truth["abf_background_fraction"]
    assert sp.truth["abf_background_fraction"] == pytest.approx(0.75 * np.exp(-20 / 150))
    clean = lfp_antisite_pair(seed=2, shape=SHAPE, noise=False)
    assert 0.97 * abf_open < clean.signals[1].data.max() <= abf_open
    double = lfp_antisite_pair(seed=2, shape=SHAPE, noise=False, dose_e_per_A2=1e5)
    np.testing.assert_allclose(double.signals[0].data, 2 * clean.signals[0].data, rtol=1e-6)


def test_drift_displaces_columns_as_recorded():
    sp = lfp_antisite_pair(seed=4, shape=SHAPE, noise=False, tail_fraction=0.0, drift_px=(5.0, 0.0))
    c, img = _cols(sp), sp.signals[0].data
    disp = np.asarray(sp.truth["row_displacement_px"])
    assert disp.shape == (2, SHAPE[0]) and disp[0, -1] == pytest.approx(5.0 * 255 / 256)
    fe = np.flatnonzero(_interior(c, SHAPE) & (c["site"] == "Fe") & (c["y_px"] > 180))
    for k in fe:
        xr, yr = _refine_extremum(img, c["x_px"][k] + disp[0, int(round(c["y_px"][k]))], c["y_px"][k], +1)
        assert abs(xr - c["x_px"][k] - disp[0, int(round(yr))]) < 0.3


def test_row_jitter_is_seeded_and_shared_by_both_detectors():
    kw = dict(seed=5, shape=SHAPE, noise=False, row_jitter_px=0.4)
    a, b = lfp_antisite_pair(**kw), lfp_antisite_pair(**kw)
    disp = np.asarray(a.truth["row_displacement_px"])
    assert 0.3 < np.std(disp[0]) < 0.5 and np.all(disp[1] == 0)
    np.testing.assert_array_equal(a.signals[1].data, b.signals[1].data)
    straight = lfp_antisite_pair(seed=5, shape=SHAPE, noise=False)
    assert not np.array_equal(a.signals[0].data, straight.signals[0].data)
    only_abf = lfp_li_staging_abf(seed=5, shape=SHAPE, with_haadf=False, noise=False)
    assert [s.acquisition["detector"] for s in only_abf.signals] == ["ABF"]


def test_signals_calibrated_and_truth_json(antisite_clean, staging_clean):
    for sp, px, dets in ((antisite_clean, 0.12, ("HAADF", "ABF")), (staging_clean, 0.15, ("ABF", "HAADF"))):
        assert [s.acquisition["detector"] for s in sp.signals] == list(dets)
        for sig in sp.signals:
            assert sig.signal_type == "image" and sig.data.dtype == np.float32
            assert [a.name for a in sig.axes] == ["y", "x"]
            for ax, n in zip(sig.axes, sig.data.shape):
                assert (ax.units, ax.scale, ax.offset, ax.size, ax.navigate) == ("Å", px, 0.0, n, False)
            acq = sig.acquisition
            assert set(acq) <= ACQUISITION_KEYS and acq["beam_energy_keV"] == 300.0
            assert acq["acquisition_mode"] == "STEM" and acq["instrument"] == "BatteryScope simulated STEM"
            inner, outer = acq["collection_inner_angle_mrad"], acq["collection_outer_angle_mrad"]
            assert (inner, outer) == ((90.0, 370.0) if acq["detector"] == "HAADF" else (11.0, 22.0))
        text = json.dumps(sp.truth)
        assert json.loads(text)["parameters"]["seed"] == sp.seed
        c = _cols(sp)
        np.testing.assert_allclose(c["x_A"], c["x_px"] * px)
        assert sp.physics


# --- Li staging --------------------------------------------------------------------------

def test_staging_truth_periods_and_regions(staging_clean):
    tr = staging_clean.truth
    c = _cols(staging_clean)
    li = c["site"] == "Li"
    assert [r["staging_period_li_planes"] for r in tr["regions"]] == [1, 2, 1]
    for k, region in enumerate(tr["regions"]):
        m = li & (c["region"] == k)
        by_parity = {p: set(c["occupancy"][m & (c["li_plane"] % 2 == p)]) for p in (0, 1)}
        assert all(len(v) == 1 for v in by_parity.values())   # each plane family uniform
        distinct = len(by_parity[0] | by_parity[1])
        assert distinct == region["staging_period_li_planes"]
        assert np.mean(c["occupancy"][m]) == pytest.approx(region["mean_li_occupancy"], abs=0.1)
    assert np.array_equal(staging_region_labels(c["x_px"], c["y_px"], tr), c["region"])
    assert np.array_equal(c["n_atoms"]["Li"][li], np.rint(c["occupancy"][li] * c["n_li_sites"][li]))
    assert 0.35 < tr["li_fraction_on_image"] < 0.65                # about half charged
    a_px = [np.hypot(*r["a_px"]) * 0.15 for r in tr["regions"]]
    assert np.allclose(a_px, [10.332, 10.0765, 9.821])


def test_staging_abf_dips_only_at_occupied_li(staging_clean):
    c, abf = _cols(staging_clean), staging_clean.signals[0].data
    staged = _interior(c, abf.shape) & (c["site"] == "Li") & (c["region"] == 1)
    full = _at(abf, c, staged & (c["occupancy"] == 1))
    empty = _at(abf, c, staged & (c["occupancy"] == 0))
    assert full.size >= 5 and empty.size >= 5
    tau = c["abf_optical_depth"][staged & (c["occupancy"] == 1)][0]
    assert tau > 0 and np.all(c["abf_optical_depth"][staged & (c["occupancy"] == 0)] == 0)
    # same environment apart from the Li itself: ratio = exp(-tau) at the column centre
    assert np.median(full) / np.median(empty) == pytest.approx(np.exp(-tau), rel=0.03)
    assert full.max() < empty.min()
    fepo4 = _at(abf, c, _interior(c, abf.shape) & (c["site"] == "Li") & (c["region"] == 2))
    lfp = _at(abf, c, _interior(c, abf.shape) & (c["site"] == "Li") & (c["region"] == 0))
    assert lfp.max() < fepo4.min()
