"""Structure matching, site assignment and placement of faint sites, against truth."""
from __future__ import annotations

import numpy as np
import pytest
from lfp_render import lfp_independent
from scipy.spatial import cKDTree

from batteryscope.analysis.columns.structures import preset
from batteryscope.analysis.columns.sublattices import (assign_sites, find_sublattices, local_displacement,
                                                       match_structure)
from batteryscope.analysis.specimens.layered_oxide_columns import layered_oxide_haadf
from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair


def _compare(table, truth_xy, truth_labels, px, placed_tol_A):
    d, i = cKDTree(truth_xy).query(table.xy)
    agree = np.mean(np.asarray(truth_labels)[i] == table.labels)
    placed = ~table.matched
    return agree, np.percentile(d[placed] * px, 95), np.percentile(d[table.matched] * px, 95)


def test_lfp_demo_every_site_found_and_labelled():
    spec = lfp_antisite_pair(seed=4, shape=(256, 256))
    c = spec.truth["columns"]
    table, fits = find_sublattices(spec.signals[0].data, preset("lfp-010"), pixel_size_A=0.12)
    agree, placed95, fitted95 = _compare(table, np.column_stack([c["x_px"], c["y_px"]]), c["site"],
                                         0.12, 0.2)
    assert agree > 0.99
    truth_xy = np.column_stack([c["x_px"], c["y_px"]])
    interior = np.all((truth_xy > 20) & (truth_xy < 235), axis=1)      # 2.4 Å from the edges
    assert cKDTree(table.xy).query(truth_xy[interior])[0].max() < 0.3 / 0.12
    assert fitted95 < 0.1           # refined Fe positions, Å
    assert placed95 < 0.15          # Li, P, O placed from the lattice, Å
    li = table.labels == "Li"
    assert li.sum() >= 0.95 * np.sum(np.array(c["site"]) == "Li")
    assert table.extra["sigma_px"] == pytest.approx(0.40 / 0.12, rel=0.25)   # probe core, px


def test_independent_render_oblique_and_voigt_columns():
    img, labels, _, _ = lfp_independent(shape=(256, 256), antisite_share=0.0, seed=3)
    table, _ = find_sublattices(img.counts, preset("lfp-010"), pixel_size_A=0.1)
    agree, placed95, fitted95 = _compare(table, img.xy, labels, 0.1, 0.2)
    assert agree > 0.99
    assert placed95 < 0.15 and fitted95 < 0.06


def test_layered_oxide_sites_with_a_superstructure_domain():
    spec = layered_oxide_haadf(seed=2, shape=(256, 256))
    c = spec.truth["columns"]
    table, _ = find_sublattices(spec.signals[0].data, preset("layered-r3m"), pixel_size_A=0.1)
    d, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(table.xy)
    assert np.mean(np.array(c["site"])[i] == table.labels) > 0.99
    assert np.percentile(d, 95) * 0.1 < 0.15
    truth_xy = np.column_stack([c["x_px"], c["y_px"]])
    # (a dark Li column that ends a row at the image edge cannot be told from vacuum)
    interior = np.all((truth_xy > 30) & (truth_xy < 225), axis=1)
    assert cKDTree(table.xy).query(truth_xy[interior])[0].max() < 2.0     # none missing
    vacuum = table.x < spec.truth["surface"]["x_px"] - 3
    assert not vacuum.any()                                              # none in the vacuum


def test_match_without_calibration_uses_shape_only():
    spec = lfp_antisite_pair(seed=5, shape=(256, 256), noise=False)
    c = spec.truth["columns"]
    fe = np.array(c["site"]) == "Fe"
    xy = np.column_stack([c["x_px"], c["y_px"]])
    lat = match_structure(xy[fe], preset("lfp-010"))
    table = assign_sites(xy[fe], preset("lfp-010"), (256, 256), lattice=lat)
    d, i = cKDTree(xy).query(table.xy)
    assert np.mean(np.array(c["site"])[i] == table.labels) > 0.99 and d.max() < 0.5


def test_wrong_structure_is_refused():
    spec = lfp_antisite_pair(seed=5, shape=(256, 256), noise=False)
    c = spec.truth["columns"]
    xy = np.column_stack([c["x_px"], c["y_px"]])[np.array(c["site"]) == "Fe"]
    with pytest.raises(ValueError, match="does not match"):
        match_structure(xy, preset("rock-salt"), pixel_size_A=0.12)


def test_local_displacement_follows_an_affine_field():
    rng = np.random.default_rng(0)
    known = rng.uniform(0, 100, (200, 2))
    field = lambda p: np.column_stack([0.01 * p[:, 0] + 0.5, -0.02 * p[:, 1]])  # noqa: E731
    q = rng.uniform(20, 80, (20, 2))
    assert np.allclose(local_displacement(known, field(known), q), field(q), atol=1e-9)
