"""Reference parameters of the O K and 3d transition-metal L2,3 near-edge structure.

These are the numbers the synthetic Li-rich layered-oxide spectrum image is built from.
They are typical of published EELS of Mn, Co and Ni oxides and of the O K edge of
layered Li-rich cathodes; they are model choices stated here, not fits to one dataset.

Edge onsets
-----------
``onset_eV`` is the onset in exspy's element database (O K 532, Mn L3 640, Co L3 779,
Ni L3 855 eV; L2 − L3: 11, 15, 17 eV), i.e. where exspy's hydrogenic continuum starts.
It is taken to belong to the TM at ``reference_valence`` (2+).

L2,3 white lines (per TM atom, added to the hydrogenic continuum)
----------------------------------------------------------------
* Positions: the L3 maximum lies ``peak_above_onset_eV`` (1.5 eV) above the database
  onset for the 2+ ion and moves up by ``shift_eV_per_valence`` (1.0 eV) per unit of
  oxidation state (Mn²⁺ ≈ 641.5 → Mn⁴⁺ ≈ 643.5 eV); the continuum onset moves with it.
  L2 lies one spin-orbit splitting above L3.
* Widths: single pseudo-Voigt lines (multiplets unresolved), L2 broader than L3 because
  of its extra L2 → L3 M45 Coster–Kronig decay channel.
* L3/L2 (ratio of the integrated white-line areas, continuum excluded), linear in the
  valence between reference points typical of oxide standards measured with a
  step-function continuum: Mn²⁺ 3.6, Mn³⁺ 2.5, Mn⁴⁺ 2.0 (MnO, Mn2O3, MnO2);
  Co²⁺ 3.8, Co³⁺ 2.4 (CoO, LiCoO2); Ni²⁺ 3.0, Ni³⁺ 2.6 (NiO, LiNiO2). Values outside the
  tabulated valence range are clamped.
* Total white-line area per atom = ``WHITE_LINE_AREA_PER_HOLE`` × h_3d × (hydrogenic
  continuum integrated over the 50 eV above the L3 onset): the normalised white-line
  intensity is proportional to the number of 3d holes (Pearson et al., Phys. Rev. B 47
  (1993) 8471), with h_3d = 10 − (n_valence_electrons − oxidation state)
  (Mn⁴⁺ 7, Mn²⁺ 5, Co³⁺ 4, Co²⁺ 3, Ni²⁺ 2).

O K near-edge structure (per O atom, added to the hydrogenic continuum)
-----------------------------------------------------------------------
Pre-peak at 530.0 eV (O 1s → O 2p states hybridised with empty TM 3d), area
0.12 × strength × C50, where C50 is the O K continuum integrated over 532–582 eV and the
strength is 1 in the layered bulk and drops where TM 3d holes and TM–O covalency are
lost (reduced, O-deficient surface); main peak at 541.5 eV (O 2p – TM 4sp, area 0.22 ×
C50, FWHM 6 eV) and a broad multiple-scattering feature at 563 eV (0.08 × C50, 10 eV).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Normalised white-line intensity per 3d hole (fraction of the 50 eV continuum integral).
WHITE_LINE_AREA_PER_HOLE = 0.10
#: Width of the continuum window that normalises the white lines and the O K ELNES (eV).
CONTINUUM_WINDOW_EV = 50.0


@dataclass(frozen=True)
class WhiteLineReference:
    """L2,3 white-line parameters of one 3d transition metal (energies in eV)."""

    element: str
    edge: str
    onset_eV: float
    spin_orbit_eV: float
    valence_electrons: int
    ratio_by_valence: tuple
    l3_fwhm_eV: float
    l2_fwhm_eV: float
    reference_valence: float = 2.0
    peak_above_onset_eV: float = 1.5
    shift_eV_per_valence: float = 1.0
    lorentz_fraction: float = 0.2

    def l3_l2_ratio(self, valence) -> np.ndarray:
        """Integrated L3/L2 white-line area ratio, linear in valence (clamped at the ends)."""
        v, r = np.array(self.ratio_by_valence, dtype=np.float64).T
        return np.interp(np.asarray(valence, dtype=np.float64), v, r)

    def d_holes(self, valence) -> np.ndarray:
        """Number of 3d holes of the ion, ``10 − (n_valence_electrons − valence)``."""
        return 10.0 - (self.valence_electrons - np.asarray(valence, dtype=np.float64))

    def chemical_shift(self, valence) -> np.ndarray:
        """Shift of the L3 onset and white lines relative to the database onset (eV)."""
        return self.shift_eV_per_valence * (np.asarray(valence, dtype=np.float64)
                                            - self.reference_valence)

    def l3_peak_eV(self, valence) -> np.ndarray:
        """Position of the L3 white-line maximum (eV)."""
        return self.onset_eV + self.peak_above_onset_eV + self.chemical_shift(valence)

    def l2_peak_eV(self, valence) -> np.ndarray:
        """Position of the L2 white-line maximum (eV)."""
        return self.l3_peak_eV(valence) + self.spin_orbit_eV


WHITE_LINE_REFERENCES = {
    "Mn": WhiteLineReference("Mn", "Mn_L3", 640.0, 11.0, 7,
                             ((2.0, 3.6), (3.0, 2.5), (4.0, 2.0)), 2.0, 2.6),
    "Co": WhiteLineReference("Co", "Co_L3", 779.0, 15.0, 9,
                             ((2.0, 3.8), (3.0, 2.4)), 2.2, 2.8),
    "Ni": WhiteLineReference("Ni", "Ni_L3", 855.0, 17.0, 10,
                             ((2.0, 3.0), (3.0, 2.6)), 1.8, 2.4),
}


@dataclass(frozen=True)
class OxygenKReference:
    """O K near-edge structure: (position eV, FWHM eV, area as a fraction of C50)."""

    edge: str = "O_K"
    onset_eV: float = 532.0
    pre_peak: tuple = (530.0, 1.6, 0.12)
    main_peak: tuple = (541.5, 6.0, 0.22)
    third_peak: tuple = (563.0, 10.0, 0.08)
    lorentz_fraction: float = 0.2


OXYGEN_K = OxygenKReference()
