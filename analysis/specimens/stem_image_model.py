"""Forward model for synthetic atomic-resolution STEM images (HAADF and ABF).

Imaging model (stated so that results measured on the images can be interpreted)
-------------------------------------------------------------------------------
* **Incoherent imaging, kinematic column sum.** Every atomic column contributes the
  probe intensity centred on it: ``P(r) = (1 - f) G_sigma(r) + f G_tail(r)``, a 2-D
  Gaussian core (``probe_sigma_A``, which lumps the probe, thermal vibration and
  source size) plus an optional weak broad tail (fraction ``tail_fraction``, width
  ``tail_sigma_A``) standing for the probe's aberration/diffuse tail. No channelling,
  no cross-talk between columns, intensities linear in the number of atoms.
* **Pixel integration.** Each pixel records the probe profile averaged over the pixel
  area (exact, via the error function; the Gaussian is separable), as for a probe that
  sweeps across the pixel during the dwell. Summing a column's contribution over all
  pixels gives exactly its integrated signal (a column's centre pixel reads ~1.5 % below
  the point value at 0.4 Å sigma and 0.12 Å pixels). Pixel centres are at integer
  indices, image convention ``img[y, x]``.
* **HAADF** (default 90–370 mrad): the fraction of incident electrons scattered onto the
  detector is ``b_HAADF + sum_k sigma_k P(r - r_k)``, with the column's probe-integrated
  cross-section ``sigma_k = sum_species n_s * sigma_Fe * (Z_s / 26)**1.7`` (Å^2):
  Z-contrast exponent 1.7, ``sigma_Fe = 1e-3 Å^2`` per Fe atom (the order of magnitude
  of measured probe-integrated cross-sections, E et al., Ultramicroscopy 133 (2013)
  109). ``b_HAADF = 0.002`` is a uniform background (amorphous surface layers, thermal
  diffuse scattering between columns).
* **ABF** (default 11–22 mrad with a 22 mrad probe): the bright-field annulus collects
  ``B = A_annulus * exp(-t / lambda)`` of the beam, ``A_annulus`` the annulus' share of
  the bright-field disc and ``lambda = 150 nm`` a phenomenological length for scattering
  out of the annulus. Columns absorb: ``I(r) = B * exp(-sum_k tau_k P(r - r_k) / P(0))``
  with ``tau_k = kappa * sum_species n_s * Z_s**(1/3)`` and ``kappa = 0.003``. An
  isolated column therefore dips by ``1 - exp(-tau_k)``: ∝ ``sum n Z^(1/3)`` when weak,
  saturating when strong, so Li and O columns are visible. Per atom Fe absorbs most;
  per column, Li (2 Li per b) and O3 (2 O per b) columns hold as many or more absorbers
  than Fe columns (1 Fe per b): at 20 nm the isolated dips are Fe 26 %, Li 25 %,
  O3 34 %, P 22 %, O1/O2 18 % (O1 and O2 are only 0.58 Å apart in this projection and
  merge into one dip). Raising ``abf_z_exponent`` to >= 0.65 makes Fe deepest (lower
  ``abf_kappa`` to keep the dips shallow).
* **Counts.** Expected counts = dose (e/Å^2) × pixel area × detector efficiency ×
  fraction reaching the detector; the recorded image is Poisson distributed with that
  mean (ideal counting: no gain noise, no dark counts). Efficiencies default to 0.80
  (HAADF) and 0.90 (ABF). Output float32 counts.
* **Scan distortions** (off by default; shared by all simultaneously recorded
  detectors): Gaussian row jitter along the fast scan (x) and linear drift over the
  frame. Row ``r`` is displaced by ``d(r) = drift * r / n_rows + jitter_r`` pixels: a
  column at (x, y) appears in row ``r`` at ``x + d_x(r)``. Displacement is constant
  within a scan line (drift during one line is 1/n_rows of the frame's).

Speed: each column is rendered as the outer product of two 1-D pixel-integrated
Gaussians in a local window (±4.5 sigma), accumulated with one ``bincount`` per
detector; the tail is added by one Gaussian filter of the core image
(``G_tail = G_sigma * G_sqrt(tail^2 - sigma^2)``), with reflecting edges.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np
from scipy import ndimage, special

from ..calibration import AxisCalibration
from .lifepo4_structure import ATOMIC_NUMBER, SPECIES
from .specimen import SyntheticSignal

_E_CHARGE_C = 1.602176634e-19
_Z = np.array([ATOMIC_NUMBER[s] for s in SPECIES], dtype=float)


@dataclass(frozen=True)
class StemImaging:
    """Parameters of the simulated STEM and of the image model (see module docstring).

    Angles in mrad, lengths in Å unless the name says otherwise, dose in e/Å^2,
    ``drift_px`` = (x, y) drift over one frame in pixels.
    """

    dose_e_per_A2: float = 5.0e4
    probe_sigma_A: float = 0.40
    tail_fraction: float = 0.05
    tail_sigma_A: float = 1.5
    beam_energy_keV: float = 300.0
    convergence_angle_mrad: float = 22.0
    haadf_angles_mrad: tuple = (90.0, 370.0)
    abf_angles_mrad: tuple = (11.0, 22.0)
    dwell_time_s: float = 4.0e-6
    haadf_efficiency: float = 0.80
    abf_efficiency: float = 0.90
    haadf_background: float = 0.002
    fe_cross_section_A2: float = 1.0e-3
    haadf_z_exponent: float = 1.7
    abf_z_exponent: float = 1.0 / 3.0
    abf_kappa: float = 0.003
    abf_mean_free_path_nm: float = 150.0
    row_jitter_px: float = 0.0
    drift_px: tuple = (0.0, 0.0)

    def __post_init__(self):
        positive = ("dose_e_per_A2", "probe_sigma_A", "tail_sigma_A", "beam_energy_keV",
                    "convergence_angle_mrad", "dwell_time_s", "fe_cross_section_A2",
                    "abf_mean_free_path_nm")
        for name in positive:
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive and finite, got {v}")
        for name in ("haadf_efficiency", "abf_efficiency", "tail_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.tail_fraction > 0 and self.tail_sigma_A <= self.probe_sigma_A:
            raise ValueError(f"tail_sigma_A ({self.tail_sigma_A}) must exceed probe_sigma_A "
                             f"({self.probe_sigma_A})")
        for name in ("haadf_angles_mrad", "abf_angles_mrad"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi:
                raise ValueError(f"{name} must be (inner, outer) with 0 <= inner < outer, got {(lo, hi)}")
        if self.row_jitter_px < 0 or len(self.drift_px) != 2:
            raise ValueError("row_jitter_px must be >= 0 and drift_px a pair (x, y)")
        if min(self.haadf_background, self.abf_kappa, self.haadf_z_exponent, self.abf_z_exponent) < 0:
            raise ValueError("background, kappa and Z exponents must be >= 0")

    def haadf_cross_sections(self, n_atoms: np.ndarray) -> np.ndarray:
        """Probe-integrated HAADF cross-section of each column, Å^2 (``n_atoms``: (n, 4))."""
        per_atom = self.fe_cross_section_A2 * (_Z / ATOMIC_NUMBER["Fe"]) ** self.haadf_z_exponent
        return np.asarray(n_atoms, dtype=float) @ per_atom

    def abf_optical_depths(self, n_atoms: np.ndarray) -> np.ndarray:
        """ABF absorption ``tau`` of each column (dip at centre = ``1 - exp(-tau)``)."""
        return self.abf_kappa * (np.asarray(n_atoms, dtype=float) @ _Z ** self.abf_z_exponent)

    def abf_background(self, thickness_nm: float) -> float:
        """Fraction of the beam reaching the ABF annulus between columns."""
        alpha = self.convergence_angle_mrad
        lo, hi = (min(v, alpha) for v in self.abf_angles_mrad)
        return float((hi ** 2 - lo ** 2) / alpha ** 2 * np.exp(-thickness_nm / self.abf_mean_free_path_nm))

    def electrons_per_pixel(self, pixel_size_A: float) -> float:
        """Incident electrons per pixel (dose × pixel area)."""
        return self.dose_e_per_A2 * pixel_size_A ** 2

    def acquisition(self, detector: str, *, pixel_size_A: float, shape) -> dict:
        """Acquisition metadata (keys of ``ACQUISITION_KEYS``) for ``"HAADF"`` or ``"ABF"``."""
        angles = {"HAADF": self.haadf_angles_mrad, "ABF": self.abf_angles_mrad}[detector]
        e_px = self.electrons_per_pixel(pixel_size_A)
        return {
            "beam_energy_keV": float(self.beam_energy_keV),
            "convergence_angle_mrad": float(self.convergence_angle_mrad),
            "collection_inner_angle_mrad": float(angles[0]),
            "collection_outer_angle_mrad": float(angles[1]),
            "dwell_time_s": float(self.dwell_time_s),
            "frame_time_s": float(self.dwell_time_s * shape[0] * shape[1]),
            "beam_current_nA": float(e_px * _E_CHARGE_C / self.dwell_time_s * 1e9),
            "dose_e_per_A2": float(self.dose_e_per_A2),
            "dose_e_per_pixel": float(e_px),
            "detector": detector,
            "acquisition_mode": "STEM",
            "instrument": "BatteryScope simulated STEM",
        }

    def margin_A(self, pixel_size_A: float) -> float:
        """How far outside the image (Å) columns still reach it (probe core + scan shifts)."""
        shift_px = float(np.max(np.abs(self.drift_px))) + 5.0 * self.row_jitter_px + 1.0
        return 5.0 * self.probe_sigma_A + shift_px * pixel_size_A

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        d = asdict(self)
        return {k: (list(map(float, v)) if isinstance(v, tuple) else float(v)) for k, v in d.items()}


def scan_row_displacements(n_rows: int, *, row_jitter_px: float = 0.0, drift_px=(0.0, 0.0),
                           rng=None) -> np.ndarray:
    """Per-row image displacement of a raster scan, pixels.

    Returns
    -------
    ndarray of shape (2, n_rows)
        ``[d_x, d_y]``: ``drift * r / n_rows`` plus Gaussian jitter (sd ``row_jitter_px``)
        along x. A feature at (x, y) appears in row ``r`` at ``(x + d_x[r], y + d_y[r])``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    t = np.arange(n_rows) / n_rows
    disp = np.outer(np.asarray(drift_px, dtype=float), t)
    if row_jitter_px > 0:
        if rng is None:
            raise ValueError("row jitter needs a random generator (rng)")
        disp[0] += rng.normal(0.0, row_jitter_px, n_rows)
    return disp


