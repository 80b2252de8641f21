"""HAADF image of a Li-rich layered oxide viewed along [1-10]_hex / [100]_C2/m, with truth.

Specimen
--------
A layered oxide (R-3m, e.g. Li(Ni,Mn,Co)O2, with a Li2MnO3-like C2/m domain) viewed so
that the transition-metal (TM) layers run along image x (at zero rotation): within a
layer the cation columns are ``s = 1.422 Å`` apart (a_hex / 2), layers are
``d = 4.74 Å`` apart (c_hex / 3) along y. Per cell (column index h along the row, layer
index k): a TM-layer column at (h s, k d), two O columns at (h s, k d ± 1.05 Å) and a
Li-layer column at (h s, k d + d / 2) (the [1-10] projection of R-3m; C2/m's 0.06 Å
Li-layer offsets are neglected). Typed in here, independent of the column engine's
crystallography.

* **C2/m domain** (columns with image x in ``c2m_region``, fractions of the width): every
  third TM-layer column (h ≡ phase mod 3) holds Li instead of TM — the Li–TM–TM rows of
  Li2MnO3 with their three-fold periodicity. ``c2m_phase`` picks the registry.
* **TM-rich surface layer**: the crystal ends at a surface normal to x (vacuum for
  x < ``surface_x_frac`` × width); Li-layer columns within ``tm_rich_depth_A`` of it hold
  TM on a fraction ``tm_rich_occupancy`` of their sites (TM migrated into the Li layer, as
  in the spinel / rock-salt surface reconstruction of cycled cathodes).

Imaging: incoherent HAADF as in :mod:`.stem_image_model` (pixel-integrated Gaussian probe
+ weak tail, cross-section per atom ``1e-3 Å² (Z/26)^1.7``, uniform background, Poisson
counts at dose × efficiency). TM is an average Z = 27 (Ni/Mn/Co). Columns hold whole atoms:
one atom per 4.93 Å (√3 a_hex) along the beam.
"""
from __future__ import annotations

import numpy as np

from .specimen import Specimen
from .stem_image_model import StemImaging, check_image_geometry, image_signal, poisson_counts, render_columns

ROW_SPACING_A = 1.422
LAYER_SPACING_A = 4.74
O_OFFSET_A = 1.05
REPEAT_A = 4.93
Z = {"Li": 3, "O": 8, "TM": 27}

PHYSICS = (
    "Layered oxide [1-10]_hex: TM-layer, O and Li-layer columns (1.422 Å along rows, 4.74 Å "
    "between layers); a C2/m domain with Li on every third TM-layer column; a TM-rich surface "
    "layer with TM on Li-layer sites. Incoherent HAADF: background + sum_k sigma_k P(r - r_k), "
    "sigma_k = 1e-3 A^2 sum n (Z/26)^1.7, Gaussian probe plus weak tail averaged over the pixel, "
    "Poisson counts."
)


