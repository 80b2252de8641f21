"""Simultaneous HAADF + ABF images of LiFePO4 [010] with Fe-on-Li antisite columns.

Specimen
--------
A perfect LiFePO4 crystal (Pnma, see :mod:`.lifepo4_structure`) of uniform thickness
``t`` viewed along [010], rotated by ``rotation_deg`` in the image plane, with a seeded
random lattice offset. Every column holds ``round(atoms_per_b * t / b)`` whole atoms
(t = 20 nm: 33 per Fe/P/O1/O2 column, 67 per Li and O3 column).

Antisites: a fraction ``antisite_fraction`` of the Li columns that lie fully inside the
image (at least 3 probe sigmas from its edge) are antisite columns, in which a fraction
``antisite_occupancy`` of the Li sites (rounded to whole atoms) holds Fe instead of Li
(Fe_Li; the displaced Li is assumed spread over Fe sites elsewhere, below detection, so
Fe columns are unchanged). Because antisite defects are reported to aggregate, up to
``cluster_size`` of them form one cluster (the Li columns nearest a random seed
column); the others are drawn uniformly, all seeded.

Imaging: the forward model of :mod:`.stem_image_model` — incoherent, pixel-integrated
Gaussian probe with a weak tail; HAADF ∝ sum n Z^1.7 over a small background; ABF a
bright background with saturating absorptive dips ``1 - exp(-kappa sum n Z^(1/3))``;
Poisson noise at the incident dose times each detector's efficiency. Both detectors
see the same columns through the same scan (same drift and jitter, if switched on).
In HAADF an antisite column with 15 % Fe at 20 nm is ~7x brighter than a normal Li
column (which is barely above background); in ABF it is slightly darker.

Truth (JSON-serialisable, see :func:`lfp_antisite_pair`): every column whose centre is
on the image, in pixels (``img[y, x]``, pixel centres at integer indices,
``x_A = x_px * pixel_size_A``) and in Å, with site, species counts, antisite flag and
its HAADF cross-section / ABF optical depth; the antisite list; lattice vectors in
pixels; all parameters.
"""
from __future__ import annotations

import numpy as np

from .lifepo4_structure import (SPECIES, atoms_in_columns, column_truth_table, lifepo4_structure,
                                project_along_b, tile_columns)
from .specimen import Specimen
from .stem_image_model import (StemImaging, check_image_geometry, field_bounds_A, image_signal,
                               inside_image, record_haadf_abf)

_LI, _FE = SPECIES.index("Li"), SPECIES.index("Fe")

PHYSICS = (
    "LiFePO4 (Pnma) viewed along [010], uniform thickness; columns hold whole atoms "
    "(atoms per b x t / b). Incoherent STEM: each column adds a Gaussian probe (plus weak "
    "tail) averaged over the pixel. HAADF: fraction scattered = background + sum_k sigma_k "
    "P(r-r_k), sigma_k = 1e-3 A^2 x sum n (Z/26)^1.7. ABF: B exp(-sum_k tau_k P/P(0)), "
    "tau_k = 0.003 sum n Z^(1/3). Counts = dose x pixel area x detector efficiency x "
    "fraction, Poisson. Antisite columns: a fraction of Li sites of some Li columns hold Fe "
    "(seeded; one small cluster)."
)


def _check_fraction(name: str, value: float, *, allow_zero: bool = True) -> None:
    ok = (0.0 <= value <= 1.0) if allow_zero else (0.0 < value <= 1.0)
    if not (np.isfinite(value) and ok):
        raise ValueError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1], got {value}")


