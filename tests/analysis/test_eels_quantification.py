"""EELS quantification: atomic ratios and atomic % with propagated uncertainties."""
import numpy as np
import pytest

from batteryscope.analysis.eels.quantification import atomic_percent, atomic_ratios


def test_atomic_percent_exact_values():
    # N = I/σ = 40, 10, 10 → 66.67 / 16.67 / 16.67 %
    pct, err = atomic_percent({"O": 800.0, "Mn": 300.0, "Ni": 200.0},
                              {"O": 0.0, "Mn": 0.0, "Ni": 0.0},
                              {"O": 20.0, "Mn": 30.0, "Ni": 20.0})
    assert pct["O"] == pytest.approx(200 / 3)
    assert pct["Mn"] == pytest.approx(100 / 6)
    assert pct["Ni"] == pytest.approx(100 / 6)
    assert sum(pct.values()) == pytest.approx(100.0)
    assert all(e == 0 for e in err.values())


def test_atomic_percent_error_two_elements_by_hand():
    # x = a/(a+b), var x = (b² var a + a² var b)/(a+b)^4
    a, b, va, vb = 30.0, 10.0, 4.0, 9.0
    pct, err = atomic_percent({"A": a, "B": b}, {"A": va, "B": vb}, {"A": 1.0, "B": 1.0})
    expect = 100 * np.sqrt((b ** 2 * va + a ** 2 * vb) / (a + b) ** 4)
    assert pct["A"] == pytest.approx(75.0)
    assert err["A"] == pytest.approx(expect)
    assert err["B"] == pytest.approx(expect)  # two elements: the errors are equal


def test_atomic_percent_error_three_elements_by_hand():
    n = np.array([40.0, 10.0, 10.0])
    vn = np.array([4.0, 1.0, 0.25])
    sig = np.array([2.0, 3.0, 5.0])
    keys = ["O", "Mn", "Ni"]
    pct, err = atomic_percent(dict(zip(keys, n * sig)), dict(zip(keys, vn * sig ** 2)),
                              dict(zip(keys, sig)))
    s = n.sum()
    for i, k in enumerate(keys):
        grad = -n[i] / s ** 2 * np.ones(3)
        grad[i] += 1 / s
        assert err[k] == pytest.approx(100 * np.sqrt(np.sum(grad ** 2 * vn)))
        assert pct[k] == pytest.approx(100 * n[i] / s)


def test_atomic_ratios_exact_values():
    ratio, err = atomic_ratios({"O": 800.0, "Mn": 300.0}, {"O": 1600.0, "Mn": 900.0},
                               {"O": 20.0, "Mn": 30.0}, reference="Mn")
    # N_O = 40 ± 2, N_Mn = 10 ± 1 → 4 ± 4·sqrt(0.05² + 0.1²)
    assert ratio["O"] == pytest.approx(4.0)
    assert err["O"] == pytest.approx(4 * np.hypot(0.05, 0.1))
    assert ratio["Mn"] == 1.0 and err["Mn"] == 0.0
    ratio, _ = atomic_ratios({"O": 800.0, "Mn": 300.0}, {"O": 1.0, "Mn": 1.0},
                             {"O": 20.0, "Mn": 30.0})
    assert ratio["O"] == 1.0 and ratio["Mn"] == pytest.approx(0.25)  # first key by default


def test_arrays_broadcast_and_nan_propagates():
    sig = {"O": np.array([[800.0, np.nan], [800.0, 800.0]]), "Mn": np.full((2, 2), 300.0)}
    var = {"O": np.full((2, 2), 10.0), "Mn": np.array([[10.0, 10.0], [np.nan, 10.0]])}
    cs = {"O": 20.0, "Mn": np.full((2, 2), 30.0)}
    pct, err = atomic_percent(sig, var, cs)
    for k in ("O", "Mn"):
        assert pct[k].shape == (2, 2)
        assert np.isnan(pct[k][0, 1]) and np.isnan(pct[k][1, 0])
        assert np.isnan(err[k][0, 1]) and np.isnan(err[k][1, 0])
        assert np.isfinite(pct[k][0, 0]) and np.isfinite(err[k][1, 1])
    ratio, rerr = atomic_ratios(sig, var, cs, reference="Mn")
    assert np.isnan(ratio["O"][0, 1]) and np.isnan(ratio["O"][1, 0])  # own and reference NaN
    assert np.isnan(ratio["Mn"][1, 0]) and ratio["Mn"][0, 1] == 1.0


def test_float32_in_float32_out():
    pct, err = atomic_percent({"A": np.ones(3, np.float32), "B": np.ones(3, np.float32)},
                              {"A": np.ones(3, np.float32), "B": np.ones(3, np.float32)},
                              {"A": 1.0, "B": 2.0})
    assert pct["A"].dtype == np.float32 and err["B"].dtype == np.float32
    assert pct["A"] == pytest.approx(100 * 2 / 3)


def test_zero_total_is_nan():
    pct, err = atomic_percent({"A": 0.0, "B": 0.0}, {"A": 1.0, "B": 1.0}, {"A": 1.0, "B": 1.0})
    assert np.isnan(pct["A"]) and np.isnan(err["B"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(signals={"A": 1.0}, variances={"B": 1.0}, sigmas={"A": 1.0}), "same elements"),
    (dict(signals={"A": 1.0}, variances={"A": 1.0}, sigmas={"A": 0.0}), "> 0 barn"),
    (dict(signals={"A": 1.0}, variances={"A": -1.0}, sigmas={"A": 1.0}), ">= 0"),
    (dict(signals={"A": np.ones(3)}, variances={"A": np.ones(4)}, sigmas={"A": 1.0}), "broadcast"),
    (dict(signals={}, variances={}, sigmas={}), "empty"),
])
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        atomic_percent(**kwargs)


def test_unknown_reference_raises():
    with pytest.raises(ValueError, match="reference"):
        atomic_ratios({"A": 1.0}, {"A": 1.0}, {"A": 1.0}, reference="B")


def test_propagated_error_matches_monte_carlo_scatter():
    rng = np.random.default_rng(12345)
    keys = ["O", "Mn", "Ni"]
    true_i = {"O": 4.0e4, "Mn": 1.5e4, "Ni": 0.9e4}
    var = {"O": 3.0e6, "Mn": 1.0e6, "Ni": 0.8e6}  # 4–10 % relative: first order still holds
    sig = {"O": 20.0, "Mn": 30.0, "Ni": 18.0}
    draws = {k: rng.normal(true_i[k], np.sqrt(var[k]), 2000) for k in keys}
    pct_mc, _ = atomic_percent(draws, var, sig)
    _, err = atomic_percent(true_i, var, sig)
    for k in keys:
        assert np.std(pct_mc[k], ddof=1) == pytest.approx(float(err[k]), rel=0.10)
    ratio_mc, _ = atomic_ratios(draws, var, sig, reference="Mn")
    _, rerr = atomic_ratios(true_i, var, sig, reference="Mn")
    for k in ("O", "Ni"):
        assert np.std(ratio_mc[k], ddof=1) == pytest.approx(float(rerr[k]), rel=0.10)