def _pixel_profile(start, width: int, centre, sigma: float) -> np.ndarray:
    """Unit Gaussian averaged over pixels ``start .. start+width-1`` (last axis)."""
    edges = start[..., None] + np.arange(width + 1) - 0.5
    cdf = special.erf((edges - centre[..., None]) / (np.sqrt(2.0) * sigma))
    return 0.5 * np.diff(cdf, axis=-1)


def _render_core(x, y, weights, shape, sigma, disp, chunk=1024) -> np.ndarray:
    ny, nx = shape
    half = int(np.ceil(4.5 * sigma)) + 1
    shifted = bool(np.any(disp))
    hx = half + (int(np.ceil(np.ptp(disp[0]))) if shifted else 0)
    out = np.zeros((weights.shape[0], ny * nx))
    for s in range(0, x.size, chunk):
        xs, ys, ws = x[s:s + chunk], y[s:s + chunk], weights[:, s:s + chunk]
        r_near = np.clip(np.rint(ys), 0, ny - 1).astype(np.int64)
        rows = np.rint(ys + disp[1, r_near]).astype(np.int64)[:, None] - half + np.arange(2 * half + 1)
        rc = np.clip(rows, 0, ny - 1)
        if shifted:  # row-dependent centres: the y profile row by row
            gy = _pixel_profile(rows, 1, ys[:, None] + disp[1, rc], sigma)[..., 0]
        else:
            gy = _pixel_profile(rows[:, 0], 2 * half + 1, ys, sigma)
        gy = np.where(rows == rc, gy, 0.0)
        c0 = np.rint(xs + disp[0, r_near]).astype(np.int64) - hx
        cols = c0[:, None] + np.arange(2 * hx + 1)
        if shifted:
            gx = _pixel_profile(cols[:, None, 0], 2 * hx + 1, xs[:, None] + disp[0, rc], sigma)
        else:
            gx = _pixel_profile(c0, 2 * hx + 1, xs, sigma)[:, None, :]
        cc = np.clip(cols, 0, nx - 1)
        gx = np.where((cols == cc)[:, None, :], gx, 0.0)
        vals = gy[:, :, None] * gx
        idx = (rc[:, :, None] * nx + cc[:, None, :]).ravel()
        for m in range(weights.shape[0]):
            out[m] += np.bincount(idx, weights=(vals * ws[m, :, None, None]).ravel(), minlength=ny * nx)
    return out.reshape(weights.shape[0], ny, nx)


