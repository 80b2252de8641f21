"""Li staging: periodic occupancy of Li planes, on profiles with known answers and on images."""
from __future__ import annotations

import numpy as np
import pytest

from batteryscope.analysis.columns.staging import detect_staging, plane_indices, staging_in_table
from batteryscope.analysis.columns.structures import preset
from batteryscope.analysis.columns.sublattices import find_sublattices, measure_sites
from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair
from batteryscope.analysis.specimens.lfp_li_staging import lfp_li_staging_abf, staging_region_labels


def _columns(occupancy_per_plane, per_plane=12, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    planes = np.repeat(np.arange(len(occupancy_per_plane)), per_plane)
    values = np.repeat(occupancy_per_plane, per_plane) + rng.normal(0, noise, planes.size)
    return planes, values


def test_period_two_in_a_staged_band_between_full_and_empty_bands():
    occ = [1.0] * 6 + [1.0, 0.0] * 5 + [0.0] * 6
    r = detect_staging(*_columns(occ), plane_spacing_A=5.0)
    assert r.detected and r.period == 2 and r.period_A == pytest.approx(10.0)
    assert set(r.planes) <= set(range(5, 17)) and len(r.planes) >= 8


def test_period_three():
    r = detect_staging(*_columns([1.0, 0.2, 0.2] * 6))
    assert r.detected and r.period == 3


@pytest.mark.parametrize("occ", [
    [1.0] * 20,                        # pristine
    [1.0] * 10 + [0.0] * 10,           # a LiFePO4 | FePO4 wall: a step, not staging
    list(np.linspace(1.0, 0.3, 20)),   # a thickness or Li gradient
])
def test_no_staging_without_a_periodic_modulation(occ):
    assert not detect_staging(*_columns(occ, seed=3)).detected


def test_plane_indices_for_two_li_planes_per_cell():
    g = np.array([-0.5, 0.0, 0.02, 0.49, 1.0, 1.51, 3.0])
    assert plane_indices(g, [0.0, 0.5]).tolist() == [-1, 0, 0, 1, 2, 3, 6]


def _abf_staging(haadf, abf, px):
    table, _ = find_sublattices(haadf, preset("lfp-010"), pixel_size_A=px)
    m = measure_sites(abf, table, sigma_px=table.extra["sigma_px"], dark_columns=True)
    ny, nx = abf.shape
    e = 2.5 * table.extra["sigma_px"]
    inside = (table.x >= e) & (table.x <= nx - 1 - e) & (table.y >= e) & (table.y <= ny - 1 - e)
    return table, staging_in_table(table, m.intensity, pixel_size_A=px, mask=inside)


def test_half_charged_lfp_shows_stage_two_in_the_staged_band_only():
    spec = lfp_li_staging_abf(seed=2, shape=(320, 320))
    abf, haadf = spec.signals[0].data, spec.signals[1].data
    table, r = _abf_staging(haadf, abf, 0.15)
    staged = spec.truth["regions"][1]
    assert r.detected and r.period == 2
    assert r.period_A == pytest.approx(staged["staging_period_A"], rel=0.03)
    # the planes called staged lie in the staged band
    li = (table.labels == "Li")
    axis = r.direction
    planes = plane_indices(table.frac[li, axis], [0.0, 0.5])
    band = staging_region_labels(table.x[li], table.y[li], spec.truth)
    in_called = np.isin(planes, r.planes)
    assert in_called.sum() >= 10 and np.mean(band[in_called] == 1) >= 0.9


def test_pristine_lfp_has_no_staging():
    spec = lfp_antisite_pair(seed=21, shape=(256, 256), antisite_fraction=0.0)
    _, r = _abf_staging(spec.signals[0].data, spec.signals[1].data, 0.12)
    assert not r.detected and r.period is None and r.planes == []
