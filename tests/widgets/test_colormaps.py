"""Colour maps and gamma lookup tables (no window needed)."""
import numpy as np
import pyqtgraph as pg
import pytest

from batteryscope.widgets.colormaps import COLORMAPS, colormap, lookup_table


def test_names_and_maps():
    assert COLORMAPS[:4] == ("gray", "inferno", "viridis", "magma")
    assert "diverging (strain)" in COLORMAPS
    for name in COLORMAPS:
        cmap = colormap(name)
        assert isinstance(cmap, pg.ColorMap) and cmap.name == name
    with pytest.raises(ValueError, match="unknown colour map 'jet'"):
        colormap("jet")


def test_gray_gamma_one_is_a_linear_ramp():
    lut = lookup_table("gray", 1.0, n=512)
    assert lut.shape == (512, 3) and lut.dtype == np.uint8 and lut.flags.c_contiguous
    expected = np.linspace(0, 255, 512)
    np.testing.assert_allclose(lut[:, 0], expected, atol=1.0)
    assert (lut[:, 0] == lut[:, 1]).all() and (lut[:, 1] == lut[:, 2]).all()


@pytest.mark.parametrize("name", COLORMAPS)
@pytest.mark.parametrize("gamma", [0.2, 0.5, 2.0, 5.0])
def test_entry_x_has_the_colour_at_x_to_the_gamma(name, gamma):
    n = 64
    lut = lookup_table(name, gamma, n=n, alpha=True)
    assert lut.shape == (n, 4)
    x = np.linspace(0, 1, n)
    np.testing.assert_array_equal(lut, colormap(name).map(x ** gamma, mode="byte"))


def test_gamma_below_one_brightens_the_dark_end():
    dark = lookup_table("gray", 1.0, n=256)[32, 0]
    assert lookup_table("gray", 0.5, n=256)[32, 0] > dark > lookup_table("gray", 2.0, n=256)[32, 0]


def test_diverging_map_is_blue_white_red():
    lut = lookup_table("diverging (strain)", 1.0, n=257).astype(int)
    low, mid, high = lut[0], lut[128], lut[-1]
    assert low[2] > low[0] + 100          # blue end
    assert high[0] > high[2] + 100        # red end
    assert mid.min() > 200                # near-white centre


def test_accepts_a_colormap_object_and_rejects_bad_input():
    cmap = pg.ColorMap([0, 1], [(255, 0, 0), (0, 0, 255)])
    lut = lookup_table(cmap, 1.0, n=2)
    np.testing.assert_array_equal(lut, [[255, 0, 0], [0, 0, 255]])
    for gamma in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gamma"):
            lookup_table("gray", gamma)
    with pytest.raises(ValueError, match="at least 2"):
        lookup_table("gray", 1.0, n=1)
