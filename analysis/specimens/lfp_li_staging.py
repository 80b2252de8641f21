"""ABF (and matching HAADF) image of half-charged LiFePO4 [010] with a Li-staged domain.

Specimen
--------
One olivine crystal viewed along [010], rotated by ``rotation_deg``, split by two
bc-plane domain walls (normal to a, as reported for LiFePO4/FePO4 interfaces) into three
bands that follow each other along a (approximately left to right at small rotation)::

    LiFePO4 (all Li planes full) | staged Li0.5FePO4 | FePO4 (all Li planes empty)

``region_fractions`` sets the bands' shares of the field's extent along a (default
0.3/0.4/0.3, so the field as a whole is Li0.5FePO4: half charged). In the staged band
the Li planes (bc planes at x = 0 and x = 1/2 of each cell) alternate full / empty along
a: the Li staging period is 2 Li planes (= a), against 1 Li plane (a/2, all planes
alike) in the two end members. Which of the two plane families is empty is seeded.

Lattice: interfaces are coherent, so b and c are LiFePO4's in all bands (FePO4 strained
by -2 % along c), while a relaxes per band: 10.332 Å (LiFePO4), 10.0765 Å (staged, Vegard
mean of the end members), 9.821 Å (FePO4). Fractional coordinates are LiFePO4's
everywhere (stated approximation). Walls run between Li planes (a quarter cell before
the first Li plane of a band), so every Li column lies unambiguously in one band.
Empty Li sites are kept in the truth as Li-site columns with 0 Li.

Imaging: :mod:`.stem_image_model` (incoherent Gaussian probe averaged over the pixel,
ABF dips ``1 - exp(-kappa sum n Z^(1/3))``, HAADF ∝ sum n Z^1.7, Poisson noise at
dose × efficiency). A full Li column (67 Li at 20 nm) dips the ABF signal by ~25 %; an
empty one leaves only the tails of its O neighbours. HAADF hardly sees Li but shows
the change of a between bands.

Truth: every column on the image (pixels, ``img[y, x]``, pixel centres at integer
indices, and Å), its band (``region``), site occupancy (Li columns: fraction of Li sites
filled, 0..1; framework columns: 1), global Li plane index along a (``li_plane``,
-1 for non-Li columns); per band its a, lattice vectors in pixels, Li occupancy of the
two plane families and the staging period in Li planes; the walls as lines in pixels.
:func:`staging_region_labels` maps any pixel position to its band.
"""
from __future__ import annotations

import numpy as np

from .lifepo4_structure import (SPECIES, ColumnTiling, atoms_in_columns, column_truth_table,
                                fepo4_structure, lifepo4_structure, project_along_b, tile_columns)
from .specimen import Specimen
from .stem_image_model import (StemImaging, check_image_geometry, field_bounds_A, image_signal,
                               inside_image, record_haadf_abf)

REGION_NAMES = ("LiFePO4", "staged Li0.5FePO4", "FePO4")
_LI = SPECIES.index("Li")
_A_LFP, _A_FP = lifepo4_structure().a_A, fepo4_structure().a_A
_REGION_A = (_A_LFP, 0.5 * (_A_LFP + _A_FP), _A_FP)
_START = -0.25  # cells span u in [i - 1/4, i + 3/4): walls fall between Li planes

PHYSICS = (
    "Half-charged LiFePO4 [010]: LiFePO4 | Li-staged (every other Li bc plane empty along a) | "
    "FePO4 bands separated by coherent bc-plane walls (common b, c; a per band by Vegard's "
    "law). Columns hold whole atoms (atoms per b x t / b; Li columns x occupancy). "
    "Incoherent STEM, Gaussian probe plus weak tail averaged over the pixel. ABF: "
    "B exp(-sum_k tau_k P/P(0)), tau_k = 0.003 sum n Z^(1/3); HAADF: background + "
    "sum_k sigma_k P, sigma_k = 1e-3 A^2 x sum n (Z/26)^1.7. Poisson counts at dose x "
    "pixel area x detector efficiency."
)


