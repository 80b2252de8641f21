"""k-factors calibrated on a reference of known composition, applied to unknowns."""
import warnings

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.eels.k_factors import (
    EdgeSetting, KFactor, KFactorMismatchWarning, apply_k_factor, calibrate_k_factor,
)

AXIS = AxisCalibration("Energy loss", "eV", 0.5, 200.25, 1400)      # 200.25 … 899.75 eV
E = AXIS.values()
# B = "O K" at 532 eV, A = "Mn L2,3" at 640 eV: edges of finite extent (56 eV), so that
# each pre-edge window sees a pure power law and the background fit is exact without noise
B = EdgeSetting("O_K", background=(470.0, 525.0), integration=(532.0, 582.0))
A = EdgeSetting("Mn_L3", background=(590.0, 635.0), integration=(640.0, 690.0))
SCOPE = {"beam_energy_keV": 300.0, "convergence_mrad": 20.0, "collection_mrad": 30.0}
SIGMA_RATIO = 1.7     # per-atom yield ratio of the two edges in their windows (arbitrary)


def edge(onset, atoms):
    shape = np.where((E >= onset) & (E < onset + 56.0), (np.maximum(E, onset) / onset) ** -3.0, 0)
    return atoms * shape


def spectrum(c_a, c_b, background=4e13):
    return (background * E ** -3.2 + edge(640.0, 2e4 * SIGMA_RATIO * c_a)
            + edge(532.0, 2e4 * c_b))


def true_k():
    """(I_A/I_B)/(c_A/c_B) from the edge shapes alone: what calibration must return."""
    sa = edge(640.0, SIGMA_RATIO)[(E >= 640) & (E <= 690)].sum()
    sb = edge(532.0, 1.0)[(E >= 532) & (E <= 582)].sum()
    return sa / sb


def calibrate(ref, **kw):
    return calibrate_k_factor(ref, AXIS, element_a="Mn", element_b="O", edge_a=A, edge_b=B,
                              reference="LiMn2O4 (synthetic)", **{**SCOPE, **kw})


def test_noise_free_calibration_and_application_are_exact():
    k = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5)      # LiMn2O4: Mn/O = 2/4
    assert k.value == pytest.approx(true_k(), rel=1e-4)
    ratio, err = apply_k_factor(k, spectrum(1.0, 1.5), AXIS, **SCOPE)   # Mn3O4-like 2/3
    assert float(ratio) == pytest.approx(2 / 3, rel=1e-4)
    assert 0 < float(err) < 0.05 * 2 / 3


def test_uncertainty_matches_monte_carlo_scatter():
    """Poisson noise: the propagated 1σ of a calibration and of an application agree with the
    scatter over 300 noisy repeats to 15 % (the sampling error of a standard deviation from
    300 repeats is ~4 %; the propagation is first order), and the mean is unbiased."""
    rng = np.random.default_rng(7)
    ref_mean, unk_mean = spectrum(1.0, 2.0, 4e12), spectrum(1.0, 1.5, 4e12)
    ks = [calibrate(rng.poisson(ref_mean).astype(float), composition_ratio=0.5) for _ in range(300)]
    values = np.array([k.value for k in ks])
    predicted = np.mean([k.uncertainty for k in ks])
    assert values.std(ddof=1) == pytest.approx(predicted, rel=0.15)
    assert abs(values.mean() - true_k()) < 3 * predicted / np.sqrt(300) + 2e-3 * true_k()

    exact = calibrate(ref_mean, composition_ratio=0.5)
    exact = KFactor(**{**exact.__dict__, "uncertainty": 0.0})
    unknowns = rng.poisson(np.broadcast_to(unk_mean, (300, E.size))).astype(float)
    ratio, err = apply_k_factor(exact, unknowns, AXIS, **SCOPE)        # vectorised over pixels
    assert ratio.shape == (300,)
    assert ratio.std(ddof=1) == pytest.approx(err.mean(), rel=0.15)
    assert abs(ratio.mean() - 2 / 3) < 3 * err.mean() / np.sqrt(300) + 2e-3


def test_k_uncertainty_and_reference_uncertainty_propagate():
    """Independent error sources add in quadrature, in calibration and in application."""
    k0 = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5)
    k1 = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5, composition_ratio_uncertainty=0.01)
    assert k1.value == k0.value
    assert (k1.uncertainty / k1.value) ** 2 == pytest.approx(
        (k0.uncertainty / k0.value) ** 2 + 0.02**2, rel=1e-9)
    ratio0, err0 = apply_k_factor(k0, spectrum(1.0, 2.0), AXIS, **SCOPE)
    ratio1, err1 = apply_k_factor(k1, spectrum(1.0, 2.0), AXIS, **SCOPE)
    assert float(ratio1) == float(ratio0) == pytest.approx(0.5, rel=1e-4)
    assert float(err1) ** 2 - float(err0) ** 2 == pytest.approx(
        float(ratio1) ** 2 * ((k1.uncertainty / k1.value) ** 2 - (k0.uncertainty / k0.value) ** 2),
        rel=1e-6)


def test_json_round_trip():
    k = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5, composition_ratio_uncertainty=0.01)
    text = k.to_json()
    assert '"reference": "LiMn2O4 (synthetic)"' in text and '"beam_energy_keV": 300.0' in text
    back = KFactor.from_json(text)
    assert back == k
    two_windows = EdgeSetting("O_K", background=((470.0, 490.0), (505.0, 525.0)),
                              integration=(532.0, 582.0))
    k2 = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5)
    k2 = KFactor(**{**k2.__dict__, "edge_b": two_windows})
    assert KFactor.from_json(k2.to_json()) == k2


def test_warns_when_conditions_or_windows_differ():
    k = calibrate(spectrum(1.0, 2.0), composition_ratio=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_k_factor(k, spectrum(1.0, 1.5), AXIS, **SCOPE)           # same: silent
    with pytest.warns(KFactorMismatchWarning, match="E0 200"):
        apply_k_factor(k, spectrum(1.0, 1.5), AXIS, **{**SCOPE, "beam_energy_keV": 200.0})
    with pytest.warns(KFactorMismatchWarning, match="collection angle"):
        apply_k_factor(k, spectrum(1.0, 1.5), AXIS, **{**SCOPE, "collection_mrad": 20.0})
    wider = EdgeSetting("Mn_L3", background=(590.0, 635.0), integration=(640.0, 740.0))
    with pytest.warns(KFactorMismatchWarning, match="windows"):
        apply_k_factor(k, spectrum(1.0, 1.5), AXIS, edge_a=wider, **SCOPE)


def test_bad_reference_raises():
    with pytest.raises(ValueError, match="no usable edge intensity"):
        calibrate(spectrum(0.0, 2.0), composition_ratio=0.5)
    with pytest.raises(ValueError, match="composition_ratio"):
        calibrate(spectrum(1.0, 2.0), composition_ratio=0.0)
    with pytest.raises(ValueError, match="one spectrum"):
        calibrate(np.stack([spectrum(1.0, 2.0)] * 2), composition_ratio=0.5)
    with pytest.raises(ValueError, match="lo < hi"):
        EdgeSetting("O_K", background=(470.0, 525.0), integration=(582.0, 532.0))
