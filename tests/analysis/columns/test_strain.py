"""Strain and lattice-parameter maps from indexed positions, against known deformations."""
from __future__ import annotations

import numpy as np
import pytest

from batteryscope.analysis.columns.strain import strain_map
from batteryscope.analysis.specimens.lfp_li_staging import lfp_li_staging_abf


def _grid(n=20):
    h, k = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.column_stack([h.ravel(), k.ravel()]).astype(float)


def test_uniform_strain_and_rotation_are_recovered():
    ref = np.array([[12.0, 0.0], [3.0, 14.0]])
    eps = np.array([[0.012, -0.004], [-0.004, -0.007]])
    theta = 0.01
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    f = rot @ (np.eye(2) + eps)
    frac = _grid()
    xy = frac @ (ref @ f.T) + np.random.default_rng(0).normal(0, 0.05, (len(frac), 2))
    m = strain_map(xy, frac, ref)
    assert np.median(m.exx) == pytest.approx(eps[0, 0] + 0 * theta, abs=1.5e-3)
    assert np.median(m.eyy) == pytest.approx(eps[1, 1], abs=1.5e-3)
    assert np.median(m.exy) == pytest.approx(eps[0, 1], abs=1.5e-3)
    assert np.median(m.rotation) == pytest.approx(theta, abs=1.5e-3)
    assert np.std(m.exx) < 3e-3


def test_strain_gradient_is_local():
    ref = np.array([[10.0, 0.0], [0.0, 10.0]])
    frac = _grid(30)
    x = frac @ ref
    # exx grows linearly with x: u_x = g x^2 / 2 -> exx = g x
    g = 2e-4
    xy = x.copy()
    xy[:, 0] += 0.5 * g * x[:, 0] ** 2
    m = strain_map(xy, frac, ref, n_neighbours=8)
    interior = (x[:, 0] > 20) & (x[:, 0] < 270)
    assert np.allclose(m.exx[interior], g * x[interior, 0], atol=2e-3)


def test_lattice_parameter_of_each_domain_of_the_staging_specimen():
    spec = lfp_li_staging_abf(seed=0, shape=(320, 320))
    c = spec.truth["columns"]
    fe = np.array(c["site"]) == "Fe"
    xy = np.column_stack([c["x_px"], c["y_px"]])[fe]
    frac = np.column_stack([c["u"], c["w"]])[fe]
    px = spec.truth["parameters"]["pixel_size_A"]
    ref = np.array([spec.truth["regions"][0]["a_px"], spec.truth["regions"][0]["c_px"]])
    m = strain_map(xy, frac, ref, n_neighbours=8)
    region = np.array(c["region"])[fe]
    for k, r in enumerate(spec.truth["regions"]):
        a_meas = np.median(m.a_px[region == k]) * px
        assert a_meas == pytest.approx(r["a_A"], abs=0.03)
    # FePO4 is 5 % shorter along a than LiFePO4: exx (a nearly along x) ~ -0.049
    assert np.median(m.exx[region == 2]) == pytest.approx(9.821 / 10.332 - 1, abs=3e-3)


def test_bad_reference():
    with pytest.raises(ValueError, match="non-singular"):
        strain_map(np.zeros((10, 2)), np.zeros((10, 2)), np.zeros((2, 2)))