def layered_oxide_haadf(*, seed: int = 0, shape=(320, 320), pixel_size_A: float = 0.1,
                        thickness_nm: float = 15.0, rotation_deg: float = 2.0,
                        c2m_region=(0.55, 1.0), c2m_phase: int = 0,
                        surface_x_frac: float = 0.08, tm_rich_depth_A: float = 8.0,
                        tm_rich_occupancy: float = 0.6, dose_e_per_A2: float = 4.0e4,
                        probe_sigma_A: float = 0.35, tail_fraction: float = 0.05,
                        noise: bool = True) -> Specimen:
    """HAADF of a layered oxide with a C2/m domain and a TM-rich surface layer, with truth.

    Returns
    -------
    Specimen
        Signal ``layered_oxide_haadf``; truth columns (``x_px``, ``y_px``, ``site`` in
        {"TM", "Li", "O"}, ``tm_fraction`` of the column's sites, ``domain`` in {"R-3m",
        "C2/m"}, ``h``, ``k``, ``depth_A`` from the surface), the surface line, lattice
        vectors in pixels and all parameters.
    """
    ny, nx = check_image_geometry(shape, pixel_size_A)
    if not 0 <= tm_rich_occupancy <= 1 or tm_rich_depth_A < 0:
        raise ValueError("tm_rich_occupancy must be in [0, 1] and tm_rich_depth_A >= 0")
    if c2m_phase not in (0, 1, 2):
        raise ValueError(f"c2m_phase must be 0, 1 or 2, got {c2m_phase}")
    imaging = StemImaging(dose_e_per_A2=dose_e_per_A2, probe_sigma_A=probe_sigma_A,
                          tail_fraction=tail_fraction)
    rng_geom, rng_noise = np.random.default_rng(seed).spawn(2)
    th = np.deg2rad(rotation_deg)
    ex, ey = np.array([np.cos(th), np.sin(th)]), np.array([-np.sin(th), np.cos(th)])
    a_vec, b_vec = ROW_SPACING_A * ex, LAYER_SPACING_A * ey
    origin = np.array([nx, ny]) * pixel_size_A / 2 + rng_geom.uniform(-0.5, 0.5, 2) * [ROW_SPACING_A, LAYER_SPACING_A]
    span = int(np.ceil(np.hypot(nx, ny) * pixel_size_A / ROW_SPACING_A)) + 4
    hh, kk = np.meshgrid(np.arange(-span, span + 1), np.arange(-span // 3 - 2, span // 3 + 3), indexing="ij")
    hh, kk = hh.ravel(), kk.ravel()
    offsets = {"TM": 0.0, "O+": O_OFFSET_A, "O-": -O_OFFSET_A, "Li": 0.5 * LAYER_SPACING_A}
    xs, ys, site, h_idx, k_idx = [], [], [], [], []
    for name, dy in offsets.items():
        p = origin + np.outer(hh, a_vec) + np.outer(kk, b_vec) + dy * ey
        xs.append(p[:, 0] / pixel_size_A)
        ys.append(p[:, 1] / pixel_size_A)
        site += [name[0] if name.startswith("O") else name] * len(hh)
        h_idx.append(hh)
        k_idx.append(kk)
    x, y = np.concatenate(xs), np.concatenate(ys)
    site = np.array(site)
    h_all, k_all = np.concatenate(h_idx), np.concatenate(k_idx)
    margin = 5 * probe_sigma_A / pixel_size_A + 2
    surface_x = surface_x_frac * nx
    # depth from the surface line x' = surface_x, measured along the row direction
    depth_A = (x - surface_x) * pixel_size_A  # surface normal to image x (rows nearly along x)
    keep = (depth_A >= 0) & (x > -margin) & (x < nx + margin) & (y > -margin) & (y < ny + margin)
    x, y, site, h_all, k_all, depth_A = x[keep], y[keep], site[keep], h_all[keep], k_all[keep], depth_A[keep]
    n_sites = int(round(thickness_nm * 10.0 / REPEAT_A))
    x_frac = x / nx
    in_c2m = (x_frac >= c2m_region[0]) & (x_frac < c2m_region[1])
    li_in_tm = in_c2m & (site == "TM") & (np.mod(h_all - c2m_phase, 3) == 0)
    tm_fraction = np.where(site == "TM", 1.0, 0.0)
    tm_fraction[li_in_tm] = 0.0
    surf = (site == "Li") & (depth_A < tm_rich_depth_A)
    n_tm = np.where(surf, np.rint(tm_rich_occupancy * n_sites), np.rint(tm_fraction * n_sites))
    tm_fraction = np.where(site == "O", 0.0, n_tm / n_sites)
    n_li = np.where(site == "O", 0, n_sites - n_tm)
    n_o = np.where(site == "O", n_sites, 0)
    per_atom = {k: 1e-3 * (v / 26.0) ** imaging.haadf_z_exponent for k, v in Z.items()}
    cross = n_tm * per_atom["TM"] + n_li * per_atom["Li"] + n_o * per_atom["O"]
    s_px, t_px = probe_sigma_A / pixel_size_A, imaging.tail_sigma_A / pixel_size_A
    maps = render_columns(x, y, cross, shape=(ny, nx), sigma_px=s_px, tail_fraction=tail_fraction,
                          tail_sigma_px=t_px)[0]
    vacuum = np.arange(nx)[None, :] < surface_x
    bg = np.where(vacuum, 0.2, 1.0) * imaging.haadf_background
    expected = imaging.dose_e_per_A2 * imaging.haadf_efficiency * (pixel_size_A ** 2 * bg + maps)
    img = poisson_counts(expected, rng_noise) if noise else expected.astype(np.float32)
    inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    domain = np.where(in_c2m, "C2/m", "R-3m")
    truth = {
        "units": {"x_px": "pixel", "y_px": "pixel", "depth_A": "Å", "tm_fraction": "fraction of sites"},
        "pixel_convention": "img[y, x]; pixel centres at integer indices; x_A = x_px * pixel_size_A",
        "columns": {"x_px": x[inside].tolist(), "y_px": y[inside].tolist(),
                    "site": site[inside].tolist(), "tm_fraction": tm_fraction[inside].tolist(),
                    "domain": domain[inside].tolist(), "h": h_all[inside].astype(int).tolist(),
                    "k": k_all[inside].astype(int).tolist(), "depth_A": depth_A[inside].tolist(),
                    "haadf_cross_section_A2": cross[inside].tolist()},
        "surface": {"x_px": float(surface_x), "normal": [1.0, 0.0]},
        "tm_rich_depth_A": float(tm_rich_depth_A), "tm_rich_occupancy": float(tm_rich_occupancy),
        "c2m_region_x_frac": list(map(float, c2m_region)), "c2m_phase": int(c2m_phase),
        "lattice": {"row_px": (a_vec / pixel_size_A).tolist(), "layer_px": (b_vec / pixel_size_A).tolist(),
                    "origin_px": (origin / pixel_size_A).tolist()},
        "parameters": {"seed": int(seed), "shape": [ny, nx], "pixel_size_A": float(pixel_size_A),
                       "thickness_nm": float(thickness_nm), "rotation_deg": float(rotation_deg),
                       "noise": bool(noise)},
        "imaging": imaging.to_dict(),
    }
    sig = image_signal("layered_oxide_haadf", "Li-rich layered oxide [1-10] HAADF", img,
                       pixel_size_A=pixel_size_A,
                       acquisition=imaging.acquisition("HAADF", pixel_size_A=pixel_size_A, shape=(ny, nx)))
    return Specimen("layered_oxide_columns", "Layered oxide HAADF: C2/m domain, TM-rich surface",
                    (sig,), truth, PHYSICS, seed=int(seed))
