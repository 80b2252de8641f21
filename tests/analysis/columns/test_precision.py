"""Cramér–Rao bound of column positions: limits, scaling, Monte Carlo, helpers."""
import numpy as np
import pytest
from independent_render import render

from batteryscope.analysis.columns.precision import (cramer_rao_bound, crb_of_fits,
                                                     estimate_counts_per_unit)
from batteryscope.analysis.columns.refine import refine_columns


def test_no_background_known_width_is_sigma_over_sqrt_n():
    """Poisson, no background, width known: var(x) = s^2 / N for a finely sampled Gaussian."""
    sigma, amp = 4.0, 50.0
    crb = cramer_rao_bound(amp, sigma, 0.0, pixel_integrated=False, known_width=True,
                           known_background=True)
    n = amp * 2 * np.pi * sigma ** 2
    assert crb.column_counts == pytest.approx(n)
    assert crb.x == pytest.approx(sigma / np.sqrt(n), rel=0.01)
    assert crb.position == pytest.approx(np.sqrt(2) * crb.x)


def test_pixel_integration_adds_a_twelfth_of_a_pixel_squared():
    sigma, amp = 1.2, 200.0
    crb = cramer_rao_bound(amp, sigma, 0.0, known_width=True, known_background=True)
    n = amp * 2 * np.pi * sigma ** 2
    assert crb.x == pytest.approx(np.sqrt((sigma ** 2 + 1 / 12) / n), rel=0.03)


def test_scaling_with_dose_and_background():
    base = cramer_rao_bound(40.0, 2.5, 0.0)
    assert cramer_rao_bound(160.0, 2.5, 0.0).x == pytest.approx(base.x / 2, rel=1e-3)
    # with background, a 4x dose (amplitude and background) also halves the bound
    b1, b4 = cramer_rao_bound(40.0, 2.5, 5.0), cramer_rao_bound(160.0, 2.5, 20.0)
    assert b4.x == pytest.approx(b1.x / 2, rel=1e-3)
    assert b1.x > base.x
    # nuisance parameters never lower a bound; the position of a symmetric column is
    # orthogonal to its width and background (equal), the amplitude is not (lower)
    known = cramer_rao_bound(40.0, 2.5, 5.0, known_width=True, known_background=True)
    assert known.x == pytest.approx(b1.x, rel=1e-6)
    assert known.amplitude < 0.9 * b1.amplitude


def test_thompson_formula_agrees_at_moderate_background():
    """Thompson, Larson & Webb (2002): var = s_a^2/N (1 + 8 pi s_a^2 b / N) (approximation)."""
    sigma, amp, bg = 2.0, 30.0, 3.0
    n = amp * 2 * np.pi * sigma ** 2
    sa2 = sigma ** 2 + 1 / 12
    thompson = np.sqrt(sa2 / n * (1 + 8 * np.pi * sa2 * bg / n))
    assert cramer_rao_bound(amp, sigma, bg).x == pytest.approx(thompson, rel=0.25)


def test_monte_carlo_of_an_isolated_column_reaches_the_bound():
    """Poisson maximum likelihood on many independent isolated columns: sd within 10 % of the bound."""
    rng = np.random.default_rng(5)
    sigma, amp, bg = 2.0, 60.0, 4.0
    r = render(shape=(320, 320), a_px=(20.0, 0.0), b_px=(0.0, 20.0), basis=((0.0, 0.0, 1.0),),
               sigma_px=sigma, column_counts=amp * 2 * np.pi * sigma ** 2, background=bg, seed=9)
    inner = (r.x > 6) & (r.x < 313) & (r.y > 6) & (r.y < 313)
    start = r.xy[inner] + rng.uniform(-0.5, 0.5, (inner.sum(), 2))
    fits = refine_columns(r.counts, start, mode="poisson")
    err = fits.x - r.x[inner]
    crb = cramer_rao_bound(amp, sigma, bg)
    assert np.std(err) == pytest.approx(crb.x, rel=0.12)
    # per-column bound from the fitted values: near the true one
    per_column = crb_of_fits(fits)
    assert np.median(per_column) == pytest.approx(crb.x, rel=0.15)


def test_counts_per_unit_from_residual_noise():
    r = render(shape=(160, 160), seed=4, column_counts=3000.0, background=10.0)
    fits = refine_columns(r.counts, r.xy)
    assert estimate_counts_per_unit(r.counts) == pytest.approx(1.0, rel=0.2)
    scaled = refine_columns(r.counts * 2.5, r.xy)
    assert estimate_counts_per_unit(r.counts * 2.5) == pytest.approx(0.4, rel=0.2)
    with pytest.raises(ValueError, match="shot-noise"):
        estimate_counts_per_unit(np.random.default_rng(0).normal(100.0, 3.0, (128, 128)))
    crb_scaled = crb_of_fits(scaled, counts_per_unit=0.4)
    np.testing.assert_allclose(np.nanmedian(crb_scaled), np.nanmedian(crb_of_fits(fits)), rtol=0.05)


@pytest.mark.parametrize("args", [(0.0, 2.0, 1.0), (10.0, -1.0, 1.0), (10.0, 2.0, -1.0),
                                  (np.nan, 2.0, 1.0)])
def test_bad_parameters_raise(args):
    with pytest.raises(ValueError, match="amplitude"):
        cramer_rao_bound(*args)