def _band_tilings(cols, origin, rotation_deg, field, fractions, c_A):
    """Tile the three bands; return tilings, global cell offsets and wall positions (Å along a)."""
    th = np.deg2rad(rotation_deg)
    a_hat = np.array([np.cos(th), np.sin(th)])
    x0, x1, y0, y1 = field
    s = (np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) - origin) @ a_hat
    span = s.max() - s.min()
    i1 = int(round((s.min() + fractions[0] * span) / _REGION_A[0] - _START))
    n_staged = max(2, int(round(fractions[1] * span / _REGION_A[1])))
    walls = [(i1 + _START) * _REGION_A[0]]
    walls.append(walls[0] + n_staged * _REGION_A[1])
    starts = [origin, origin + (walls[0] - _START * _REGION_A[1]) * a_hat,
              origin + (walls[1] - _START * _REGION_A[2]) * a_hat]
    ranges = [(None, i1), (0, n_staged), (0, None)]
    tilings = [tile_columns(cols, a_A=a, c_A=c_A, field_A=field, rotation_deg=rotation_deg,
                            origin_A=o, a_cells=r, cell_start_frac=_START)
               for a, o, r in zip(_REGION_A, starts, ranges)]
    return tilings, (0, i1, i1 + n_staged), walls


def _merge(tilings, offsets) -> tuple[ColumnTiling, np.ndarray]:
    """One tiling with global cell indices, plus the band index of every column."""
    cat = lambda name: np.concatenate([getattr(t, name) for t in tilings])  # noqa: E731
    shift = np.concatenate([np.full(t.x_A.size, off) for t, off in zip(tilings, offsets)])
    band = np.concatenate([np.full(t.x_A.size, k) for k, t in enumerate(tilings)])
    t0 = tilings[0]
    merged = ColumnTiling(cat("x_A"), cat("y_A"), cat("column"), cat("cell_a") + shift, cat("cell_c"),
                          cat("u") + shift, cat("w"), t0.origin_A, t0.a_vec_A, t0.c_vec_A)
    return merged, band.astype(np.int64)


def _li_occupancy(cols, tiling, band, empty_parity):
    """Li plane index (-1 for non-Li columns) and site occupancy of every column."""
    is_li = np.array([cols[k].site == "Li" for k in tiling.column], dtype=bool)
    local = tiling.u - tiling.cell_a                      # 0 or 1/2 for Li columns
    parity = np.rint(2 * local).astype(np.int64) % 2
    plane = np.where(is_li, 2 * tiling.cell_a + parity, -1)
    occ_by_band = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    occ_by_band[1, empty_parity] = 0.0
    occ = np.where(is_li, occ_by_band[band, parity], 1.0)
    return plane, occ


