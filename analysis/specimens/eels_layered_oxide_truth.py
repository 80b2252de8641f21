"""Ground truth of the layered-oxide dual-EELS spectrum image as a JSON-serialisable dict.

Layout of ``Specimen.truth`` (every name carries its unit; maps are lists of rows,
``truth["maps"][key][iy][ix]``, in the scan's (y, x) order):

* ``maps``: ``region`` (0 vacuum, 1 surface layer, 2 bulk; names in ``region_names``),
  ``distance_from_surface_nm`` (negative in vacuum), ``particle_fraction``,
  ``surface_layer_fraction``, ``t_over_lambda``, ``thickness_nm``, ``zlp_shift_eV``
  (ZLP maximum = drift, the same for low- and core-loss), ``areal_density_atoms_per_nm2``
  (Li, O, Mn, Co, Ni), and per TM ``valence``, ``l3_l2_ratio`` (white-line areas),
  ``l3_peak_eV`` and ``chemical_shift_eV`` (specimen frame: add ``zlp_shift_eV`` for the
  recorded position), ``d_holes``, ``white_line_area_per_atom_barn_eV``; plus
  ``o_k_pre_peak_strength``, ``o_k_pre_peak_area_per_atom_barn_eV``,
  ``plasmon_energy_eV`` (layer-fraction weighted), ``background_A_counts_per_channel``
  and ``background_r`` (recorded background ``A (E − zlp_shift)^(−r)`` per channel).
  Quantities that need material (valence, ratios, …) are 0 in vacuum.
* ``summary``: bulk (distance > 4 nm) and surface-layer (0.25–1.5 nm) ratios of summed
  areal densities (Mn/O, Ni/Mn, Co/Mn, TM/O, Li/O) and means of valence, L3/L2, t/λ and
  pre-peak strength.
* Scalars and model parameters: ``mean_free_path_nm``, nominal compositions and
  valences, edge onsets and 50 eV continuum integrals, white-line and O K models,
  low-loss and background models, electrons per pixel.
"""
from __future__ import annotations

import numpy as np

from .eels_edge_references import (CONTINUUM_WINDOW_EV, OXYGEN_K, WHITE_LINE_AREA_PER_HOLE,
                                   WHITE_LINE_REFERENCES)
from .eels_layered_oxide_maps import (DENSITY_G_CM3, ELEMENTS, REGION_NAMES, TRANSITION_METALS,
                                      ParticleModel)
from .eels_low_loss import TM_OXIDE_INTERBAND

SURFACE_WINDOW_NM = (0.25, 1.5)
BULK_MIN_DISTANCE_NM = 4.0


def _listify(value):
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _region_summary(maps, mask):
    n = {el: float(np.sum(maps["areal_density"][el][mask])) for el in ELEMENTS}
    tm = n["Mn"] + n["Co"] + n["Ni"]
    out = {"n_pixels": int(mask.sum()), "Mn/O": n["Mn"] / n["O"], "Ni/Mn": n["Ni"] / n["Mn"],
           "Co/Mn": n["Co"] / n["Mn"], "TM/O": tm / n["O"], "Li/O": n["Li"] / n["O"],
           "mean_t_over_lambda": float(maps["t_over_lambda"][mask].mean()),
           "mean_o_k_pre_peak_strength": float(maps["pre_peak_strength"][mask].mean())}
    for el in TRANSITION_METALS:
        out[f"mean_valence_{el}"] = float(maps["valence"][el][mask].mean())
        out[f"mean_l3_l2_ratio_{el}"] = float(maps["l3_l2_ratio"][el][mask].mean())
    return out


def _maps(exp):
    m, c50 = exp.maps, exp.continuum_integrals
    pre_area = OXYGEN_K.pre_peak[2] * c50["O"] * m["pre_peak_strength"]
    return {
        "region": m["region"], "distance_from_surface_nm": m["distance_nm"],
        "particle_fraction": m["particle_fraction"], "surface_layer_fraction": m["layer_fraction"],
        "t_over_lambda": m["t_over_lambda"], "thickness_nm": m["thickness_nm"],
        "zlp_shift_eV": m["zlp_shift_eV"], "areal_density_atoms_per_nm2": m["areal_density"],
        "valence": m["valence"], "l3_l2_ratio": m["l3_l2_ratio"], "l3_peak_eV": m["l3_peak_eV"],
        "chemical_shift_eV": m["chemical_shift_eV"], "d_holes": m["d_holes"],
        "white_line_area_per_atom_barn_eV": m["white_line_area_per_atom_barn_eV"],
        "o_k_pre_peak_strength": m["pre_peak_strength"],
        "o_k_pre_peak_area_per_atom_barn_eV": pre_area,
        "plasmon_energy_eV": np.where(m["particle_fraction"] > 0, m["plasmon_eV"], 0.0),
        "background_A_counts_per_channel": m["background_A"], "background_r": m["background_r"],
    }


