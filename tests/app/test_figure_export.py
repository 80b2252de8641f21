"""Publication PNG: as displayed (levels, colour map), at the chosen width, with a true scale bar."""
import imageio.v3 as iio
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app.errors import FileSaveError
from batteryscope.app.figure_export import export_figure_png, render_rgb, scale_bar_for
from batteryscope.widgets.colormaps import lookup_table

X_AXIS = AxisCalibration("x", "nm", 0.1, 0.0, 200)  # a 20 nm field


def test_scale_bar_is_a_round_length_of_about_a_fifth_of_the_field():
    assert scale_bar_for(X_AXIS) == (2.0, "2 nm")
    assert scale_bar_for(AxisCalibration("x", "", 1.0, 0.0, 100)) is None  # uncalibrated: no bar


def test_levels_and_lookup_table_are_applied_and_width_is_resampled():
    image = np.tile(np.linspace(0.0, 10.0, 200, dtype=np.float32), (100, 1))
    lut = lookup_table("inferno")
    rgb = render_rgb(image, levels=(0.0, 10.0), lut=lut, width_px=400)
    assert rgb.shape == (200, 400, 3)
    np.testing.assert_array_equal(rgb[0, 0], lut[0, :3])
    np.testing.assert_array_equal(rgb[0, -1], lut[-1, :3])
    with pytest.raises(ValueError, match="width"):
        render_rgb(image, width_px=10**6)


def test_png_has_a_white_bar_of_the_right_length(qapp, tmp_path):
    image = np.zeros((100, 200), np.float32)  # black image: only the bar and its label are light
    out = export_figure_png(image, tmp_path / "fig.png", x_axis=X_AXIS, levels=(0.0, 1.0), width_px=800)
    rgb = iio.imread(out)[..., :3]
    assert rgb.shape == (400, 800, 3)
    white_rows = np.nonzero((rgb == 255).all(axis=2).sum(axis=1) > 40)[0]
    assert white_rows.size > 0
    bar_row = (rgb[white_rows[-1]] == 255).all(axis=1)
    length_px = np.count_nonzero(bar_row)
    assert length_px == pytest.approx(2.0 / 20.0 * 800, abs=2)  # 2 nm of a 20 nm field at 800 px
    assert np.nonzero(bar_row)[0].min() > 400  # in the right half


def test_refuses_other_extensions_and_existing_files(qapp, tmp_path):
    image = np.zeros((10, 10), np.float32)
    with pytest.raises(FileSaveError, match="png"):
        export_figure_png(image, tmp_path / "fig.jpg", x_axis=X_AXIS)
    (tmp_path / "taken.png").write_bytes(b"x")
    with pytest.raises(FileSaveError, match="exists"):
        export_figure_png(image, tmp_path / "taken.png", x_axis=AxisCalibration("x", "nm", 1, 0, 10))
    assert (tmp_path / "taken.png").read_bytes() == b"x"
