"""power_spectrum / refine_peak / d_spacing on lattices of known spacing."""
import math

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.image_fft import d_spacing, power_spectrum, refine_peak
from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair

PIXEL_NM = 0.012


def _axes(ny, nx, scale=PIXEL_NM, units="nm"):
    return AxisCalibration("y", units, scale, 0.0, ny), AxisCalibration("x", units, scale, 0.0, nx)


def _fringes(ay, ax, d, angle_deg, phase=0.3):
    """cos fringes of spacing ``d`` whose wave vector is at ``angle_deg`` from +x towards +y."""
    th = math.radians(angle_deg)
    x, y = ax.values()[None, :], ay.values()[:, None]
    return 100.0 + 10.0 * np.cos(2 * np.pi * (x * math.cos(th) + y * math.sin(th)) / d + phase)


def _measure(fft, kx, ky, offset_px=(2, 0)):
    """Refine a click ``offset_px`` (columns, rows) away from the true spot."""
    click = (kx + offset_px[0] * fft.kx_axis.scale, ky + offset_px[1] * fft.ky_axis.scale)
    return refine_peak(fft, *click, radius_px=3)


@pytest.mark.parametrize("shape", [(256, 256), (255, 263)])
@pytest.mark.parametrize("offset_px", [(2, 0), (0, -2), (-1, 1)])
def test_fringe_spacing_recovered_from_a_click_two_pixels_away(shape, offset_px):
    ay, ax = _axes(*shape)
    d, angle = 0.35, 32.0
    fft = power_spectrum(_fringes(ay, ax, d, angle), ay, ax)  # 8.8 periods: not an integer
    kx, ky = math.cos(math.radians(angle)) / d, math.sin(math.radians(angle)) / d
    for sign in (1, -1):  # the spot and its Friedel mate
        rk = _measure(fft, sign * kx, sign * ky, offset_px)
        assert d_spacing(*rk) == pytest.approx(d, rel=5e-3)
        assert math.degrees(math.atan2(sign * rk[1], sign * rk[0])) == pytest.approx(angle, abs=0.2)


def test_two_dimensional_lattice_spacings():
    a, b, rot = 0.3, 0.47, math.radians(10.0)
    ay, ax = _axes(240, 256)
    a1 = a * np.array([math.cos(rot), math.sin(rot)])
    a2 = b * np.array([-math.sin(rot), math.cos(rot)])
    x, y = ax.values()[None, :], ay.values()[:, None]
    image = np.zeros((ay.size, ax.size))
    for i in range(-25, 26):
        for j in range(-20, 21):
            px, py = i * a1 + j * a2 + (0.11, 0.07)
            if -0.3 < px < 3.4 and -0.3 < py < 3.2:
                image += np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 0.04 ** 2))
    fft = power_spectrum(image, ay, ax)
    g1 = np.array([math.cos(rot), math.sin(rot)]) / a
    g2 = np.array([-math.sin(rot), math.cos(rot)]) / b
    for g in (g1, g2, g1 + g2, g1 - g2, -g2):
        assert d_spacing(*_measure(fft, *g)) == pytest.approx(1 / np.hypot(*g), rel=5e-3)


def test_angstrom_axes_give_spacings_in_nm():
    ay_nm, ax_nm = _axes(200, 200)
    ay_a, ax_a = _axes(200, 200, scale=PIXEL_NM * 10, units="Å")
    image = _fringes(ay_nm, ax_nm, 0.47, -75.0)
    f_nm, f_a = power_spectrum(image, ay_nm, ax_nm), power_spectrum(image, ay_a, ax_a)
    assert f_a.kx_axis.units == f_a.ky_axis.units == "1/nm"
    assert f_a.kx_axis.scale == pytest.approx(f_nm.kx_axis.scale)
    assert f_a.kx_axis.scale == pytest.approx(1 / (200 * PIXEL_NM))
    np.testing.assert_allclose(f_a.log_power, f_nm.log_power)
    kx, ky = math.cos(math.radians(-75.0)) / 0.47, math.sin(math.radians(-75.0)) / 0.47
    assert d_spacing(*_measure(f_a, kx, ky)) == pytest.approx(0.47, rel=5e-3)


