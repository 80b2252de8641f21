"""TM migration: TM fraction on Li-layer sites and the thickness of a TM-rich surface layer."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from batteryscope.analysis.columns.migration import depth_from_surface, tm_fraction_on_sites, tm_rich_layer
from batteryscope.analysis.columns.structures import preset
from batteryscope.analysis.columns.sublattices import find_sublattices, measure_sites
from batteryscope.analysis.specimens.layered_oxide_columns import layered_oxide_haadf


def test_profile_thickness_on_a_known_step():
    depth = np.repeat(np.arange(20) * 1.4, 8)
    f = np.where(depth < 7.0, 0.5, 0.0) + np.random.default_rng(0).normal(0, 0.03, depth.size)
    layer = tm_rich_layer(depth, f, bin_A=1.4)
    assert layer.detected and layer.thickness_A == pytest.approx(7.0, abs=0.8)
    flat = tm_rich_layer(depth, np.random.default_rng(1).normal(0, 0.03, depth.size), bin_A=1.4)
    assert not flat.detected and flat.thickness_A == 0.0


@pytest.mark.parametrize("depth_A, occupancy", [(8.0, 0.6), (14.0, 0.35)])
def test_tm_rich_surface_layer_of_a_layered_oxide(depth_A, occupancy):
    spec = layered_oxide_haadf(seed=3, shape=(256, 256), tm_rich_depth_A=depth_A,
                               tm_rich_occupancy=occupancy, c2m_region=(0.9, 1.0))
    img = spec.signals[0].data
    table, _ = find_sublattices(img, preset("layered-r3m"), pixel_size_A=0.1)
    m = measure_sites(img, table, sigma_px=table.extra["sigma_px"])
    li, tm = table.labels == "Li", table.labels == "TM"
    f, _, _ = tm_fraction_on_sites(m.intensity[li], m.intensity[tm & table.matched])
    c = spec.truth["columns"]
    _, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(table.xy[li])
    truth_f = np.array(c["tm_fraction"])[i]
    assert np.median(np.abs(f - truth_f)) < 0.05
    depth = depth_from_surface(table.xy[li], inward_normal=(1.0, 0.0), pixel_size_A=0.1)
    layer = tm_rich_layer(depth, f, bin_A=1.422)
    assert layer.detected
    assert layer.thickness_A == pytest.approx(depth_A, abs=1.5)     # one column spacing
    assert layer.surface_value == pytest.approx(occupancy, abs=0.08)


def test_no_surface_layer_when_no_tm_migrated():
    spec = layered_oxide_haadf(seed=4, shape=(256, 256), tm_rich_depth_A=0.0, c2m_region=(0.9, 1.0))
    img = spec.signals[0].data
    table, _ = find_sublattices(img, preset("layered-r3m"), pixel_size_A=0.1)
    m = measure_sites(img, table, sigma_px=table.extra["sigma_px"])
    li, tm = table.labels == "Li", table.labels == "TM"
    f, _, _ = tm_fraction_on_sites(m.intensity[li], m.intensity[tm & table.matched])
    depth = depth_from_surface(table.xy[li], inward_normal=(1.0, 0.0), pixel_size_A=0.1)
    assert not tm_rich_layer(depth, f, bin_A=1.422).detected