def lfp_li_staging_abf(*, seed: int = 0, shape=(512, 512), pixel_size_A: float = 0.15,
                       thickness_nm: float = 20.0, region_fractions=(0.3, 0.4, 0.3),
                       dose_e_per_A2: float = 5.0e4, rotation_deg: float = 3.0,
                       probe_sigma_A: float = 0.40, tail_fraction: float = 0.05,
                       with_haadf: bool = True, row_jitter_px: float = 0.0,
                       drift_px=(0.0, 0.0), noise: bool = True) -> Specimen:
    """ABF (+ HAADF) of half-charged LiFePO4 [010]: LiFePO4 | Li-staged | FePO4 bands.

    Parameters
    ----------
    seed : int
        Seeds lattice offset, which Li plane family is empty, scan jitter and noise.
    shape : (int, int)
        Image shape (ny, nx).
    pixel_size_A, thickness_nm : float
        Pixel size (Å) and crystal thickness along [010] (nm).
    region_fractions : (float, float, float)
        Shares of the field's extent along a of LiFePO4, staged and FePO4 (sum 1).
    dose_e_per_A2, rotation_deg, probe_sigma_A, tail_fraction : float
        Dose (e/Å^2), rotation (deg, a from image +x towards +y), probe sigma (Å), tail.
    with_haadf : bool
        Also return the simultaneously recorded HAADF image.
    row_jitter_px, drift_px : float, (float, float)
        Scan row jitter (sd, px) and drift over the frame (x, y px); off by default.
    noise : bool
        False returns the expected (noise-free) counts.

    Returns
    -------
    Specimen
        Signals ``lfp_staging_abf`` (and ``lfp_staging_haadf``); truth as in the
        module docstring.
    """
    ny, nx = check_image_geometry(shape, pixel_size_A)
    fr = np.asarray(region_fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr < 0) or fr[1] <= 0 or abs(fr.sum() - 1) > 1e-6:
        raise ValueError(f"region_fractions must be 3 shares >= 0 summing to 1 with a staged share > 0, "
                         f"got {region_fractions}")
    imaging = StemImaging(dose_e_per_A2=dose_e_per_A2, probe_sigma_A=probe_sigma_A,
                          tail_fraction=tail_fraction, row_jitter_px=row_jitter_px,
                          drift_px=tuple(float(v) for v in drift_px))
    rng_geom, rng_record = np.random.default_rng(seed).spawn(2)
    st = lifepo4_structure()
    cols = project_along_b(st)
    origin = np.array([nx, ny]) * pixel_size_A / 2 + rng_geom.uniform(-0.5, 0.5, 2) * [st.a_A, st.c_A]
    field = field_bounds_A((ny, nx), pixel_size_A, imaging.margin_A(pixel_size_A))
    tilings, offsets, walls = _band_tilings(cols, origin, rotation_deg, field, fr, st.c_A)
    tiling, band = _merge(tilings, offsets)
    empty_parity = int(rng_geom.integers(2))
    plane, occ = _li_occupancy(cols, tiling, band, empty_parity)
    n_atoms = atoms_in_columns(cols, tiling.column, thickness_nm=thickness_nm, b_A=st.b_A)
    n_sites = n_atoms[:, _LI].copy()
    n_atoms[:, _LI] = np.rint(occ * n_sites).astype(np.int64)
    rec = record_haadf_abf(tiling.x_A / pixel_size_A, tiling.y_A / pixel_size_A, n_atoms,
                           shape=(ny, nx), pixel_size_A=pixel_size_A, thickness_nm=thickness_nm,
                           imaging=imaging, rng=rng_record, noise=noise)
    params = {"seed": int(seed), "shape": [ny, nx], "pixel_size_A": float(pixel_size_A),
              "thickness_nm": float(thickness_nm), "region_fractions": fr.tolist(),
              "rotation_deg": float(rotation_deg), "with_haadf": bool(with_haadf), "noise": bool(noise)}
    per_col = {"region": band, "occupancy": occ, "li_plane": plane, "n_li_sites": n_sites}
    truth = _truth(cols, tiling, n_atoms, per_col, tilings, walls, empty_parity, rec, imaging, params)
    dets = ("ABF", "HAADF") if with_haadf else ("ABF",)
    signals = tuple(
        image_signal(f"lfp_staging_{d.lower()}", f"Half-charged LiFePO4 [010] {d} (Li staging)",
                     rec[d], pixel_size_A=pixel_size_A,
                     acquisition=imaging.acquisition(d, pixel_size_A=pixel_size_A, shape=(ny, nx)))
        for d in dets)
    return Specimen("lfp_li_staging", "Half-charged LiFePO4 [010] with a Li-staged domain",
                    signals, truth, PHYSICS, seed=int(seed))


