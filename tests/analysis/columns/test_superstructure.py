"""Three-fold C2/m superstructure along TM rows, and its domain map, against truth."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from batteryscope.analysis.columns.structures import preset
from batteryscope.analysis.columns.sublattices import find_sublattices, measure_sites
from batteryscope.analysis.columns.superstructure import threefold_map
from batteryscope.analysis.specimens.layered_oxide_columns import layered_oxide_haadf


def test_threefold_rows_on_synthetic_intensities():
    rng = np.random.default_rng(0)
    pos = np.tile(np.arange(30), 4)
    row = np.repeat(np.arange(4), 30)
    val = np.where((pos >= 15) & (pos % 3 == 1), 0.1, 1.0) + rng.normal(0, 0.03, pos.size)
    m = threefold_map(row, pos, val, np.full(pos.size, 0.03))
    truth = pos >= 15
    wall = np.abs(pos - 14.5) < 2
    assert np.mean(m.c2m[~wall] == truth[~wall]) == 1.0
    assert set(m.variant[truth & ~wall]) == {1}


@pytest.mark.parametrize("phase", [0, 2])
def test_c2m_domain_map_of_a_layered_oxide(phase):
    spec = layered_oxide_haadf(seed=5 + phase, shape=(320, 256), c2m_region=(0.5, 1.0),
                               c2m_phase=phase, tm_rich_depth_A=0.0)
    img = spec.signals[0].data
    table, _ = find_sublattices(img, preset("layered-r3m"), pixel_size_A=0.1)
    m = measure_sites(img, table, sigma_px=table.extra["sigma_px"])
    tm = table.labels == "TM"
    row_axis = int(np.argmin(np.linalg.norm(table.lattice.basis, axis=1)))
    hk = np.column_stack([table.h, table.k])[tm]
    sm = threefold_map(hk[:, 1 - row_axis], hk[:, row_axis], m.intensity[tm], m.intensity_err[tm])
    c = spec.truth["columns"]
    _, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(table.xy[tm])
    truth = np.array(c["domain"])[i] == "C2/m"
    x = table.x[tm]
    wall_x = 0.5 * img.shape[1]
    clear = (np.abs(x - wall_x) > 2 * 14.2) & (x > 3 * 14.2) & (x < img.shape[1] - 3 * 14.2)
    assert np.mean(sm.c2m[clear] == truth[clear]) >= 0.95
    # one registry over the whole domain (one variant)
    variants = sm.variant[clear & truth]
    assert np.mean(variants == np.bincount(variants[variants >= 0]).argmax()) >= 0.95
