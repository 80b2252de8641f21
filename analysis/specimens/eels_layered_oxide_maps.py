"""Maps of the synthetic Li-rich layered-oxide particle: geometry, chemistry, thickness, drift.

Specimen
--------
A cycled xLi2MnO3·(1−x)LiMO2 cathode particle (x ≈ 0.5, M = Mn, Ni, Co) recovered in the
discharged state, seen with its surface edge-on.

* Geometry: the particle is a disc of radius 40 nm whose edge crosses the field of view
  at x = 3 nm (so the surface is slightly curved); ``distance_nm`` is the exact signed
  distance to that circle (negative in vacuum).
* Bulk (layered, R-3m/C2/m): Li1.2Mn0.54Ni0.13Co0.13O2 with Mn⁴⁺, Ni²⁺, Co³⁺ (charge
  balanced). Per-volume densities use 0.0334 nm³ per two anion sites (a = 2.85 Å,
  c = 14.24 Å, three formula units per hexagonal cell): 59.9 O/nm³; mass density
  4.24 g/cm³.
* Surface layer, 2 nm: TM-rich, Li-poor, O-deficient spinel/rock-salt-like phase formed
  by TM migration into the Li layers, Li0.2Mn0.70Ni0.22Co0.16O1.49 per the same two
  anion sites (TM/O 0.73, ~25 % anion vacancies) with Mn²·⁸⁺, Ni²⁺, Co²·³³⁺ (charge
  balanced). Ni stays Ni²⁺: its L3/L2 map is a null test.
* Transition: every composition, valence, O K pre-peak strength (1 → 0.35) and plasmon
  energy (24 → 23 eV, assumed) follows the layer fraction
  ``s = ½[1 − tanh((d − 2 nm)/0.4 nm)]``; the 0.4 nm width includes the probe and
  beam-broadening blur of the buried interface.
* Vacuum edge: the particle fraction is the error function of a Gaussian probe of
  0.5 nm FWHM (probe plus beam broadening in a ~100 nm thick specimen), cut to exactly
  0 below −4σ (vacuum pixels: ZLP only) and exactly 1 above +4σ.
* Thickness: t/λ = 0.3 at the surface rising as ``0.3 + 0.75 tanh(d / 6 nm)`` to ≈ 1.0
  inside, modulated ±3 % along y, times the particle fraction; t = (t/λ)·λ.
* Energy drift: the ZLP centre follows the raster time u ∈ [0, 1):
  ``δ = 1.5 eV (u − ½) + 0.2 eV sin(2π 1.3 u)`` plus Gaussian jitter of 0.03 eV rms
  per pixel (≈ 1.9 eV peak to peak), the same for the low- and core-loss of a pixel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

ELEMENTS = ("Li", "O", "Mn", "Co", "Ni")
TRANSITION_METALS = ("Mn", "Co", "Ni")
FORMULA_UNIT_VOLUME_NM3 = 0.0334
DENSITY_G_CM3 = 4.24
REGION_NAMES = ("vacuum", "surface_layer", "bulk")


@dataclass(frozen=True)
class ParticleModel:
    """Parameters of the layered-oxide particle (lengths in nm, energies in eV)."""

    bulk_composition: dict = field(default_factory=lambda: {
        "Li": 1.2, "Mn": 0.54, "Ni": 0.13, "Co": 0.13, "O": 2.0})
    surface_composition: dict = field(default_factory=lambda: {
        "Li": 0.2, "Mn": 0.70, "Ni": 0.22, "Co": 0.16, "O": 1.49})
    bulk_valence: dict = field(default_factory=lambda: {"Mn": 4.0, "Ni": 2.0, "Co": 3.0})
    surface_valence: dict = field(default_factory=lambda: {"Mn": 2.8, "Ni": 2.0, "Co": 2.33})
    surface_x_nm: float = 3.0
    radius_nm: float = 40.0
    layer_nm: float = 2.0
    layer_width_nm: float = 0.4
    probe_fwhm_nm: float = 0.5
    t_over_lambda_surface: float = 0.3
    t_over_lambda_rise: float = 0.75
    thickness_length_nm: float = 6.0
    pre_peak_strength_surface: float = 0.35
    plasmon_bulk_eV: float = 24.0
    plasmon_surface_eV: float = 23.0
    drift_ramp_eV: float = 1.5
    drift_wobble_eV: float = 0.2
    drift_jitter_eV: float = 0.03


def _distance_and_fractions(y, x, model):
    cx, cy = model.surface_x_nm + model.radius_nm, y.mean()
    d = model.radius_nm - np.hypot(x - cx, y - cy)
    sigma = model.probe_fwhm_nm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    f = 0.5 * (1.0 + erf(d / (np.sqrt(2.0) * sigma)))
    f = np.where(d < -4 * sigma, 0.0, np.where(d > 4 * sigma, 1.0, f))
    s = 0.5 * (1.0 - np.tanh((d - model.layer_nm) / model.layer_width_nm))
    return d, f, s


def _mix(bulk, surface, s):
    return bulk + (surface - bulk) * s


def _zlp_drift(shape, model, rng):
    u = np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape) / (shape[0] * shape[1])
    smooth = model.drift_ramp_eV * (u - 0.5) + model.drift_wobble_eV * np.sin(2 * np.pi * 1.3 * u)
    return smooth + model.drift_jitter_eV * rng.standard_normal(shape)


def layered_oxide_maps(nav_shape, *, pixel_size_nm, mean_free_path_nm, rng,
                       model: ParticleModel | None = None) -> dict:
    """Per-pixel truth maps of the particle.

    Parameters
    ----------
    nav_shape : tuple of int
        ``(ny, nx)`` scan size, each >= 2.
    pixel_size_nm : float
        Scan step (nm).
    mean_free_path_nm : float
        Inelastic mean free path λ used to convert t/λ to nm.
    rng : numpy.random.Generator
        Source of the drift jitter.
    model : ParticleModel, optional
        Particle parameters (default: the documented ones).

    Returns
    -------
    dict
        Float64 arrays of shape ``nav_shape`` (``region`` is int8): ``distance_nm``,
        ``particle_fraction``, ``layer_fraction``, ``region``, ``t_over_lambda``,
        ``thickness_nm``, ``zlp_shift_eV``, ``pre_peak_strength``, ``plasmon_eV``, and
        dicts ``areal_density`` (atoms/nm², per element) and ``valence`` (per TM).
        Valence and pre-peak strength are 0 in vacuum.
    """
    model = model or ParticleModel()
    if len(nav_shape) != 2 or min(nav_shape) < 2:
        raise ValueError(f"nav_shape must be (ny, nx) with both >= 2, got {nav_shape}")
    if not pixel_size_nm > 0 or not mean_free_path_nm > 0:
        raise ValueError("pixel_size_nm and mean_free_path_nm must be > 0")
    ny, nx = (int(n) for n in nav_shape)
    y, x = np.meshgrid((np.arange(ny) + 0.5) * pixel_size_nm,
                       (np.arange(nx) + 0.5) * pixel_size_nm, indexing="ij")
    d, f, s = _distance_and_fractions(y, x, model)
    ripple = 1.0 + 0.03 * np.sin(2 * np.pi * y / (ny * pixel_size_nm))
    tau_particle = (model.t_over_lambda_surface + model.t_over_lambda_rise
                    * np.tanh(np.clip(d, 0.0, None) / model.thickness_length_nm)) * ripple
    inside = f > 0
    t_nm = tau_particle * mean_free_path_nm
    areal = {el: f * t_nm * _mix(model.bulk_composition[el], model.surface_composition[el], s)
             / FORMULA_UNIT_VOLUME_NM3 for el in ELEMENTS}
    valence = {el: np.where(inside, _mix(model.bulk_valence[el], model.surface_valence[el], s), 0.0)
               for el in TRANSITION_METALS}
    region = np.where(~inside, 0, np.where(d < model.layer_nm, 1, 2)).astype(np.int8)
    return {
        "distance_nm": d, "particle_fraction": f, "layer_fraction": s, "region": region,
        "t_over_lambda": f * tau_particle, "thickness_nm": f * t_nm,
        "zlp_shift_eV": _zlp_drift((ny, nx), model, rng),
        "pre_peak_strength": np.where(inside, _mix(1.0, model.pre_peak_strength_surface, s), 0.0),
        "plasmon_eV": _mix(model.plasmon_bulk_eV, model.plasmon_surface_eV, s),
        "areal_density": areal, "valence": valence,
    }
