"""Synthetic dual-EELS spectrum image of a Li-rich layered-oxide cathode particle, with truth.

What is simulated
-----------------
A 48 × 64 scan (0.25 nm steps) across the edge-on surface of a cycled
xLi2MnO3·(1−x)LiMO2 particle (M = Mn, Ni, Co): vacuum, a 2 nm TM-rich, Li-poor,
O-deficient spinel/rock-salt-like surface layer with reduced Mn and Co, and the layered
bulk Li1.2Mn0.54Ni0.13Co0.13O2 (chemistry and geometry: :mod:`.eels_layered_oxide_maps`).
At every pixel a low-loss and a core-loss spectrum are recorded with the same
spectrometer setting (:mod:`.eels_acquisition`: 300 kV, α 20 mrad, β 30 mrad,
0.5 eV/channel, 0.2 nA, 0.1 ms and 20 ms dwell).

Low loss (:mod:`.eels_low_loss`): ZLP (0.8 eV FWHM) at the pixel's drift δ convolved
with the Poisson plural-scattering distribution of a Drude-plasmon SSD (24 eV bulk,
23 eV surface layer, 6 eV wide, weak interband transitions, 2 eV gap) for the pixel's
t/λ; λ from Iakoubovskii et al. (2008) for ρ = 4.24 g/cm³ (≈ 159 nm here). Vacuum
pixels contain the ZLP only.

Core loss (:mod:`.eels_spectra`): per-atom continuum cross-sections supplied by the
caller (O K, Mn/Co/Ni L2,3; the app evaluates exspy's hydrogenic GOS, whose "X_L3"
component covers the whole L shell, with an L1 step at 769 eV for Mn) times the areal
densities, TM continua shifted by the valence-dependent chemical shift; L3/L2 white
lines with valence-dependent area ratio, position and d-hole-proportional area; O K pre-peak (scaled by the pre-peak
strength), main and multiple-scattering peaks (:mod:`.eels_edge_references`).
Counts = electrons per pixel × N (atoms/nm²) × 1e-10 nm²/barn × σ (barn/eV) × 0.5 eV,
convolved with the pixel's normalised low-loss spectrum (plural scattering and the
same drift δ), plus a power-law background ``A (E − δ)^(−r)`` (counts per channel;
``B(520 eV) = D·1e-10·d·N_atoms·1.5 barn/eV·(1 + 1.2 t/λ)``, ``r = 3.3 − 0.4 t/λ``),
then Poisson noise (an ideal electron-counting detector, float32 counts).

Usage (the app layer supplies the cross-sections)::

    acq = DualEELSAcquisition()
    sigma = hydrogenic_cross_sections(LAYERED_OXIDE_EDGES, acq.core_loss_axis().values(),
                                      **acq.microscope_parameters())
    specimen = layered_oxide_dual_eels(sigma, seed=0, acquisition=acq)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from .eels_acquisition import DualEELSAcquisition
from .eels_edge_references import OXYGEN_K, WHITE_LINE_AREA_PER_HOLE, WHITE_LINE_REFERENCES
from .eels_layered_oxide_maps import (DENSITY_G_CM3, ParticleModel, TRANSITION_METALS,
                                      layered_oxide_maps)
from .eels_layered_oxide_truth import layered_oxide_truth
from .eels_low_loss import (inelastic_mean_free_path, low_loss_single_scattering,
                            low_loss_spectrum)
from .eels_spectra import (continuum_integral, convolve_with_low_loss, o_k_fine_structure,
                           power_law_background, shift_spectra, white_lines)
from .specimen import Specimen, SyntheticSignal

#: Edges the caller must supply cross-sections for (exspy spelling).
LAYERED_OXIDE_EDGES = ("O_K", "Mn_L3", "Co_L3", "Ni_L3")
_EDGE_ELEMENT = {"O_K": "O", "Mn_L3": "Mn", "Co_L3": "Co", "Ni_L3": "Ni"}
BARN_NM2 = 1e-10
BACKGROUND_REFERENCE_EV = 520.0
BACKGROUND_SIGMA_BARN_PER_EV = 1.5

#: Plain-language forward model recorded in ``Specimen.physics``.
PHYSICS = (
    "Edge-on surface of a cycled Li-rich layered oxide particle: vacuum | 2 nm TM-rich, "
    "Li-poor, O-deficient spinel/rock-salt-like layer Li0.2Mn0.70Ni0.22Co0.16O1.49 "
    "(Mn2.8+, Co2.33+, Ni2+) | layered bulk Li1.2Mn0.54Ni0.13Co0.13O2 (Mn4+, Co3+, Ni2+), "
    "tanh transitions (0.4 nm), 0.5 nm FWHM probe blur at the vacuum edge, t/lambda 0.3 at "
    "the surface rising to ~1.0 (lambda from Iakoubovskii 2008). Dual EELS, 300 kV, "
    "alpha 20 mrad, beta 30 mrad, 0.5 eV/channel, 0.2 nA, dwell 0.1 ms low-loss / 20 ms "
    "core-loss. Low-loss: split-Gaussian ZLP (0.8 eV FWHM) at the pixel drift convolved with "
    "Poisson plural scattering exp(t/lambda (S^ - 1)) of a Drude plasmon SSD (24/23 eV, 6 eV "
    "wide, interband features, 2 eV gap). Core-loss: electrons x areal density x 1e-10 "
    "nm2/barn x [per-atom continuum cross-section (caller's, e.g. exspy hydrogenic) shifted "
    "by the TM chemical shift (+1 eV per valence unit) + L3/L2 white lines (pseudo-Voigt, "
    "area 0.10 x d-holes x 50 eV continuum integral, valence-dependent L3/L2) + O K pre-peak "
    "(530 eV, scaled by the pre-peak strength 1 -> 0.35 at the surface), main (541.5 eV) and "
    "563 eV peaks] x dispersion, convolved with the pixel's normalised low-loss (plural "
    "scattering and the same drift), plus a power-law background A (E - drift)^-r, Poisson "
    "noise (ideal counting detector)."
)


@dataclass(frozen=True)
class DualEELSExpectation:
    """Noise-free spectra (counts, float64, shape ``nav_shape + (n_channels,)``) and maps.

    ``core_loss_single_scattering`` is in the specimen's energy frame (no drift, no plural
    scattering, no background); ``low_loss`` and ``core_loss`` are what the detector
    would record on average; ``background`` is the additive part of ``core_loss``.
    """

    low_loss: np.ndarray
    core_loss: np.ndarray
    core_loss_single_scattering: np.ndarray
    background: np.ndarray
    maps: dict
    acquisition: DualEELSAcquisition
    mean_free_path_nm: float
    continuum_integrals: dict


def _validated_cross_sections(cross_sections: Mapping, n_channels: int) -> dict:
    missing = [e for e in LAYERED_OXIDE_EDGES if e not in cross_sections]
    if missing:
        raise ValueError(f"cross_sections lacks {missing}; needs {list(LAYERED_OXIDE_EDGES)}")
    out = {}
    for edge in LAYERED_OXIDE_EDGES:
        sigma = np.asarray(cross_sections[edge], dtype=np.float64)
        if sigma.shape != (n_channels,):
            raise ValueError(f"cross_sections[{edge!r}] has shape {sigma.shape}, "
                             f"expected ({n_channels},) on the core-loss axis")
        if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
            raise ValueError(f"cross_sections[{edge!r}] must be finite and >= 0 (barn/eV)")
        out[_EDGE_ELEMENT[edge]] = sigma
    return out


def _rngs(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2)]


def _low_loss(maps, acq):
    """Normalised low-loss spectra (fraction of incident electrons per channel)."""
    energy = acq.low_loss_axis().values()
    loss = acq.dispersion_eV * np.arange(acq.n_channels)
    model = ParticleModel()
    ssd_bulk = low_loss_single_scattering(loss, plasmon_eV=model.plasmon_bulk_eV)
    ssd_surf = low_loss_single_scattering(loss, plasmon_eV=model.plasmon_surface_eV)
    s = maps["layer_fraction"][..., None]
    return low_loss_spectrum(energy, np.stack([ssd_bulk, ssd_surf]),
                             weights=np.concatenate([1.0 - s, s], axis=-1),
                             t_over_lambda=maps["t_over_lambda"],
                             zlp_centre_eV=maps["zlp_shift_eV"])


def _white_line_maps(maps, c50):
    """L3/L2, chemical shift, d holes and white-line area per atom (0 in vacuum)."""
    inside = maps["particle_fraction"] > 0
    out = {"l3_l2_ratio": {}, "chemical_shift_eV": {}, "l3_peak_eV": {}, "d_holes": {},
           "white_line_area_per_atom_barn_eV": {}}
    for el in TRANSITION_METALS:
        ref, v = WHITE_LINE_REFERENCES[el], maps["valence"][el]
        holes = ref.d_holes(v)
        values = {"l3_l2_ratio": ref.l3_l2_ratio(v), "chemical_shift_eV": ref.chemical_shift(v),
                  "l3_peak_eV": ref.l3_peak_eV(v), "d_holes": holes,
                  "white_line_area_per_atom_barn_eV": WHITE_LINE_AREA_PER_HOLE * holes * c50[el]}
        for key, value in values.items():
            out[key][el] = np.where(inside, value, 0.0)
    return out


def _single_scattering(maps, wl, sigma, c50, acq):
    """Single-scattering core-loss counts in the specimen frame, shape (npix_inside, n)."""
    energy = acq.core_loss_axis().values()
    inside = maps["particle_fraction"] > 0
    dose = acq.electrons_per_pixel(acq.core_loss_dwell_s)
    n_o = maps["areal_density"]["O"][inside][:, None]
    strength = maps["pre_peak_strength"][inside]
    spec = n_o * (sigma["O"] * acq.dispersion_eV
                  + o_k_fine_structure(energy, continuum_area=c50["O"], pre_peak_strength=strength))
    for el in TRANSITION_METALS:
        ref = WHITE_LINE_REFERENCES[el]
        shift = wl["chemical_shift_eV"][el][inside]
        continuum = shift_spectra(sigma[el], shift / acq.dispersion_eV) * acq.dispersion_eV
        l3 = wl["l3_peak_eV"][el][inside]
        lines = white_lines(energy, l3_eV=l3, l2_eV=l3 + ref.spin_orbit_eV,
                            area=wl["white_line_area_per_atom_barn_eV"][el][inside],
                            l3_l2_ratio=wl["l3_l2_ratio"][el][inside],
                            l3_fwhm_eV=ref.l3_fwhm_eV, l2_fwhm_eV=ref.l2_fwhm_eV,
                            lorentz_fraction=ref.lorentz_fraction)
        spec += maps["areal_density"][el][inside][:, None] * (continuum + lines)
    return dose * BARN_NM2 * spec


def _background(maps, acq):
    """Power-law parameters A (counts/channel at 1 eV) and r, and the background counts."""
    dose = acq.electrons_per_pixel(acq.core_loss_dwell_s)
    tau = maps["t_over_lambda"]
    n_atoms = sum(maps["areal_density"].values())
    at_ref = (dose * BARN_NM2 * acq.dispersion_eV * n_atoms * BACKGROUND_SIGMA_BARN_PER_EV
              * (1.0 + 1.2 * tau))
    r = 3.3 - 0.4 * tau
    a = at_ref * BACKGROUND_REFERENCE_EV ** r
    counts = power_law_background(acq.core_loss_axis().values(), amplitude=a, exponent=r,
                                  shift_eV=maps["zlp_shift_eV"])
    return a, r, counts


def layered_oxide_expected_spectra(cross_sections: Mapping[str, np.ndarray], *, seed=0,
                                   nav_shape=(48, 64), pixel_size_nm=0.25,
                                   acquisition: DualEELSAcquisition | None = None
                                   ) -> DualEELSExpectation:
    """Noise-free dual-EELS spectrum image and truth maps (see the module docstring).

    Parameters
    ----------
    cross_sections : mapping of str to ndarray of shape (n_channels,)
        Per-atom continuum partial cross-sections (barn/eV) on the core-loss axis
        ``acquisition.core_loss_axis()``, for every edge in :data:`LAYERED_OXIDE_EDGES`;
        other keys are ignored.
    seed : int, optional
        Seeds the drift jitter (and, in :func:`layered_oxide_dual_eels`, the noise).
    nav_shape : tuple of int, optional
        ``(ny, nx)`` scan size.
    pixel_size_nm : float, optional
        Scan step (nm).
    acquisition : DualEELSAcquisition, optional
        Microscope and spectrometer settings (default: :class:`DualEELSAcquisition()`).

    Returns
    -------
    DualEELSExpectation
    """
    acq = acquisition or DualEELSAcquisition()
    sigma = _validated_cross_sections(cross_sections, acq.n_channels)
    structure_rng, _ = _rngs(seed)
    lam = inelastic_mean_free_path(DENSITY_G_CM3, **acq.microscope_parameters())
    maps = layered_oxide_maps(nav_shape, pixel_size_nm=pixel_size_nm, mean_free_path_nm=lam,
                              rng=structure_rng)
    energy = acq.core_loss_axis().values()
    c50 = {el: float(continuum_integral(sigma[el], energy, onset_eV=ref.onset_eV))
           for el, ref in [("O", OXYGEN_K), *WHITE_LINE_REFERENCES.items()]}
    wl = _white_line_maps(maps, c50)
    maps.update(wl)
    low = _low_loss(maps, acq)
    inside = maps["particle_fraction"] > 0
    ssd = np.zeros(maps["t_over_lambda"].shape + (acq.n_channels,))
    ssd[inside] = _single_scattering(maps, wl, sigma, c50, acq)
    core = np.zeros_like(ssd)
    core[inside] = convolve_with_low_loss(ssd[inside], low[inside],
                                          zero_loss_index=acq.zero_loss_index)
    a, r, background = _background(maps, acq)
    maps.update(background_A=a, background_r=r)
    return DualEELSExpectation(
        low_loss=low * acq.electrons_per_pixel(acq.low_loss_dwell_s),
        core_loss=core + background, core_loss_single_scattering=ssd, background=background,
        maps=maps, acquisition=acq, mean_free_path_nm=float(lam), continuum_integrals=c50)


def _signal(name, title, data, acq, kind, pixel_size_nm):
    ny, nx = data.shape[:2]
    axes = (AxisCalibration("y", "nm", pixel_size_nm, 0.0, ny, navigate=True),
            AxisCalibration("x", "nm", pixel_size_nm, 0.0, nx, navigate=True),
            acq.low_loss_axis() if kind == "low_loss" else acq.core_loss_axis())
    return SyntheticSignal(name=name, title=title, data=data, axes=axes, signal_type="EELS",
                           quantity="Intensity (counts)",
                           acquisition=acq.metadata(kind, pixel_size_nm=pixel_size_nm))


def layered_oxide_dual_eels(cross_sections: Mapping[str, np.ndarray], *, seed=0,
                            nav_shape=(48, 64), pixel_size_nm=0.25,
                            acquisition: DualEELSAcquisition | None = None,
                            noise=True) -> Specimen:
    """Dual-EELS spectrum image of a Li-rich layered-oxide particle surface, with truth.

    Parameters
    ----------
    cross_sections : mapping of str to ndarray of shape (n_channels,)
        Per-atom continuum cross-sections (barn/eV) on the core-loss axis for
        :data:`LAYERED_OXIDE_EDGES` (compute them on ``acquisition.core_loss_axis()``
        with ``acquisition.microscope_parameters()``).
    seed : int, optional
        Makes the drift jitter and the Poisson noise reproducible.
    nav_shape : tuple of int, optional
        ``(ny, nx)``; the particle geometry is fixed in nm (surface at x = 3 nm).
    pixel_size_nm : float, optional
        Scan step (nm).
    acquisition : DualEELSAcquisition, optional
        Microscope and spectrometer settings.
    noise : bool, optional
        If False, return the noise-free expectation (still float32).

    Returns
    -------
    Specimen
        Signals ``(low_loss, core_loss)``, float32 arrays ``(ny, nx, n_channels)``; the
        JSON-serialisable ``truth`` is described in :func:`.layered_oxide_truth`.
    """
    exp = layered_oxide_expected_spectra(cross_sections, seed=seed, nav_shape=nav_shape,
                                         pixel_size_nm=pixel_size_nm, acquisition=acquisition)
    _, noise_rng = _rngs(seed)
    low, core = exp.low_loss, exp.core_loss
    if noise:
        low, core = noise_rng.poisson(low), noise_rng.poisson(core)
    acq = exp.acquisition
    signals = (
        _signal("layered_oxide_low_loss", "Li-rich layered oxide surface, dual EELS low-loss",
                low.astype(np.float32), acq, "low_loss", pixel_size_nm),
        _signal("layered_oxide_core_loss", "Li-rich layered oxide surface, dual EELS core-loss",
                core.astype(np.float32), acq, "core_loss", pixel_size_nm),
    )
    truth = layered_oxide_truth(exp, pixel_size_nm=pixel_size_nm, noise=noise)
    return Specimen(name="layered_oxide_dual_eels",
                    title="Li-rich layered oxide particle surface (dual EELS SI)",
                    signals=signals, truth=truth, physics=PHYSICS,
                    seed=int(seed))