def render_columns(x_px, y_px, weights, *, shape, sigma_px: float, tail_fraction: float = 0.0,
                   tail_sigma_px: float | None = None, row_displacement_px=None) -> np.ndarray:
    """Sum of pixel-integrated probe profiles, one per column, weighted.

    Parameters
    ----------
    x_px, y_px : array_like of shape (n,)
        Column centres in pixels (``img[y, x]``, pixel centres at integer indices).
    weights : array_like of shape (n,) or (m, n)
        One or ``m`` weight sets (one image per set).
    shape : (int, int)
        Image shape (ny, nx).
    sigma_px : float
        Probe core standard deviation, pixels.
    tail_fraction : float, optional
        Fraction of the probe intensity in the broad tail.
    tail_sigma_px : float, optional
        Tail standard deviation, pixels (> ``sigma_px``); needed if ``tail_fraction > 0``.
    row_displacement_px : ndarray of shape (2, ny), optional
        Scan displacement per row (see :func:`scan_row_displacements`).

    Returns
    -------
    ndarray of float64, shape (m, ny, nx)
        ``sum_k w_k P(r - r_k)`` with the probe normalised to unit sum over pixels.
    """
    x, y = np.asarray(x_px, dtype=float).ravel(), np.asarray(y_px, dtype=float).ravel()
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    ny, nx = (int(v) for v in shape)
    if x.shape != y.shape or w.shape[1] != x.size:
        raise ValueError(f"x_px, y_px and weights disagree: {x.shape}, {y.shape}, {w.shape}")
    if ny < 1 or nx < 1 or not (np.isfinite(sigma_px) and sigma_px > 0):
        raise ValueError(f"need a non-empty shape and sigma_px > 0, got {shape}, {sigma_px}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(w))):
        raise ValueError("column positions and weights must be finite")
    disp = np.zeros((2, ny)) if row_displacement_px is None else np.asarray(row_displacement_px, float)
    if disp.shape != (2, ny):
        raise ValueError(f"row_displacement_px must have shape (2, {ny}), got {disp.shape}")
    core = _render_core(x, y, w, (ny, nx), float(sigma_px), disp)
    if tail_fraction <= 0:
        return core
    if tail_sigma_px is None or tail_sigma_px <= sigma_px:
        raise ValueError("tail_sigma_px must be given and exceed sigma_px when tail_fraction > 0")
    extra = np.sqrt(tail_sigma_px ** 2 - sigma_px ** 2)
    tail = np.stack([ndimage.gaussian_filter(c, extra, mode="reflect") for c in core])
    return (1.0 - tail_fraction) * core + tail_fraction * tail


def expected_haadf_abf(x_px, y_px, n_atoms, *, shape, pixel_size_A: float, thickness_nm: float,
                       imaging: StemImaging, row_displacement_px=None) -> dict:
    """Noise-free expected counts of simultaneously recorded HAADF and ABF images.

    Parameters
    ----------
    x_px, y_px : array_like of shape (n,)
        Column centres, pixels (include columns just outside the field for its edges).
    n_atoms : array_like of shape (n, 4)
        Atoms of each species (order ``SPECIES``) in each column.
    shape : (int, int)
        Image shape (ny, nx).
    pixel_size_A, thickness_nm : float
        Pixel size (Å) and specimen thickness (nm, sets the ABF background).
    imaging : StemImaging
        Microscope and model parameters.
    row_displacement_px : ndarray of shape (2, ny), optional
        Scan distortion shared by both detectors.

    Returns
    -------
    dict
        ``"HAADF"``, ``"ABF"`` (float64 expected counts), ``"haadf_cross_section_A2"``,
        ``"abf_optical_depth"`` (per column), ``"abf_background_fraction"``.
    """
    if not (np.isfinite(pixel_size_A) and pixel_size_A > 0):
        raise ValueError(f"pixel_size_A must be positive, got {pixel_size_A}")
    n_atoms = np.asarray(n_atoms)
    if n_atoms.ndim != 2 or n_atoms.shape[1] != len(SPECIES) or np.any(n_atoms < 0):
        raise ValueError(f"n_atoms must be non-negative with shape (n, {len(SPECIES)}), got {n_atoms.shape}")
    sig = imaging.haadf_cross_sections(n_atoms)
    tau = imaging.abf_optical_depths(n_atoms)
    s_px, t_px = imaging.probe_sigma_A / pixel_size_A, imaging.tail_sigma_A / pixel_size_A
    maps = render_columns(x_px, y_px, np.stack([sig, tau]), shape=shape, sigma_px=s_px,
                          tail_fraction=imaging.tail_fraction, tail_sigma_px=t_px,
                          row_displacement_px=row_displacement_px)
    f = imaging.tail_fraction
    peak = ((1.0 - f) / s_px ** 2 + f / t_px ** 2) / (2.0 * np.pi)
    e_px = imaging.electrons_per_pixel(pixel_size_A)
    haadf = imaging.dose_e_per_A2 * imaging.haadf_efficiency * (
        pixel_size_A ** 2 * imaging.haadf_background + maps[0])
    bg_abf = imaging.abf_background(thickness_nm)
    abf = e_px * imaging.abf_efficiency * bg_abf * np.exp(-maps[1] / peak)
    return {"HAADF": haadf, "ABF": abf, "haadf_cross_section_A2": sig,
            "abf_optical_depth": tau, "abf_background_fraction": bg_abf}


def record_haadf_abf(x_px, y_px, n_atoms, *, shape, pixel_size_A: float, thickness_nm: float,
                     imaging: StemImaging, rng, noise: bool = True) -> dict:
    """One simultaneous HAADF + ABF scan: scan distortion, expected counts, Poisson noise.

    ``rng`` (a ``numpy.random.Generator``) is split into independent streams for the scan
    jitter and for each detector's shot noise. Returns the dict of
    :func:`expected_haadf_abf` with ``"HAADF"``/``"ABF"`` replaced by float32 images
    (noisy if ``noise``, else the expected counts), plus ``"row_displacement_px"`` and
    ``"expected_mean_counts"``.
    """
    ny, nx = check_image_geometry(shape, pixel_size_A)
    rng_scan, rng_haadf, rng_abf = rng.spawn(3)
    disp = scan_row_displacements(ny, row_jitter_px=imaging.row_jitter_px,
                                  drift_px=imaging.drift_px, rng=rng_scan)
    out = expected_haadf_abf(x_px, y_px, n_atoms, shape=(ny, nx), pixel_size_A=pixel_size_A,
                             thickness_nm=thickness_nm, imaging=imaging, row_displacement_px=disp)
    out["expected_mean_counts"] = {d: float(out[d].mean()) for d in ("HAADF", "ABF")}
    for det, r in (("HAADF", rng_haadf), ("ABF", rng_abf)):
        out[det] = poisson_counts(out[det], r) if noise else out[det].astype(np.float32)
    out["row_displacement_px"] = disp
    return out


def check_image_geometry(shape, pixel_size_A: float) -> tuple[int, int]:
    """Validate an image shape (>= 16 × 16) and pixel size; return ``(ny, nx)``."""
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of integers (ny, nx), got {shape!r}") from None
    if ny < 16 or nx < 16 or ny * nx > 8192 * 8192:
        raise ValueError(f"shape must be between 16 x 16 and 8192 x 8192 pixels, got {shape}")
    if not (np.isfinite(pixel_size_A) and 0 < pixel_size_A <= 5.0):
        raise ValueError(f"pixel_size_A must be in (0, 5] Å for atomic resolution, got {pixel_size_A}")
    return ny, nx


def field_bounds_A(shape, pixel_size_A: float, margin_A: float) -> tuple[float, float, float, float]:
    """``(x_min, x_max, y_min, y_max)`` in Å of the pixel area plus ``margin_A``.

    Pixel centres are at integer indices, so the image covers ``[-0.5, n - 0.5]`` pixels.
    """
    ny, nx = shape
    return (-0.5 * pixel_size_A - margin_A, (nx - 0.5) * pixel_size_A + margin_A,
            -0.5 * pixel_size_A - margin_A, (ny - 0.5) * pixel_size_A + margin_A)


def inside_image(x_px, y_px, shape) -> np.ndarray:
    """True where a column centre lies on the image (``-0.5 <= x < nx - 0.5``, same for y)."""
    x, y = np.asarray(x_px), np.asarray(y_px)
    return (x >= -0.5) & (x < shape[1] - 0.5) & (y >= -0.5) & (y < shape[0] - 0.5)


def poisson_counts(expected: np.ndarray, rng) -> np.ndarray:
    """Poisson-distributed counts with mean ``expected``, as float32."""
    expected = np.asarray(expected)
    if np.any(~np.isfinite(expected)) or np.any(expected < 0):
        raise ValueError("expected counts must be finite and >= 0")
    return rng.poisson(expected).astype(np.float32)


def image_signal(name: str, title: str, data: np.ndarray, *, pixel_size_A: float,
                 acquisition: dict) -> SyntheticSignal:
    """A calibrated 2-D image: axes y then x in Å, offset 0 at pixel centre (0, 0)."""
    ny, nx = data.shape
    axes = (AxisCalibration("y", "Å", float(pixel_size_A), 0.0, ny, False),
            AxisCalibration("x", "Å", float(pixel_size_A), 0.0, nx, False))
    return SyntheticSignal(name, title, np.ascontiguousarray(data, dtype=np.float32), axes,
                           "image", "Intensity (counts)", dict(acquisition))
