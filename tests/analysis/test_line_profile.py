"""line_profile: calibrated sampling, averaging across the width, NaN outside the image."""
import math

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.line_profile import line_profile
from batteryscope.analysis.roi_geometry import LineROI


def _axes(ny, nx, sy, sx, units="nm", oy=0.0, ox=0.0):
    return AxisCalibration("y", units, sy, oy, ny), AxisCalibration("x", units, sx, ox, nx)


def _ramp(ay, ax, a=2.0, b=-3.0, c=5.0):
    return a * ax.values()[None, :] + b * ay.values()[:, None] + c


def test_linear_ramp_profile_is_exact():
    ay, ax = _axes(40, 50, 0.1, 0.1, oy=1.0, ox=-0.5)
    image = _ramp(ay, ax)
    line = LineROI(0.3, 1.25, 3.1, 4.0)
    p = line_profile(image, line, ay, ax)
    length = math.hypot(2.8, 2.75)
    assert p.distance_axis.name == "Distance" and p.distance_axis.units == "nm"
    assert p.distance_axis.offset == 0.0 and p.distance_axis.scale == pytest.approx(0.1)
    assert p.distance_axis.size == int(length / 0.1) + 1
    t = p.distance_axis.values()
    expected = 2.0 * (0.3 + 2.8 / length * t) - 3.0 * (1.25 + 2.75 / length * t) + 5.0
    np.testing.assert_allclose(p.values, expected, rtol=0, atol=1e-10)
    assert p.values.dtype == np.float64 and p.std_across.dtype == np.float64
    assert p.n_across == 1 and p.line == line and p.length == pytest.approx(length)
    np.testing.assert_array_equal(p.std_across, 0.0)