def choose_antisite_columns(x_px, y_px, candidates, *, n_antisite: int, cluster_size: int, rng):
    """Pick antisite columns: one cluster of nearest neighbours plus uniform random ones.

    Parameters
    ----------
    x_px, y_px : ndarray of shape (n,)
        Positions of all columns, pixels.
    candidates : ndarray of int
        Indices of the columns allowed to become antisites (Li columns).
    n_antisite : int
        How many to choose (at most ``len(candidates)``).
    cluster_size : int
        How many of them form the cluster (the ones nearest a random candidate).
    rng : numpy.random.Generator

    Returns
    -------
    (ndarray of int, ndarray of int)
        Sorted indices of all antisite columns, and of those in the cluster.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if not 0 <= n_antisite <= candidates.size:
        raise ValueError(f"n_antisite must be in [0, {candidates.size}], got {n_antisite}")
    if cluster_size < 0:
        raise ValueError(f"cluster_size must be >= 0, got {cluster_size}")
    n_cluster = min(cluster_size, n_antisite)
    cluster = np.empty(0, dtype=np.int64)
    if n_cluster > 0:
        seed_col = candidates[rng.integers(candidates.size)]
        d = np.hypot(x_px[candidates] - x_px[seed_col], y_px[candidates] - y_px[seed_col])
        cluster = candidates[np.argsort(d, kind="stable")[:n_cluster]]
    rest = np.setdiff1d(candidates, cluster)
    scattered = rng.choice(rest, size=n_antisite - n_cluster, replace=False)
    return np.sort(np.concatenate([cluster, scattered])), np.sort(cluster)


def _place_antisites(n_atoms: np.ndarray, columns_idx, occupancy: float) -> np.ndarray:
    """Replace ``occupancy`` of the Li sites of the given columns by Fe (whole atoms)."""
    out = n_atoms.copy()
    sites = out[columns_idx, _LI]
    n_fe = np.clip(np.rint(occupancy * sites), 1, sites).astype(np.int64)
    out[columns_idx, _FE] += n_fe
    out[columns_idx, _LI] -= n_fe
    return out


def lfp_antisite_pair(*, seed: int = 0, shape=(512, 512), pixel_size_A: float = 0.12,
                      thickness_nm: float = 20.0, antisite_fraction: float = 0.03,
                      antisite_occupancy: float = 0.15, cluster_size: int = 3,
                      dose_e_per_A2: float = 5.0e4, rotation_deg: float = 3.0,
                      probe_sigma_A: float = 0.40, tail_fraction: float = 0.05,
                      row_jitter_px: float = 0.0, drift_px=(0.0, 0.0),
                      noise: bool = True) -> Specimen:
    """HAADF + ABF pair of LiFePO4 [010] with Fe-on-Li antisite columns, with truth.

    Parameters
    ----------
    seed : int
        Seeds lattice offset, antisite choice, scan jitter and shot noise.
    shape : (int, int)
        Image shape (ny, nx), pixels.
    pixel_size_A, thickness_nm : float
        Pixel size (Å) and crystal thickness along [010] (nm).
    antisite_fraction : float
        Fraction of eligible Li columns that are antisite columns (rounded).
    antisite_occupancy : float
        Fraction of an antisite column's Li sites that hold Fe, in (0, 1].
    cluster_size : int
        Number of antisite columns in the one cluster (0: none clustered).
    dose_e_per_A2, rotation_deg, probe_sigma_A, tail_fraction : float
        Incident dose (e/Å^2), lattice rotation (deg, a from image +x towards +y), probe
        core sigma (Å), probe tail fraction.
    row_jitter_px, drift_px : float, (float, float)
        Scan row jitter (sd, px) and drift over the frame (x, y px); off by default.
    noise : bool
        False returns the expected (noise-free) counts.

    Returns
    -------
    Specimen
        Signals ``lfp_antisite_haadf`` and ``lfp_antisite_abf``; truth as in the
        module docstring (``truth["columns"]`` is columnar: one list per key).
    """
    ny, nx = check_image_geometry(shape, pixel_size_A)
    _check_fraction("antisite_fraction", antisite_fraction)
    _check_fraction("antisite_occupancy", antisite_occupancy, allow_zero=False)
    imaging = StemImaging(dose_e_per_A2=dose_e_per_A2, probe_sigma_A=probe_sigma_A,
                          tail_fraction=tail_fraction, row_jitter_px=row_jitter_px,
                          drift_px=tuple(float(v) for v in drift_px))
    rng_geom, rng_defect, rng_record = np.random.default_rng(seed).spawn(3)
    st = lifepo4_structure()
    cols = project_along_b(st)
    origin = np.array([nx, ny]) * pixel_size_A / 2 + rng_geom.uniform(-0.5, 0.5, 2) * [st.a_A, st.c_A]
    tiling = tile_columns(cols, a_A=st.a_A, c_A=st.c_A, rotation_deg=rotation_deg, origin_A=origin,
                          field_A=field_bounds_A((ny, nx), pixel_size_A, imaging.margin_A(pixel_size_A)))
    n_atoms = atoms_in_columns(cols, tiling.column, thickness_nm=thickness_nm, b_A=st.b_A)
    x, y = tiling.x_A / pixel_size_A, tiling.y_A / pixel_size_A
    edge = 3.0 * probe_sigma_A / pixel_size_A
    is_li = np.array([cols[k].site == "Li" for k in tiling.column], dtype=bool)
    eligible = np.flatnonzero(is_li & (x >= edge) & (x <= nx - 1 - edge) & (y >= edge) & (y <= ny - 1 - edge))
    anti, cluster = choose_antisite_columns(
        x, y, eligible, n_antisite=int(round(antisite_fraction * eligible.size)),
        cluster_size=cluster_size, rng=rng_defect)
    n_atoms = _place_antisites(n_atoms, anti, antisite_occupancy)
    rec = record_haadf_abf(x, y, n_atoms, shape=(ny, nx), pixel_size_A=pixel_size_A,
                           thickness_nm=thickness_nm, imaging=imaging, rng=rng_record, noise=noise)
    params = {"seed": int(seed), "shape": [ny, nx], "pixel_size_A": float(pixel_size_A),
              "thickness_nm": float(thickness_nm), "antisite_fraction": float(antisite_fraction),
              "antisite_occupancy": float(antisite_occupancy), "cluster_size": int(cluster_size),
              "rotation_deg": float(rotation_deg), "noise": bool(noise)}
    truth = _truth(cols, tiling, n_atoms, anti, cluster, rec, imaging, params)
    signals = tuple(
        image_signal(f"lfp_antisite_{det.lower()}", f"LiFePO4 [010] {det} (antisites)", rec[det],
                     pixel_size_A=pixel_size_A,
                     acquisition=imaging.acquisition(det, pixel_size_A=pixel_size_A, shape=(ny, nx)))
        for det in ("HAADF", "ABF"))
    return Specimen("lfp_antisite_pair", "LiFePO4 [010] HAADF + ABF with Fe-on-Li antisites",
                    signals, truth, PHYSICS, seed=int(seed))


def _truth(cols, tiling, n_atoms, anti, cluster, rec, imaging, params) -> dict:
    """Assemble the JSON-ready truth for the columns on the image."""
    px = params["pixel_size_A"]
    shape = tuple(params["shape"])
    keep = inside_image(tiling.x_A / px, tiling.y_A / px, shape)
    new_index = np.cumsum(keep) - 1                       # tiling index -> truth index
    flags = np.zeros(keep.size, dtype=bool)
    flags[anti] = True
    table = column_truth_table(cols, tiling, n_atoms, keep, pixel_size_A=px)
    table["antisite"] = flags[keep].tolist()
    table["haadf_cross_section_A2"] = rec["haadf_cross_section_A2"][keep].tolist()
    table["abf_optical_depth"] = rec["abf_optical_depth"][keep].tolist()
    sites = n_atoms[anti, _LI] + n_atoms[anti, _FE]
    st = lifepo4_structure()
    return {
        "units": {"x_px": "pixel", "y_px": "pixel", "x_A": "Å", "y_A": "Å", "n_atoms": "atoms",
                  "haadf_cross_section_A2": "Å^2", "abf_optical_depth": "1",
                  "lattice": "pixel", "expected_mean_counts": "counts per pixel"},
        "pixel_convention": "img[y, x]; pixel centres at integer indices; x_A = x_px * pixel_size_A",
        "columns": table,
        "antisite_columns": new_index[anti].astype(int).tolist(),
        "antisite_cluster_columns": new_index[cluster].astype(int).tolist(),
        "antisite_fe_occupancy": (n_atoms[anti, _FE] / sites).tolist(),
        "lattice": {**tiling.lattice_px(px), "a_A": st.a_A, "b_A": st.b_A, "c_A": st.c_A,
                    "rotation_deg": params["rotation_deg"], "structure": "LiFePO4 Pnma, view [010]"},
        "parameters": params,
        "imaging": imaging.to_dict(),
        "abf_background_fraction": float(rec["abf_background_fraction"]),
        "expected_mean_counts": rec["expected_mean_counts"],
        "row_displacement_px": rec["row_displacement_px"].tolist(),
    }
