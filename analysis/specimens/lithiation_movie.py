"""Synthetic in-situ BF-TEM movie of a lithiation front running along a SnO2 nanowire.

Open-cell biasing experiment in the style of Huang et al., Science 330, 1515 (2010):
a crystalline SnO2 nanowire lies across the field on a thin amorphous-carbon film and
touches, at its left end, a Li counter electrode covered by its native Li2O solid
electrolyte.  A constant bias (-3.5 V, wire vs Li) drives Li+ through the Li2O into
the wire; a reaction front runs along the wire, behind which the wire is an
amorphous LixSn/Li2O nanocomposite.

Forward model (all numbers are the defaults)
--------------------------------------------
Geometry.  Pristine diameter d0 = 80 nm; behind the front the diameter is
d1 = 1.45 d0 = 116 nm (Huang et al.: ~+45 % diameter).  The ~60 % axial elongation
they report is ignored: the projected wire stays straight and the lithiated section
swells radially only, so its density follows from mass conservation per unit length,
rho_l = rho_SnO2 (M_l / M_SnO2) / 1.45^2 = 4.58 g/cm^3 (M_l = 209.0 g/mol for
Li8.4SnO2 = Li4.4Sn + 2 Li2O); the front position along the image axis therefore
equals the length of pristine wire consumed.  The wire axis is tilted 2.5 deg from
x.  The reaction zone is a cone of length w = 30 nm: the lithiated fraction is
f(s) = clip(1/2 - (s - x_f) / w, 0, 1) along the axis s, so the front x_f is where
f = 1/2 and the Li content up to any point behind the zone is that of a sharp front.
The zone profile is averaged over each exposure (motion blur); x_f is the front at
mid-exposure.  Front kinetics and the electrochemistry log: see
:mod:`.lithiation_electrochemistry`.

Contrast.  Bright-field mass-thickness contrast, I = I0 exp(-sum t/lambda_eff), with t
the projected chord through each object (2 sqrt(R^2 - r^2) for the cylinder, R the
local radius).  lambda_eff scales as 1/(rho S), S = sum n_i Z_i^(4/3) / sum n_i A_i
(screened elastic scattering per unit mass), from lambda = 130 nm for crystalline
SnO2 at 300 kV with a ~10 mrad objective aperture: lithiated composite 234 nm,
amorphous carbon (2.0 g/cm^3) 714 nm, Li2O (2.01 g/cm^3) 782 nm.  The carbon film is
12 nm thick with 1.5 nm rms thickness texture (Gaussian correlation 4 nm); the
Li2O-coated contact is a 150 nm radius sphere.  Cosmetics (stated, not physics):
bend contours (diffraction contrast) in the crystalline part only, rendered as four
dark bands, oblique to the axis, that swing by a few nm as the wire flexes, with an
extra optical depth 0.3-0.6 (chord / d0) (1 - f); and the dislocation-rich "Medusa"
reaction zone, an extra 0.25 (chord / d0) 4 f (1 - f).  The image is blurred by a
0.6 px Gaussian detector/coherence PSF.

Acquisition.  300 kV TEM, electron-counting CMOS (1 count per electron, DQE taken as
1): I0 = dose * (pixel size in A)^2 electrons per pixel, with 2 e/A^2 per frame
(450 e per 1.5 nm pixel), frame time 0.5 s, exposure 0.4 s, beam blanked during the
0.1 s readout so the specimen dose equals the recorded dose.  Poisson noise.
Specimen drift: 2.0 nm (y) and 3.5 nm (x) linear over the movie plus a 0.3 nm rms
smooth wander; drift during one exposure (< 0.03 nm) is ignored.  Frame timestamps
are mid-exposure on the camera clock (t = 0 at the start of the first exposure).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage

from ..calibration import AxisCalibration
from .lithiation_electrochemistry import (LI_PER_SNO2, SNO2_DENSITY_G_CM3, BiasCircuit, FrontKinetics,
                                          electrochemistry_log, lithiated_density_g_cm3,
                                          lithiation_charge_per_length, log_truth)
from .specimen import Specimen, SyntheticSignal

#: (Z, A) of the elements used below.
_ELEMENTS = {"Li": (3, 6.94), "C": (6, 12.011), "O": (8, 15.999), "Sn": (50, 118.71)}
_LAMBDA_SNO2_NM = 130.0
_WIRE_ANGLE_DEG = 2.5
_ZONE_WIDTH_NM = 30.0
_EMBED_NM = 100.0
_CONTACT_RADIUS_NM = 150.0
_CARBON = {"thickness_nm": 12.0, "rms_nm": 1.5, "correlation_nm": 4.0, "density_g_cm3": 2.0}
_LI2O_DENSITY_G_CM3 = 2.01
_MEDUSA_DEPTH = 0.25
_PSF_SIGMA_PX = 0.6
_N_BANDS = 4
_EXPOSURE_SUBSTEPS = 9


def effective_mean_free_path_nm(density_g_cm3: float, composition: dict) -> float:
    """Aperture-limited mass-thickness mean free path, scaled from crystalline SnO2.

    Parameters
    ----------
    density_g_cm3 : float
        Density of the material.
    composition : dict
        Atoms per formula unit, e.g. ``{"Sn": 1, "O": 2}`` (elements Li, C, O, Sn).

    Returns
    -------
    float
        lambda_eff in nm: 130 nm x (rho S)_SnO2 / (rho S), S = sum n Z^(4/3) / sum n A.
    """
    if density_g_cm3 <= 0 or not composition or not set(composition) <= set(_ELEMENTS):
        raise ValueError(f"need density > 0 and elements among {sorted(_ELEMENTS)}")

    def power(comp):
        return (sum(n * _ELEMENTS[e][0] ** (4 / 3) for e, n in comp.items())
                / sum(n * _ELEMENTS[e][1] for e, n in comp.items()))

    ref = SNO2_DENSITY_G_CM3 * power({"Sn": 1, "O": 2})
    return float(_LAMBDA_SNO2_NM * ref / (density_g_cm3 * power(composition)))


@dataclass(frozen=True)
class _Scene:
    """Everything static about the movie: geometry, contrast, precomputed grids."""

    shape: tuple
    px: float
    start_px: np.ndarray      # (y, x) contact point on the axis, frame-0 image coordinates
    u: np.ndarray             # unit vector along the wire (y, x)
    n: np.ndarray             # unit normal (y, x)
    center_px: np.ndarray     # contact sphere centre (y, x)
    rows: slice               # rows the wire can touch
    radii_nm: tuple           # (pristine, lithiated) radius
    lambdas_nm: dict
    s_grid: np.ndarray        # nm, where the zone profile is tabulated
    bands: dict               # bend-contour parameters, arrays of length _N_BANDS
    carbon_hat: np.ndarray    # rfft2 of the carbon optical depth on the padded grid
    pad: int
    contact_cols: slice       # columns the contact sphere can touch
    electrons_per_px: float


def _lambdas(swelling: float) -> dict:
    return {"pristine": effective_mean_free_path_nm(SNO2_DENSITY_G_CM3, {"Sn": 1, "O": 2}),
            "lithiated": effective_mean_free_path_nm(lithiated_density_g_cm3(swelling),
                                                     {"Li": LI_PER_SNO2, "Sn": 1, "O": 2}),
            "carbon": effective_mean_free_path_nm(_CARBON["density_g_cm3"], {"C": 1}),
            "li2o": effective_mean_free_path_nm(_LI2O_DENSITY_G_CM3, {"Li": 2, "O": 1})}


def _padded_shape(shape, pad):
    """FFT-friendly grid at least ``pad`` px larger than ``shape`` on every side (even width)."""
    width = fft.next_fast_len(shape[1] + 2 * pad, real=True)
    while width % 2:
        width = fft.next_fast_len(width + 1, real=True)
    return fft.next_fast_len(shape[0] + 2 * pad, real=True), width


def _carbon_spectrum(rng, shape, pad, px, lam_c):
    """rfft2 of the carbon-film optical depth on a grid padded by at least ``pad`` px."""
    full = _padded_shape(shape, pad)
    sigma_px = _CARBON["correlation_nm"] / px
    field = ndimage.gaussian_filter(rng.standard_normal(full), sigma_px, mode="wrap")
    field *= _CARBON["rms_nm"] / field.std()
    return fft.rfft2((_CARBON["thickness_nm"] + field) / lam_c)


def _bend_contours(rng, field_length_nm):
    k = _N_BANDS
    return {"s0_nm": np.sort(rng.uniform(0.2, 0.95, k)) * field_length_nm,  # along the axis
            "width_nm": rng.uniform(6.0, 12.0, k), "depth": rng.uniform(0.3, 0.6, k),
            "obliquity": rng.uniform(-0.6, 0.6, k), "swing_nm": rng.uniform(3.0, 8.0, k),
            "period_s": rng.uniform(20.0, 60.0, k), "phase_rad": rng.uniform(0, 2 * np.pi, k)}


def _build_scene(rng, shape, px, d0, swelling, dose, max_drift_px):
    (h, w), theta = shape, np.deg2rad(_WIRE_ANGLE_DEG)
    u = np.array([np.sin(theta), np.cos(theta)])
    n = np.array([np.cos(theta), -np.sin(theta)])
    start = np.array([h / 2 - 0.45 * w * u[0], 0.1 * w])
    center = start - _CONTACT_RADIUS_NM / px * u
    r1_px = d0 * (1 + swelling) / 2 / px
    y = np.arange(h)[:, None] - start[0]
    r_abs = np.abs(y * n[0] + (np.arange(w)[None, :] - start[1]) * n[1])
    touched = np.flatnonzero((r_abs < r1_px + max_drift_px + 4).any(axis=1))
    rows = slice(int(touched.min()), int(touched.max()) + 1) if touched.size else slice(0, 0)
    length_nm, lambdas, pad = float(np.hypot(h, w) * px), _lambdas(swelling), int(np.ceil(max_drift_px)) + 8
    right = int(np.ceil(center[1] + _CONTACT_RADIUS_NM / px + max_drift_px + 2))
    return _Scene(shape=shape, px=px, start_px=start, u=u, n=n, center_px=center, rows=rows,
                  radii_nm=(d0 / 2, d0 * (1 + swelling) / 2), lambdas_nm=lambdas,
                  s_grid=np.arange(-_EMBED_NM - 10.0, length_nm + 10.0, 0.25),
                  bands=_bend_contours(rng, (1 - 0.1) * w * px),
                  carbon_hat=_carbon_spectrum(rng, shape, pad, px, lambdas["carbon"]),
                  pad=pad, contact_cols=slice(0, int(np.clip(right, 0, w))),
                  electrons_per_px=dose * (10.0 * px) ** 2)


def _drift_px(rng, times, total_nm, wander_nm, px):
    """Specimen drift (n, 2) in px, zero at the first frame."""
    n = times.size
    span = times[-1] - times[0] if n > 1 else 1.0
    linear = np.outer((times - times[0]) / span, np.asarray(total_nm, dtype=np.float64))
    walk = ndimage.gaussian_filter1d(np.cumsum(rng.standard_normal((n, 2)), axis=0), 5.0, axis=0)
    walk -= walk.mean(axis=0)
    rms = float(np.sqrt((walk ** 2).mean()))
    walk *= wander_nm / rms if n > 1 and rms > 0 else 0.0
    return (linear + walk - walk[0]) / px


def _zone_profile(scene, kinetics, t_mid, exposure):
    """Lithiated fraction f(s) on ``scene.s_grid``, averaged over the exposure."""
    sub = t_mid + exposure * ((np.arange(_EXPOSURE_SUBSTEPS) + 0.5) / _EXPOSURE_SUBSTEPS - 0.5)
    f = np.clip(0.5 - (scene.s_grid[None, :] - kinetics.position(sub)[:, None]) / _ZONE_WIDTH_NM, 0.0, 1.0)
    return f.mean(axis=0)


def _wire_depth(scene, drift, profile, band_pos):
    """Optical depth of the wire (rows ``scene.rows``) for one frame."""
    w = scene.shape[1]
    y = (np.arange(scene.rows.start, scene.rows.stop) - drift[0] - scene.start_px[0])[:, None]
    x = (np.arange(w) - drift[1] - scene.start_px[1])[None, :]
    s = ((y * scene.u[0] + x * scene.u[1]) * scene.px).astype(np.float32)
    r = ((y * scene.n[0] + x * scene.n[1]) * scene.px).astype(np.float32)
    f = np.interp(s, scene.s_grid, profile).astype(np.float32)
    r0, r1 = scene.radii_nm
    chord = 2.0 * np.sqrt(np.clip((r0 + f * (r1 - r0)) ** 2 - r * r, 0.0, None))
    chord[s < -_EMBED_NM] = 0.0
    lam, b, bands = scene.lambdas_nm, scene.bands, np.zeros_like(s)
    for j in range(_N_BANDS):
        arg = (s + float(b["obliquity"][j]) * r - float(band_pos[j])) / float(b["width_nm"][j])
        bands += float(b["depth"][j]) * np.exp(-arg * arg)
    cosmetic = (1.0 - f) * bands + _MEDUSA_DEPTH * 4.0 * f * (1.0 - f)
    return chord * ((1.0 - f) / lam["pristine"] + f / lam["lithiated"] + cosmetic / (2.0 * r0))


def _static_depth(scene, drift):
    """Optical depth of the carbon film (Fourier-shifted) and the Li2O contact."""
    h, w = scene.shape
    full = _padded_shape(scene.shape, scene.pad)
    ramp_y = np.exp(-2j * np.pi * fft.fftfreq(full[0]) * drift[0])
    ramp_x = np.exp(-2j * np.pi * fft.rfftfreq(full[1]) * drift[1])
    p, shifted = scene.pad, scene.carbon_hat * ramp_y[:, None] * ramp_x[None, :]
    depth = fft.irfft2(shifted, s=full)[p:p + h, p:p + w].astype(np.float32)
    cols = scene.contact_cols
    dy = (np.arange(h) - drift[0] - scene.center_px[0])[:, None] * scene.px
    dx = (np.arange(cols.start, cols.stop) - drift[1] - scene.center_px[1])[None, :] * scene.px
    chord = 2.0 * np.sqrt(np.clip(_CONTACT_RADIUS_NM ** 2 - dy * dy - dx * dx, 0.0, None))
    depth[:, cols] += chord / scene.lambdas_nm["li2o"]
    return depth


def _render(scene, kinetics, times, drift, exposure, rng):
    """Frames (n, h, w) float32: expected counts, or Poisson counts if ``rng`` is given."""
    frames = np.empty((times.size,) + tuple(scene.shape), dtype=np.float32)
    b = scene.bands
    for i, t in enumerate(times):
        band_pos = b["s0_nm"] + b["swing_nm"] * np.sin(2 * np.pi * t / b["period_s"] + b["phase_rad"])
        depth = _static_depth(scene, drift[i])
        depth[scene.rows] += _wire_depth(scene, drift[i], _zone_profile(scene, kinetics, t, exposure),
                                         band_pos)
        expected = ndimage.gaussian_filter(np.float32(scene.electrons_per_px) * np.exp(-depth),
                                           _PSF_SIGMA_PX, mode="nearest")
        frames[i] = expected if rng is None else rng.poisson(expected)
    return frames


def _validate(n_frames, frame_shape, pixel_size_nm, frame_time_s, exposure_time_s, dose_e_per_A2,
              pristine_diameter_nm, clock_offset_s, log_rate_Hz):
    if int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames}")
    if len(frame_shape) != 2 or min(frame_shape) < 32:
        raise ValueError(f"frame_shape must be (rows, columns), each >= 32, got {frame_shape}")
    positive = {"pixel_size_nm": pixel_size_nm, "frame_time_s": frame_time_s,
                "exposure_time_s": exposure_time_s, "dose_e_per_A2": dose_e_per_A2,
                "pristine_diameter_nm": pristine_diameter_nm, "log_rate_Hz": log_rate_Hz}
    for name, value in positive.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    if exposure_time_s > frame_time_s:
        raise ValueError(f"exposure_time_s ({exposure_time_s}) exceeds frame_time_s ({frame_time_s})")
    if not clock_offset_s >= 0:
        raise ValueError(f"clock_offset_s must be >= 0 (the log starts first), got {clock_offset_s}")


def nanowire_lithiation_movie(*, seed: int = 0, n_frames: int = 120, frame_shape=(256, 384),
                              pixel_size_nm: float = 1.5, frame_time_s: float = 0.5,
                              exposure_time_s: float = 0.4, dose_e_per_A2: float = 2.0,
                              pristine_diameter_nm: float = 80.0, diameter_swelling: float = 0.45,
                              kinetics: FrontKinetics | None = None, circuit: BiasCircuit | None = None,
                              clock_offset_s: float = 3.2, log_rate_Hz: float = 10.0,
                              drift_nm=(2.0, 3.5), drift_wander_nm: float = 0.3,
                              shot_noise: bool = True) -> Specimen:
    """In-situ BF-TEM movie of an open-cell SnO2 nanowire lithiation, with its SMU log.

    Parameters
    ----------
    seed : int
        Seed of every random choice (texture, bend contours, drift, log noise, shot noise).
    n_frames : int
        Number of frames.
    frame_shape : tuple of int
        (rows, columns) of each frame.
    pixel_size_nm : float
        Pixel size in nm.
    frame_time_s, exposure_time_s : float
        Frame period and exposure per frame (beam blanked for the rest), s.
    dose_e_per_A2 : float
        Electron dose per frame, e/A^2.
    pristine_diameter_nm, diameter_swelling : float
        SnO2 wire diameter, and relative diameter increase behind the front.
    kinetics : FrontKinetics, optional
        Front law on the camera clock (default: ``FrontKinetics()``).
    circuit : BiasCircuit, optional
        Bias and SMU model (default: ``BiasCircuit()``, -3.5 V).
    clock_offset_s : float
        How long the electrochemistry log ran before the camera started, s.
    log_rate_Hz : float
        Sampling rate of the electrochemistry log.
    drift_nm : (float, float)
        Linear specimen drift (y, x) over the movie, nm.
    drift_wander_nm : float
        RMS of the smooth random wander added to the drift, nm.
    shot_noise : bool
        If False, frames are the expected (noise-free) counts; the rest is unchanged.

    Returns
    -------
    Specimen
        One ``"image_stack"`` signal (n_frames, rows, columns) float32 counts with axes
        (Time s, y nm, x nm), ``tables["electrochemistry"]`` (time_s, potential_V,
        current_A, charge_C on the log clock) and the ground truth.
    """
    _validate(n_frames, frame_shape, pixel_size_nm, frame_time_s, exposure_time_s, dose_e_per_A2,
              pristine_diameter_nm, clock_offset_s, log_rate_Hz)
    lithiated_density_g_cm3(diameter_swelling)   # validates the swelling
    if np.shape(drift_nm) != (2,) or not np.all(np.isfinite(drift_nm)) or not drift_wander_nm >= 0:
        raise ValueError(f"drift_nm must be (y, x) in nm and drift_wander_nm >= 0, "
                         f"got {drift_nm}, {drift_wander_nm}")
    kinetics = FrontKinetics() if kinetics is None else kinetics
    circuit = BiasCircuit() if circuit is None else circuit
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    shape = (int(frame_shape[0]), int(frame_shape[1]))
    times = np.arange(int(n_frames)) * frame_time_s + exposure_time_s / 2
    drift = _drift_px(rngs[0], times, drift_nm, drift_wander_nm, pixel_size_nm)
    scene = _build_scene(rngs[1], shape, pixel_size_nm, pristine_diameter_nm, diameter_swelling,
                         dose_e_per_A2, float(np.abs(drift).max()))
    frames = _render(scene, kinetics, times, drift, exposure_time_s, rngs[2] if shot_noise else None)
    q_per_nm = lithiation_charge_per_length(pristine_diameter_nm)
    log_duration = clock_offset_s + n_frames * frame_time_s + 1.0
    log = electrochemistry_log(kinetics, circuit, charge_per_nm_C=q_per_nm, clock_offset_s=clock_offset_s,
                               duration_s=log_duration, rate_Hz=log_rate_Hz, rng=rngs[3])
    axes = (AxisCalibration("Time", "s", frame_time_s, exposure_time_s / 2, frames.shape[0], True),
            AxisCalibration("y", "nm", pixel_size_nm, 0.0, shape[0]),
            AxisCalibration("x", "nm", pixel_size_nm, 0.0, shape[1]))
    acquisition = {"beam_energy_keV": 300.0, "exposure_time_s": exposure_time_s,
                   "frame_time_s": frame_time_s, "dose_e_per_A2": dose_e_per_A2,
                   "acquisition_mode": "TEM", "detector": "simulated CMOS (electron counting)",
                   "instrument": "simulated 300 kV TEM, open-cell STM-TEM biasing holder"}
    signal = SyntheticSignal("sno2_nanowire_lithiation_movie", "SnO2 nanowire lithiation, open cell, BF-TEM",
                             frames, axes, "image_stack", "Intensity (counts)", acquisition)
    echem = log_truth(kinetics, circuit, log=log, charge_per_nm_C=q_per_nm,
                      clock_offset_s=clock_offset_s, rate_Hz=log_rate_Hz)
    truth = _truth(scene, kinetics, times, drift, q_per_nm, clock_offset_s, echem,
                   dose_e_per_A2, shot_noise, diameter_swelling)
    return Specimen("sno2_nanowire_lithiation", "In-situ lithiation of a SnO2 nanowire (open cell)",
                    (signal,), truth, _physics(scene, kinetics, circuit, truth), seed,
                    {"electrochemistry": log})


def _frame_truth(scene, kinetics, times, drift, q_per_nm, dose):
    front_nm = kinetics.position(times)
    front_px = front_nm / scene.px
    points = scene.start_px[None, :] + front_px[:, None] * scene.u[None, :] + drift
    return {"timestamp_s": times.tolist(), "front_nm": front_nm.tolist(), "front_px": front_px.tolist(),
            "front_point_px": points.tolist(), "drift_px": drift.tolist(),
            "drift_nm": (drift * scene.px).tolist(),
            "faradaic_charge_C": (q_per_nm * (front_nm - kinetics.x0_nm)).tolist(),
            "cumulative_dose_e_per_A2": (dose * np.arange(1, times.size + 1)).tolist()}


def _truth(scene, kinetics, times, drift, q_per_nm, offset, echem, dose, shot_noise, swelling):
    r0, r1 = scene.radii_nm
    wire = {"axis_start_px": scene.start_px.tolist(), "axis_start_nm": (scene.start_px * scene.px).tolist(),
            "axis_direction_yx": scene.u.tolist(), "axis_normal_yx": scene.n.tolist(),
            "axis_angle_deg": _WIRE_ANGLE_DEG, "pristine_diameter_nm": 2 * r0,
            "lithiated_diameter_nm": 2 * r1, "diameter_swelling": swelling,
            "axial_elongation": "ignored (projected length unchanged)",
            "lithiated_density_g_cm3": lithiated_density_g_cm3(swelling),
            "reaction_zone_width_nm": _ZONE_WIDTH_NM,
            "embedded_length_nm": _EMBED_NM, "contact_center_px": scene.center_px.tolist(),
            "contact_radius_nm": _CONTACT_RADIUS_NM}
    contrast = {"lambda_eff_nm": scene.lambdas_nm, "carbon_film": dict(_CARBON),
                "psf_sigma_px": _PSF_SIGMA_PX, "medusa_depth": _MEDUSA_DEPTH,
                "bend_contours": {k: v.tolist() for k, v in scene.bands.items()},
                "electrons_per_pixel_per_frame": scene.electrons_per_px}
    return {"frames": _frame_truth(scene, kinetics, times, drift, q_per_nm, dose),
            "clocks": {"camera": "t = 0 at the start of the first exposure; timestamps are mid-exposure",
                       "clock_offset_s": float(offset), "relation": "t_log = t_camera + clock_offset_s"},
            "wire": wire, "front_law": kinetics.to_dict(), "electrochemistry": echem,
            "contrast": contrast, "pixel_size_nm": scene.px,
            "dose": {"dose_e_per_A2_per_frame": dose, "total_dose_e_per_A2": dose * times.size,
                     "shot_noise": bool(shot_noise)}}


def _physics(scene, kinetics, circuit, truth):
    lam, w, k = scene.lambdas_nm, truth["wire"], kinetics
    return (
        f"Open-cell lithiation of a crystalline SnO2 nanowire (d = {w['pristine_diameter_nm']:.0f} nm) "
        f"touching Li/Li2O at its left end, {circuit.bias_V} V (wire vs Li) from t = {k.onset_s} s. "
        f"The front (SnO2 + 8.4 Li -> Li4.4Sn + 2 Li2O) follows (x - x0)^2 + A (x - x0) = B tau "
        f"(D_eff = {k.diffusivity_nm2_per_s} nm^2/s, k = {k.interface_velocity_nm_per_s} nm/s, "
        f"{k.stall_duration_s} s stall at {k.stall_start_s} s) through a {_ZONE_WIDTH_NM:.0f} nm conical "
        f"zone; behind it amorphous LixSn/Li2O, d = {w['lithiated_diameter_nm']:.0f} nm (elongation "
        f"ignored, {w['lithiated_density_g_cm3']:.2f} g/cm^3). BF-TEM I = I0 exp(-sum t/lambda), lambda = "
        f"{lam['pristine']:.0f} (SnO2), {lam['lithiated']:.0f} (lithiated), {lam['carbon']:.0f} (12 nm "
        f"a-C), {lam['li2o']:.0f} nm (Li2O contact); cosmetic bend contours and dark reaction zone; "
        f"0.6 px PSF; Poisson noise at {truth['dose']['dose_e_per_A2_per_frame']} e/A^2 per frame; "
        f"sub-pixel drift. SMU log: I = {truth['electrochemistry']['charge_per_nm_C'] * 1e12:.3f} pC/nm "
        f"x front velocity + capacitive transient + leakage + {circuit.current_noise_A * 1e15:.0f} fA rms "
        f"noise (pA currents); its clock starts {truth['clocks']['clock_offset_s']} s before the camera's.")