def test_width_averages_parallel_rows():
    ay, ax = _axes(30, 40, 0.5, 0.5, units="Å")
    image = np.random.default_rng(1).normal(100.0, 10.0, (30, 40))
    # Along row 10 from column 2 to 20, five pixels wide: rows 8..12 on pixel centres.
    p = line_profile(image, LineROI(1.0, 5.0, 10.0, 5.0, width=2.5), ay, ax)
    assert p.n_across == 5 and p.distance_axis.size == 19
    np.testing.assert_allclose(p.values, image[8:13, 2:21].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(p.std_across, image[8:13, 2:21].std(axis=0), atol=1e-12)
    # Four pixels wide: lines half-way between rows, as skimage.measure.profile_line does.
    p4 = line_profile(image, LineROI(1.0, 5.0, 10.0, 5.0, width=2.0), ay, ax)
    rows = image[8:13, 2:21]
    weighted = (rows[0] + 2 * rows[1] + 2 * rows[2] + 2 * rows[3] + rows[4]) / 8
    assert p4.n_across == 4
    np.testing.assert_allclose(p4.values, weighted, atol=1e-12)


def test_line_across_a_diagonal_gaussian_stripe():
    ay, ax = _axes(128, 128, 0.05, 0.05)
    theta = math.radians(30.0)
    e = np.array([math.cos(theta), math.sin(theta)])  # stripe direction
    n = np.array([-e[1], e[0]])  # across the stripe
    centre = np.array([3.2, 3.1])
    sigma = 0.4
    x, y = ax.values()[None, :], ay.values()[:, None]
    s = (x - centre[0]) * n[0] + (y - centre[1]) * n[1]
    image = np.exp(-s ** 2 / (2 * sigma ** 2))
    start, end = centre - 2.0 * n, centre + 2.0 * n
    line = LineROI(start[0], start[1], end[0], end[1], width=0.35)
    expected_at = lambda t: np.exp(-(t - 2.0) ** 2 / (2 * sigma ** 2))  # noqa: E731
    p = line_profile(image, line, ay, ax)
    assert p.n_across == 7
    t = p.distance_axis.values()
    np.testing.assert_allclose(p.values, expected_at(t), atol=0.01)  # bilinear
    assert np.all(p.std_across < 0.01)  # parallel lines see the same profile
    cubic = line_profile(image, line, ay, ax, order=3)
    np.testing.assert_allclose(cubic.values, expected_at(t), atol=1e-3)
    assert t[np.argmax(cubic.values)] == pytest.approx(2.0, abs=0.05)


def test_angstrom_and_nm_axes_give_the_same_profile():
    image = np.random.default_rng(2).random((20, 30))
    ay_nm, ax_nm = _axes(20, 30, 0.05, 0.05, units="nm")
    ay_a, ax_a = _axes(20, 30, 0.5, 0.5, units="Å")
    p_nm = line_profile(image, LineROI(0.1, 0.2, 1.3, 0.8, width=0.1), ay_nm, ax_nm)
    p_a = line_profile(image, LineROI(1.0, 2.0, 13.0, 8.0, width=1.0), ay_a, ax_a)
    np.testing.assert_allclose(p_nm.values, p_a.values, atol=1e-12)
    assert (p_nm.distance_axis.units, p_a.distance_axis.units) == ("nm", "Å")
    assert p_a.distance_axis.scale == pytest.approx(10 * p_nm.distance_axis.scale)
    # y in nm, x in Å: the profile is in the x axis's units.
    mixed = line_profile(image, LineROI(1.0, 0.2, 13.0, 0.8, width=1.0), ay_nm, ax_a)
    assert mixed.distance_axis.units == "Å" and mixed.length == pytest.approx(p_a.length)
    np.testing.assert_allclose(mixed.values, p_a.values, atol=1e-12)


def test_non_square_pixels_sample_at_the_smaller_pixel_size():
    ay, ax = _axes(25, 60, 0.2, 0.1)
    image = _ramp(ay, ax, a=1.0, b=4.0, c=0.0)
    line = LineROI(0.5, 0.4, 4.5, 3.4)  # 5 nm long
    p = line_profile(image, line, ay, ax)
    assert p.distance_axis.scale == pytest.approx(0.1) and p.distance_axis.size == 51
    t = p.distance_axis.values()
    np.testing.assert_allclose(p.values, (0.5 + 0.8 * t) + 4.0 * (0.4 + 0.6 * t), atol=1e-10)
    # Across a vertical line, parallel lines are one (0.1 nm) x-pixel apart.
    vertical = line_profile(image, LineROI(3.0, 0.0, 3.0, 4.0, width=0.5), ay, ax)
    assert vertical.n_across == 5 and vertical.distance_axis.size == 41
    np.testing.assert_allclose(vertical.values, 3.0 + 4.0 * vertical.distance_axis.values(), atol=1e-10)
    np.testing.assert_allclose(vertical.std_across, np.std([2.8, 2.9, 3.0, 3.1, 3.2]), atol=1e-10)


def test_float32_image_and_uncalibrated_axes():
    ay = AxisCalibration("y", "", 1.0, 0.0, 16)
    ax = AxisCalibration("x", "", 1.0, 0.0, 16)
    image = np.random.default_rng(3).random((16, 16)).astype(np.float32)
    p32 = line_profile(image, LineROI(1.0, 2.0, 12.0, 9.0, width=3.0), ay, ax)
    p64 = line_profile(image.astype(np.float64), LineROI(1.0, 2.0, 12.0, 9.0, width=3.0), ay, ax)
    assert p32.values.dtype == np.float64 and p32.distance_axis.units == ""
    np.testing.assert_allclose(p32.values, p64.values, rtol=1e-6)


def test_samples_outside_the_image_are_nan():
    ay, ax = _axes(10, 10, 1.0, 1.0)
    image = np.ones((10, 10))
    p = line_profile(image, LineROI(5.0, 5.0, 15.0, 5.0), ay, ax)
    assert p.distance_axis.size == 11
    assert np.all(p.values[:5] == 1.0)  # columns 5..9.5 are on the image
    assert np.all(np.isnan(p.values[5:])) and np.all(np.isnan(p.std_across[5:]))
    # A wide line along the edge averages only the lines that are on the image.
    edge = line_profile(image, LineROI(0.0, 0.0, 9.0, 0.0, width=3.0), ay, ax)
    np.testing.assert_array_equal(edge.values, 1.0)


@pytest.mark.parametrize("image, line, message", [
    (np.zeros((10, 10)), LineROI(2.0, 2.0, 2.0, 2.0), "zero length"),
    (np.zeros((10, 11)), LineROI(1.0, 1.0, 5.0, 5.0), "does not match"),
    (np.zeros((2, 10, 10)), LineROI(1.0, 1.0, 5.0, 5.0), "2-D"),
    (np.zeros((10, 10)), LineROI(1.0, 1.0, 5.0, 5.0, width=-1.0), "width"),
    (np.zeros((10, 10)), LineROI(1.0, 1.0, float("nan"), 5.0), "finite"),
])
def test_bad_input_raises(image, line, message):
    ay, ax = _axes(10, 10, 1.0, 1.0)
    with pytest.raises(ValueError, match=message):
        line_profile(image, line, ay, ax)


def test_units_that_cannot_be_compared_raise():
    ay = AxisCalibration("y", "nm", 1.0, 0.0, 10)
    ax = AxisCalibration("Energy loss", "eV", 1.0, 0.0, 10)
    with pytest.raises(ValueError, match="units"):
        line_profile(np.zeros((10, 10)), LineROI(1.0, 1.0, 5.0, 5.0), ay, ax)