def _models(exp):
    model, c50 = ParticleModel(), exp.continuum_integrals
    edges = {"O_K": {"onset_eV": OXYGEN_K.onset_eV, "continuum_integral_50eV_barn_eV": c50["O"]}}
    for el, ref in WHITE_LINE_REFERENCES.items():
        edges[ref.edge] = {"onset_eV": ref.onset_eV, "continuum_integral_50eV_barn_eV": c50[el],
                           "l2_minus_l3_eV": ref.spin_orbit_eV,
                           "l3_l2_ratio_by_valence": [list(p) for p in ref.ratio_by_valence],
                           "l3_peak_above_onset_eV_at_2plus": ref.peak_above_onset_eV,
                           "chemical_shift_eV_per_valence": ref.shift_eV_per_valence,
                           "l3_fwhm_eV": ref.l3_fwhm_eV, "l2_fwhm_eV": ref.l2_fwhm_eV,
                           "pseudo_voigt_lorentz_fraction": ref.lorentz_fraction}
    acq = exp.acquisition
    return {
        "composition_per_formula_unit": {"bulk": model.bulk_composition,
                                         "surface_layer": model.surface_composition},
        "valence_nominal": {"bulk": model.bulk_valence, "surface_layer": model.surface_valence},
        "edges": edges,
        "white_line_model": {"l3_l2_ratio": "A_L3 / A_L2 of the white lines, continuum excluded",
                             "area_per_atom": "fraction_per_hole * d_holes * C50",
                             "fraction_per_hole": WHITE_LINE_AREA_PER_HOLE,
                             "C50": f"continuum integral over {CONTINUUM_WINDOW_EV} eV above onset"},
        "o_k_model": {"pre_peak_eV_fwhm_eV_fraction_of_C50": list(OXYGEN_K.pre_peak),
                      "main_peak_eV_fwhm_eV_fraction_of_C50": list(OXYGEN_K.main_peak),
                      "third_peak_eV_fwhm_eV_fraction_of_C50": list(OXYGEN_K.third_peak),
                      "pre_peak_area_per_atom": "pre_peak_fraction * strength * C50"},
        "low_loss_model": {"zlp_fwhm_eV": 0.8, "zlp_asymmetry_high_over_low": 1.15,
                           "plasmon_bulk_eV": model.plasmon_bulk_eV,
                           "plasmon_surface_eV": model.plasmon_surface_eV,
                           "plasmon_fwhm_eV": 6.0, "band_gap_eV": 2.0,
                           "interband_eV_fwhm_eV_fraction": [list(p) for p in TM_OXIDE_INTERBAND]},
        "background_model": {"counts_per_channel": "A * (E_eV - zlp_shift_eV) ** -r",
                             "hyperspy_powerlaw_A": "A / dispersion (binned signal)",
                             "reference_energy_eV": 520.0, "sigma_per_atom_barn_per_eV": 1.5,
                             "thickness_factor": "1 + 1.2 t/lambda", "r": "3.3 - 0.4 t/lambda"},
        "electrons_per_pixel": {"low_loss": acq.electrons_per_pixel(acq.low_loss_dwell_s),
                                "core_loss": acq.electrons_per_pixel(acq.core_loss_dwell_s)},
        "mean_free_path_nm": exp.mean_free_path_nm,
        "mean_free_path_model": f"Iakoubovskii 2008 Eq. 9, rho = {DENSITY_G_CM3} g/cm3",
        "geometry": {"surface_x_nm": model.surface_x_nm, "particle_radius_nm": model.radius_nm,
                     "surface_layer_nm": model.layer_nm,
                     "layer_tanh_width_nm": model.layer_width_nm,
                     "probe_fwhm_nm": model.probe_fwhm_nm},
    }


def layered_oxide_truth(exp, *, pixel_size_nm, noise) -> dict:
    """JSON-serialisable truth of a :class:`~.layered_oxide_si.DualEELSExpectation`."""
    m = exp.maps
    d = m["distance_nm"]
    surface = (d > SURFACE_WINDOW_NM[0]) & (d < SURFACE_WINDOW_NM[1])
    bulk = d > BULK_MIN_DISTANCE_NM
    truth = {
        "nav_shape": list(d.shape), "pixel_size_nm": pixel_size_nm, "noise": bool(noise),
        "region_names": list(REGION_NAMES),
        "energy_frame": "peak energies are in the specimen frame; recorded = value + zlp_shift_eV",
        "maps": _maps(exp),
        "summary": {"bulk": _region_summary(m, bulk) if bulk.any() else {},
                    "surface_layer": _region_summary(m, surface) if surface.any() else {},
                    "bulk_definition": f"distance_from_surface_nm > {BULK_MIN_DISTANCE_NM}",
                    "surface_layer_definition":
                        f"{SURFACE_WINDOW_NM[0]} < distance_from_surface_nm < {SURFACE_WINDOW_NM[1]}"},
        **_models(exp),
    }
    return _listify(truth)
