"""Lattice from column positions: basis, least-squares refinement, indexing."""
from __future__ import annotations

import numpy as np
import pytest

from batteryscope.analysis.columns.lattice import (Lattice2D, find_basis, gauss_reduce, index_columns,
                                                   refine_lattice)
from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair


def _points(a, b, motif, n=14, origin=(30.0, 40.0), noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    h, k, s = np.meshgrid(np.arange(n), np.arange(n), np.arange(len(motif)), indexing="ij")
    frac = np.column_stack([h.ravel(), k.ravel()]) + np.asarray(motif)[s.ravel()]
    xy = np.asarray(origin) + frac @ np.array([a, b]) + rng.normal(0, noise, (frac.shape[0], 2))
    return xy, frac, s.ravel()


def _same_lattice(b1, b2, rtol=2e-3):
    r1, r2 = gauss_reduce(*b1), gauss_reduce(*b2)
    return (np.allclose(np.linalg.norm(r1, axis=1), np.linalg.norm(r2, axis=1), rtol=rtol)
            and abs(abs(np.linalg.det(r1)) - abs(np.linalg.det(r2))) < 2 * rtol * abs(np.linalg.det(r2)))


@pytest.mark.parametrize("a, b, motif", [
    ((15.0, 2.0), (-3.0, 13.0), [(0, 0), (0.5, 0.4)]),                 # oblique, 2 sites
    ((20.0, 0.0), (10.0, 17.3205), [(0, 0), (1 / 3, 1 / 3)]),          # honeycomb
    ((9.0, -1.0), (2.0, 25.0), [(0, 0), (0.3, 0.1), (0.6, 0.55)]),   # long cell, odd motif
])
def test_basis_is_found_for_any_motif(a, b, motif):
    # (a motif like (0, 0) + (1/2, 1/2) of identical points would be a finer lattice itself)
    xy, _, _ = _points(a, b, motif, noise=0.1)
    assert _same_lattice(find_basis(xy), np.array([a, b]))


def test_refinement_recovers_origin_and_basis_to_the_statistical_limit():
    a, b = np.array([15.0, 2.0]), np.array([-3.0, 13.0])
    xy, frac, _ = _points(a, b, [(0, 0), (0.5, 0.5)], noise=0.2, seed=3)
    lat, resid = refine_lattice(xy, frac)
    n = len(xy)
    assert np.allclose(lat.basis, [a, b], atol=5 * 0.2 / np.sqrt(n) * 2)
    assert np.allclose(lat.origin, [30.0, 40.0], atol=5 * 0.2 / np.sqrt(n) * 4)
    assert np.std(resid) == pytest.approx(0.2, rel=0.1)


def test_indexing_returns_site_and_cell():
    a, b = (15.0, 2.0), (-3.0, 13.0)
    motif = [(0, 0), (0.5, 0.5)]
    xy, frac, site = _points(a, b, motif, noise=0.3, seed=1)
    lat = Lattice2D(np.array([30.0, 40.0]), np.array([a, b]))
    s, hk, dist = index_columns(xy, lat, motif)
    assert np.array_equal(s, site)
    assert np.array_equal(hk, np.floor(frac + 1e-9).astype(int))
    assert dist.max() < 1.5


def test_basis_of_the_lfp_fe_sublattice_from_the_generator():
    spec = lfp_antisite_pair(seed=2, shape=(256, 256), noise=False)
    c = spec.truth["columns"]
    fe = np.array(c["site"]) == "Fe"
    xy = np.column_stack([c["x_px"], c["y_px"]])[fe]
    truth = np.array([spec.truth["lattice"]["a_px"], spec.truth["lattice"]["c_px"]])
    assert _same_lattice(find_basis(xy), truth, rtol=1e-6)


def test_bad_positions_are_refused():
    with pytest.raises(ValueError, match="at least 6"):
        find_basis(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="only one lattice direction"):
        find_basis(np.column_stack([np.arange(20) * 7.0, np.zeros(20)]))
    with pytest.raises(ValueError):
        refine_lattice(np.zeros((5, 2)), np.zeros((4, 2)))
