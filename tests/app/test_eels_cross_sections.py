"""exspy hydrogenic cross-sections as the app hands them to the analysis layer."""
import warnings

import numpy as np
import pytest

from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.eels_edge_references import OXYGEN_K, WHITE_LINE_REFERENCES
from batteryscope.analysis.specimens.eels_layered_oxide_maps import DENSITY_G_CM3
from batteryscope.analysis.specimens.eels_low_loss import inelastic_mean_free_path
from batteryscope.app.eels_cross_sections import edge_onset_energies, hydrogenic_cross_sections

MICROSCOPE = {"beam_energy_keV": 300.0, "convergence_mrad": 20.0, "collection_mrad": 30.0}
ENERGY = np.arange(400.0, 1500.0, 0.5)
EDGES = ("O_K", "Mn_L3", "Mn_L2", "Co_L3", "Ni_L3")


@pytest.fixture(scope="module")
def sigma():
    return hydrogenic_cross_sections(EDGES, ENERGY, **MICROSCOPE)


def _at(curve, energy):
    return curve[np.searchsorted(ENERGY, energy)]


def test_shape_dtype_and_zero_below_onset(sigma):
    onsets = edge_onset_energies(EDGES)
    assert set(sigma) == set(EDGES)
    for edge, curve in sigma.items():
        assert curve.shape == ENERGY.shape and curve.dtype == np.float64
        onset = 640.0 if edge == "Mn_L2" else onsets[edge]   # hydrogenic L2 starts at L3
        assert np.all(curve[ENERGY < onset] == 0)
        assert np.all(curve[ENERGY >= onset] > 0)


def test_o_k_magnitude_is_tens_of_barn_per_eV(sigma):
    """O K, 300 kV, α 20 / β 30 mrad: 23 barn/eV at the onset, 17 barn/eV 50 eV above.

    The dipole (Bethe) estimate 4π a0² R²/(E T) · df/dE · ln(1 + β²/θ_E²) gives ≈ 13
    barn/eV at 582 eV (df/dE ≈ 3e-3 /eV); 1e3–1e4 barn/eV would be the integral over a
    50–100 eV window, not dσ/dE.
    """
    o_k = sigma["O_K"]
    assert _at(o_k, 532.0) == pytest.approx(23.2, rel=0.02)
    assert 5.0 < _at(o_k, 582.0) < 50.0
    assert _at(o_k, 582.0) == pytest.approx(17.1, rel=0.02)
    window = (ENERGY >= 532) & (ENERGY < 582)
    assert 500 < np.sum(o_k[window]) * 0.5 < 2000          # barn over 50 eV


def test_monotone_decrease_far_above_onset(sigma):
    def decreasing(curve, lo, hi):
        sel = (ENERGY >= lo) & (ENERGY <= hi)
        return np.all(np.diff(curve[sel]) < 0)

    assert decreasing(sigma["O_K"], 537, 1500)
    assert decreasing(sigma["Mn_L3"], 700, 768) and decreasing(sigma["Mn_L3"], 800, 1500)
    assert decreasing(sigma["Co_L3"], 850, 925)
    assert decreasing(sigma["Ni_L3"], 1020, 1500)


def test_hydrogenic_l3_is_the_whole_l_shell(sigma):
    """exspy's hydrogenic L2 is the same curve as L3 (one onset, at L3); L1 adds a step."""
    np.testing.assert_array_equal(sigma["Mn_L2"], sigma["Mn_L3"])
    assert _at(sigma["Mn_L3"], 772.0) / _at(sigma["Mn_L3"], 767.0) > 1.1     # Mn L1 at 769 eV
    assert _at(sigma["Co_L3"], 930.0) / _at(sigma["Co_L3"], 924.0) > 1.1     # Co L1 at 926 eV


def test_matches_exspy_eels_model():
    """Same numbers as exspy's own EELSModel, which keeps only the L3 component."""
    import exspy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acq = DualEELSAcquisition()
        axis = acq.core_loss_axis()
        s = exspy.signals.EELSSpectrum(np.ones((2, axis.size)))
        ax = s.axes_manager.signal_axes[0]
        ax.offset, ax.scale, ax.units = axis.offset, axis.scale, "eV"
        s.set_microscope_parameters(beam_energy=300.0, convergence_angle=20.0,
                                    collection_angle=30.0)
        s.add_elements(["O", "Mn", "Co", "Ni"])
        model = s.create_model(GOS="hydrogenic", auto_background=False)
    names = sorted(c.name for c in model)
    assert names == ["Co_L3", "Mn_L3", "Ni_L3", "O_K"]
    energy = axis.values()
    ours = hydrogenic_cross_sections(names, energy, **acq.microscope_parameters())
    for name in names:
        model[name].intensity.value = 1.0
        np.testing.assert_allclose(ours[name], model[name].function(energy), rtol=1e-12)


def test_onsets_agree_with_the_analysis_tables():
    onsets = edge_onset_energies(["O_K", "Mn_L3", "Mn_L2", "Co_L3", "Co_L2", "Ni_L3", "Ni_L2"])
    assert onsets["O_K"] == OXYGEN_K.onset_eV
    for el, ref in WHITE_LINE_REFERENCES.items():
        assert onsets[f"{el}_L3"] == ref.onset_eV
        assert onsets[f"{el}_L2"] - onsets[f"{el}_L3"] == ref.spin_orbit_eV


def test_mean_free_path_agrees_with_exspy():
    from exspy.utils.eels import iMFP_Iakoubovskii, iMFP_angular_correction
    ref = (iMFP_Iakoubovskii(DENSITY_G_CM3, 300.0)
           * iMFP_angular_correction(DENSITY_G_CM3, 300.0, 20.0, 30.0))
    assert inelastic_mean_free_path(DENSITY_G_CM3, **MICROSCOPE) == pytest.approx(ref, rel=1e-12)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="not in exspy"):
        edge_onset_energies(["Xx_K"])
    with pytest.raises(ValueError, match="subshell"):
        edge_onset_energies(["O_L3"])
    with pytest.raises(ValueError, match="Element_subshell"):
        edge_onset_energies(["OK"])
    with pytest.raises(ValueError, match="K and L"):
        hydrogenic_cross_sections(["Mn_M3"], ENERGY, **MICROSCOPE)
    with pytest.raises(ValueError, match="increasing"):
        hydrogenic_cross_sections(["O_K"], ENERGY[::-1], **MICROSCOPE)
    with pytest.raises(ValueError, match="collection"):
        hydrogenic_cross_sections(["O_K"], ENERGY, beam_energy_keV=300.0,
                                  convergence_mrad=20.0, collection_mrad=0.0)