def _regions_truth(tilings, walls, empty_parity, px) -> list[dict]:
    occ = [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
    occ[1][empty_parity] = 0.0
    bounds = [None, *(w / px for w in walls), None]
    return [{"name": REGION_NAMES[k], "a_A": _REGION_A[k], "li_occupancy_x0": occ[k][0],
             "li_occupancy_x_half": occ[k][1], "mean_li_occupancy": 0.5 * sum(occ[k]),
             "staging_period_li_planes": 2 if k == 1 else 1,
             "staging_period_A": _REGION_A[k] * (1.0 if k == 1 else 0.5),
             "s_range_px": [bounds[k], bounds[k + 1]], **t.lattice_px(px)}
            for k, t in enumerate(tilings)]


def _truth(cols, tiling, n_atoms, per_col, tilings, walls, empty_parity, rec, imaging, params) -> dict:
    px = params["pixel_size_A"]
    keep = inside_image(tiling.x_A / px, tiling.y_A / px, tuple(params["shape"]))
    table = column_truth_table(cols, tiling, n_atoms, keep, pixel_size_A=px)
    for key, values in per_col.items():
        table[key] = values[keep].tolist()
    table["haadf_cross_section_A2"] = rec["haadf_cross_section_A2"][keep].tolist()
    table["abf_optical_depth"] = rec["abf_optical_depth"][keep].tolist()
    a_hat = (np.asarray(tiling.a_vec_A) / np.hypot(*tiling.a_vec_A)).tolist()
    origin_px = [v / px for v in tiling.origin_A]
    return {
        "units": {"x_px": "pixel", "y_px": "pixel", "x_A": "Å", "y_A": "Å", "n_atoms": "atoms",
                  "occupancy": "fraction of sites filled (0..1)", "s_range_px": "pixel",
                  "a_A": "Å", "staging_period_A": "Å", "expected_mean_counts": "counts per pixel"},
        "pixel_convention": "img[y, x]; pixel centres at integer indices; x_A = x_px * pixel_size_A",
        "columns": table,
        "regions": _regions_truth(tilings, walls, empty_parity, px),
        "region_axis": {"origin_px": origin_px, "a_hat": a_hat,
                        "rule": "s = (p - origin_px) . a_hat; region k has s_range_px[0] <= s < "
                                "s_range_px[1] (None: unbounded)"},
        "walls": [{"point_px": [origin_px[0] + w / px * a_hat[0], origin_px[1] + w / px * a_hat[1]],
                   "normal": a_hat} for w in walls],
        "empty_li_plane_family": "x = 0" if empty_parity == 0 else "x = 1/2",
        "li_fraction_on_image": float(np.sum(np.asarray(table["n_atoms"]["Li"])) /
                                      max(1, np.sum(np.asarray(table["n_li_sites"])))),
        "parameters": params,
        "imaging": imaging.to_dict(),
        "abf_background_fraction": float(rec["abf_background_fraction"]),
        "expected_mean_counts": rec["expected_mean_counts"],
        "row_displacement_px": rec["row_displacement_px"].tolist(),
    }


def staging_region_labels(x_px, y_px, truth: dict) -> np.ndarray:
    """Band index (0 LiFePO4, 1 staged, 2 FePO4) of pixel positions, from the truth.

    Parameters
    ----------
    x_px, y_px : array_like
        Positions in pixels (``img[y, x]``), broadcastable.
    truth : dict
        ``Specimen.truth`` of :func:`lfp_li_staging_abf`.

    Returns
    -------
    ndarray of int64
    """
    try:
        axis = truth["region_axis"]
        walls = [r["s_range_px"][1] for r in truth["regions"][:-1]]
    except (KeyError, TypeError, IndexError):
        raise ValueError("truth is not from lfp_li_staging_abf (no region_axis / regions)") from None
    x, y = np.asarray(x_px, dtype=float), np.asarray(y_px, dtype=float)
    s = (x - axis["origin_px"][0]) * axis["a_hat"][0] + (y - axis["origin_px"][1]) * axis["a_hat"][1]
    return np.searchsorted(np.asarray(walls, dtype=float), s, side="right").astype(np.int64)
