"""Known-truth tests of Li K quantification next to overlapping TM M2,3 edges."""
import numpy as np
import pytest

from batteryscope.analysis.eels.lithium_k import (FLAG_BACKGROUND, FLAG_BAD_FIT,
                                                  lithium_k_quantification)

from eels_references_for_tests import axis, li_k_and_m23_references, power_law

AX = axis(30.0, 100.0, 0.1)
E = AX.values()
REFS = li_k_and_m23_references(E)
TM = {"Mn": REFS["Mn"], "Co": REFS["Co"]}
KW = {"background_window": (36.0, 46.0), "fit_range": (46.5, 90.0)}


def mixture(li_tm, n_mn=40.0, n_co=10.0, bg_at_40=3000.0, r=3.2):
    li_tm = np.asarray(li_tm, dtype=np.float64)[..., None]
    return (li_tm * (n_mn + n_co) * REFS["Li"] + n_mn * REFS["Mn"] + n_co * REFS["Co"]
            + power_law(E, bg_at_40 * 40.0 ** r, r))


def test_the_overlap_is_real():
    # a window integral over the Li K edge holds far more M2,3 than Li counts
    win = (E >= 54.0) & (E <= 70.0)
    li = 0.5 * 50 * REFS["Li"][win].sum()
    tm = 40 * REFS["Mn"][win].sum() + 10 * REFS["Co"][win].sum()
    assert tm > 1.5 * li


def test_li_to_tm_recovered_noise_free():
    truth = np.array([0.1, 0.5, 1.0, 1.3])
    res = lithium_k_quantification(mixture(truth), AX, li_reference=REFS["Li"],
                                   tm_references=TM, **KW)
    assert res.names == ("Li", "Mn", "Co")
    assert res.li_to_tm == pytest.approx(truth, rel=2e-3)
    assert res.coefficients[:, 1] == pytest.approx(40.0, rel=2e-3)
    assert np.all(res.flags == 0)


def test_li_to_tm_pulls_with_poisson_noise():
    rng = np.random.default_rng(7)
    truth = np.linspace(0.2, 1.5, 600).reshape(20, 30)
    y = rng.poisson(mixture(truth, n_mn=120.0, n_co=30.0, bg_at_40=6000.0)).astype(np.float32)
    res = lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references=TM, **KW)
    assert res.li_to_tm.shape == (20, 30)
    ok = res.flags == 0
    assert ok.mean() > 0.97
    pull = (res.li_to_tm[ok] - truth[ok]) / res.li_to_tm_std[ok]
    assert abs(pull.mean()) < 0.15
    assert 0.85 < pull.std() < 1.15
    assert np.median(res.li_to_tm_std / truth) < 0.2


def test_background_extrapolation_error_is_propagated():
    rng = np.random.default_rng(9)
    y = rng.poisson(mixture(np.full(400, 0.8))).astype(float)
    res = lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references=TM, **KW)
    # the Li coefficient scatter matches its error only with the background term included
    li = res.coefficients[:, 0]
    assert np.std(li) == pytest.approx(np.mean(res.coefficient_std[:, 0]), rel=0.12)
    # and the Li–TM covariance is negative: overlapping shapes trade counts
    assert np.median(res.covariance[:, 0, 1]) < 0


def test_missing_tm_reference_is_flagged():
    rng = np.random.default_rng(10)
    y = rng.poisson(mixture(np.full(20, 0.8), n_mn=200.0, n_co=80.0)).astype(float)
    res = lithium_k_quantification(y, AX, li_reference=REFS["Li"],
                                   tm_references={"Mn": REFS["Mn"]}, **KW)
    assert np.all(res.flags & FLAG_BAD_FIT)


def test_bad_input():
    y = mixture(np.array([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="background_window"):
        lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references=TM,
                                 background_window=(36.0, 50.0), fit_range=(46.5, 90.0))
    with pytest.raises(ValueError, match="'Li'"):
        lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references={"Li": REFS["Li"]},
                                 **KW)
    with pytest.raises(ValueError, match="non-empty"):
        lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references={}, **KW)
    with pytest.raises(ValueError, match="shape"):
        lithium_k_quantification(y, AX, li_reference=REFS["Li"][:10], tm_references=TM, **KW)
    y[1, 80] = np.nan         # in the background window: no background can be fitted
    y[2, 300] = np.nan
    res = lithium_k_quantification(y, AX, li_reference=REFS["Li"], tm_references=TM, **KW)
    assert res.flags[0] == 0
    assert res.flags[1] & FLAG_BACKGROUND and np.isnan(res.li_to_tm[1])
    assert res.flags[2] & FLAG_BACKGROUND and np.isnan(res.li_to_tm[2])