@pytest.mark.parametrize("shape", [(64, 64), (63, 65), (64, 33)])
def test_zero_frequency_is_the_centre_pixel(shape):
    ay, ax = _axes(*shape)
    rng = np.random.default_rng(0)
    fft = power_spectrum(rng.random(shape) + 50.0, ay, ax)
    cy, cx = shape[0] // 2, shape[1] // 2
    assert fft.kx_axis.values()[cx] == 0.0 and fft.ky_axis.values()[cy] == 0.0
    assert fft.log_power.shape == shape and fft.log_power.dtype == np.float32
    assert fft.log_power[cy, cx] == fft.log_power.min()  # the mean is removed
    # A real image has a point-symmetric spectrum about the DC pixel.
    sy, sx = slice(1 - shape[0] % 2, None), slice(1 - shape[1] % 2, None)
    sym = fft.log_power[sy, sx]
    np.testing.assert_allclose(sym, sym[::-1, ::-1], atol=1e-4)


@pytest.mark.parametrize("n", [64, 65])
def test_integer_periods_without_window_peak_on_their_pixel(n):
    ay = AxisCalibration("y", "", 1.0, 0.0, n)
    ax = AxisCalibration("x", "", 1.0, 0.0, n)
    image = np.cos(2 * np.pi * 5 * ax.values()[None, :] / n) * np.ones((n, 1), np.float32)
    fft = power_spectrum(image.astype(np.float32), ay, ax, window="none")
    assert fft.kx_axis.units == "1/px" and fft.kx_axis.scale == pytest.approx(1 / n)
    peak = np.unravel_index(np.argmax(fft.log_power), fft.log_power.shape)
    assert peak in {(n // 2, n // 2 + 5), (n // 2, n // 2 - 5)}
    assert fft.log_power[n // 2, n // 2 + 5] == pytest.approx(fft.log_power[n // 2, n // 2 - 5])
    kx, ky = refine_peak(fft, 6.5 / n, 0.0)
    assert kx == pytest.approx(5 / n, abs=1e-6) and ky == pytest.approx(0.0, abs=1e-6)
    assert d_spacing(kx, ky) == pytest.approx(n / 5)


def test_lifepo4_lattice_from_the_demo_image():
    spec = lfp_antisite_pair(seed=0, shape=(512, 512))
    haadf = spec.signals[0]
    lattice = spec.truth["lattice"]
    a_nm, c_nm = lattice["a_A"] / 10, lattice["c_A"] / 10
    rot = math.radians(lattice["rotation_deg"])
    a_star = np.array([math.cos(rot), math.sin(rot)]) / a_nm
    c_star = np.array([-math.sin(rot), math.cos(rot)]) / c_nm
    fft = power_spectrum(haadf.data, *haadf.axes)
    assert fft.kx_axis.units == "1/nm"
    # Pnma [010]: h0l with h00 (h even) and 00l (l even) present.
    for h, l in [(2, 0), (0, 2), (1, 1), (2, 1), (4, 0)]:
        g = h * a_star + l * c_star
        assert d_spacing(*_measure(fft, *g, offset_px=(1, -1))) == pytest.approx(
            1 / np.hypot(*g), rel=5e-3)


def test_d_spacing():
    assert d_spacing(3.0, 4.0) == pytest.approx(0.2)
    assert d_spacing(0.0, 0.0) == math.inf


def test_non_finite_pixels_are_filled():
    ay, ax = _axes(64, 64)
    image = _fringes(ay, ax, 0.1, 0.0)
    image[10:12, 20:30] = np.nan
    fft = power_spectrum(image, ay, ax)
    assert np.all(np.isfinite(fft.log_power))
    assert d_spacing(*_measure(fft, 10.0, 0.0)) == pytest.approx(0.1, rel=5e-3)


@pytest.mark.parametrize("image, window, message", [
    (np.zeros((10, 11)), "hann", "does not match"),
    (np.zeros((10, 10, 2)), "hann", "2-D"),
    (np.zeros((10, 10)), "kaiser", "unknown window"),
    (np.full((10, 10), np.nan), "hann", "finite"),
])
def test_bad_input_raises(image, window, message):
    ay, ax = _axes(10, 10)
    with pytest.raises(ValueError, match=message):
        power_spectrum(image, ay, ax, window=window)


def test_too_small_image_raises():
    ay, ax = _axes(1, 10)
    with pytest.raises(ValueError, match="2 x 2"):
        power_spectrum(np.zeros((1, 10)), ay, ax)
