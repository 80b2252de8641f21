"""Antisite columns: robust statistics + FDR, Fe fraction per column, concentration; on
demo images and on images rendered with other column shapes and noise."""
from __future__ import annotations

import numpy as np
import pytest
from lfp_render import lfp_independent
from scipy.spatial import cKDTree

from batteryscope.analysis.columns.antisites import benjamini_hochberg, detect_antisites, robust_z
from batteryscope.analysis.columns.structures import preset
from batteryscope.analysis.columns.sublattices import find_sublattices, measure_sites
from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair


def test_benjamini_hochberg_against_a_worked_example():
    # BH 1995 step-up: the largest k with p_(k) <= k q / m, and all smaller p
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.2])
    # sorted: .005 .01 .03 .04 .2 .5; thresholds (q=.05): .0083 .0167 .025 .033 .042 .05
    assert benjamini_hochberg(p, 0.05).tolist() == [True, False, False, True, False, False]
    assert benjamini_hochberg(np.array([0.2, 0.3]), 0.05).tolist() == [False, False]


def test_fdr_holds_on_pure_noise_and_outliers_do_not_move_the_reference():
    rng = np.random.default_rng(0)
    calls = 0
    for _ in range(200):
        v = rng.normal(100.0, 5.0, 300)
        calls += detect_antisites(v, [1000.0], q=0.05).n_antisite > 0
    assert calls / 200 <= 0.09          # family-wise false calls under the null <= q (+ noise)
    v = rng.normal(100.0, 5.0, 300)
    v[:15] += 200
    z, med, s = robust_z(v)
    assert med == pytest.approx(100.0, abs=1.5) and s == pytest.approx(5.0, rel=0.15)


def test_fe_fraction_from_the_reference_is_linear():
    rng = np.random.default_rng(1)
    host = rng.normal(10.0, 0.5, 200)            # Li column: 2 sites, 5 units per Li atom
    f_true = np.zeros(200)
    f_true[:10] = np.linspace(0.1, 0.5, 10)
    fe_per_atom = 100.0
    host = (1 - f_true) * host + f_true * 2 * fe_per_atom
    ref = rng.normal(fe_per_atom, 1.0, 100)      # Fe column: 1 Fe
    res = detect_antisites(host, ref, host_atoms=2, reference_atoms=1, q=0.01)
    assert np.allclose(res.fe_fraction[:10], f_true[:10], atol=0.02)
    assert res.antisite[:10].all() and not res.antisite[10:].any()
    assert res.concentration == pytest.approx(f_true.sum() / 200, rel=0.05)


def _score(flag, truth):
    tp = np.sum(flag & truth)
    return tp / max(1, flag.sum()), tp / max(1, truth.sum())


def _run(image, px):
    table, _ = find_sublattices(image, preset("lfp-010"), pixel_size_A=px)
    m = measure_sites(image, table, sigma_px=table.extra["sigma_px"])
    ny, nx = image.shape
    e = 2.5 * table.extra["sigma_px"]
    inside = (table.x >= e) & (table.x <= nx - 1 - e) & (table.y >= e) & (table.y <= ny - 1 - e)
    li, fe = (table.labels == "Li") & inside, (table.labels == "Fe") & inside
    res = detect_antisites(m.intensity[li], m.intensity[fe], host_errors=m.intensity_err[li],
                           host_atoms=2, reference_atoms=1, q=0.01)
    return table, li, res


def test_demo_antisites_precision_recall_and_fe_fraction():
    tp = fp = fn = 0
    errors = []
    for seed, occupancy in ((11, 0.2), (12, 0.3)):
        spec = lfp_antisite_pair(seed=seed, shape=(320, 320), antisite_fraction=0.1,
                                 antisite_occupancy=occupancy)
        c = spec.truth["columns"]
        table, li, res = _run(spec.signals[0].data, 0.12)
        d, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(table.xy[li])
        truth = np.array(c["antisite"])[i]
        tp += np.sum(res.antisite & truth)
        fp += np.sum(res.antisite & ~truth)
        fn += np.sum(~res.antisite & truth)
        errors += list(res.fe_fraction[truth] - occupancy)
    assert tp + fn >= 9
    assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.95
    assert abs(np.median(errors)) < 0.03 and np.percentile(np.abs(errors), 90) < 0.06


def test_independent_render_antisites_at_20_percent_fe():
    img, labels, anti, fe = lfp_independent(shape=(320, 320), fe_fraction=0.2, seed=5)
    table, li, res = _run(img.counts, 0.1)
    d, i = cKDTree(img.xy).query(table.xy[li])
    truth = anti[i]
    precision, recall = _score(res.antisite, truth)
    assert precision >= 0.9 and recall >= 0.9
    # Fe fraction from the Fe-site reference: Voigt tails make it only roughly linear
    assert np.median(res.fe_fraction[truth]) == pytest.approx(0.2, abs=0.05)
    assert res.concentration == pytest.approx(fe[labels == "Li"].sum() / np.sum(labels == "Li"),
                                              rel=0.35)


def test_no_antisites_in_a_perfect_crystal():
    spec = lfp_antisite_pair(seed=13, shape=(256, 256), antisite_fraction=0.0)
    _, _, res = _run(spec.signals[0].data, 0.12)
    assert res.n_antisite == 0 and res.concentration == 0.0 and res.concentration_err > 0
