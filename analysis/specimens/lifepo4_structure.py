"""Olivine LiFePO4 / FePO4 (space group Pnma, No. 62) and its atomic columns along [010].

Crystal structure
-----------------
LiFePO4 (triphylite): a = 10.332, b = 6.010, c = 4.692 Å, asymmetric unit (fractional
x, y, z; after Streltsov et al., Acta Cryst. B 49 (1993) 147)::

    Li  4a  (0,      0,      0     )
    Fe  4c  (0.2822, 1/4,    0.9747)
    P   4c  (0.0949, 1/4,    0.4182)
    O1  4c  (0.0966, 1/4,    0.7428)
    O2  4c  (0.4573, 1/4,    0.2067)
    O3  8d  (0.1656, 0.0464, 0.2847)

FePO4 (heterosite, the delithiated end member): a = 9.821, b = 5.792, c = 4.788 Å
(Padhi et al., J. Electrochem. Soc. 144 (1997) 1188). **Approximation:** its fractional
coordinates are taken equal to LiFePO4's, with the Li site empty; the real relaxation
moves atoms by a few hundredths of an ångström, far below what the images resolve.

The eight general positions of Pnma (standard setting) are applied to every site and
duplicates are removed, so the multiplicities (4 or 8) come out of the symmetry rather
than being typed in.

Projection along [010]
----------------------
Viewed along b, atoms with the same (x, z) form one atomic column; its repeat along the
beam is b. Projecting the orbits gives 22 distinct columns per projected cell (a × c):
2 Li columns with 2 Li per b (Li at y = 0 and 1/2), and 4 columns each of Fe, P, O1, O2
(1 atom per b, y = 1/4 or 3/4) and O3 (2 O per b, y and 1/2 − y). The Li columns sit on
inversion centres at (x, z) = (0, 0) and (1/2, 1/2): Li planes (bc planes) at x = 0 and
x = 1/2 alternate along a with spacing a/2.

Image geometry
--------------
Crystal a maps to image +x and crystal c to image +y at zero rotation; ``rotation_deg``
turns the lattice from image +x towards image +y (clockwise on a display whose y axis
points down). Positions are in ångström in the image frame; the caller converts to
pixels. Image convention: ``img[y, x]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Species in the order used by every ``n_atoms`` array, and their atomic numbers.
SPECIES = ("Li", "Fe", "P", "O")
ATOMIC_NUMBER = {"Li": 3, "Fe": 26, "P": 15, "O": 8}

#: Pnma (No. 62) general positions as diagonal sign patterns plus translations:
#: (x,y,z) (-x+1/2,-y,z+1/2) (-x,y+1/2,-z) (x+1/2,-y+1/2,-z+1/2) and their inverses.
_PNMA_SIGNS = np.array([[1, 1, 1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1],
                        [-1, -1, -1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=float)
_PNMA_SHIFTS = np.array([[0, 0, 0], [.5, 0, .5], [0, .5, 0], [.5, .5, .5],
                         [0, 0, 0], [.5, 0, .5], [0, .5, 0], [.5, .5, .5]], dtype=float)


@dataclass(frozen=True)
class Site:
    """One crystallographic site of the asymmetric unit."""

    label: str
    species: str
    wyckoff: str
    frac: tuple[float, float, float]


@dataclass(frozen=True)
class OlivineStructure:
    """An orthorhombic Pnma olivine: lattice parameters (Å) and asymmetric unit."""

    name: str
    a_A: float
    b_A: float
    c_A: float
    sites: tuple[Site, ...]


@dataclass(frozen=True)
class ProjectedColumn:
    """One atomic column of the projected cell (view along b).

    ``u``, ``w`` are fractional coordinates along a and c in [0, 1); ``y_fracs`` are the
    fractional heights along b of the atoms in one b repeat.
    """

    site: str
    species: str
    u: float
    w: float
    y_fracs: tuple[float, ...]

    @property
    def atoms_per_b(self) -> int:
        """Number of atoms of the column in one b repeat."""
        return len(self.y_fracs)


_LFP_SITES = (
    Site("Li", "Li", "4a", (0.0, 0.0, 0.0)),
    Site("Fe", "Fe", "4c", (0.2822, 0.25, 0.9747)),
    Site("P", "P", "4c", (0.0949, 0.25, 0.4182)),
    Site("O1", "O", "4c", (0.0966, 0.25, 0.7428)),
    Site("O2", "O", "4c", (0.4573, 0.25, 0.2067)),
    Site("O3", "O", "8d", (0.1656, 0.0464, 0.2847)),
)


def lifepo4_structure() -> OlivineStructure:
    """LiFePO4 (triphylite), Pnma, a = 10.332, b = 6.010, c = 4.692 Å."""
    return OlivineStructure("LiFePO4", 10.332, 6.010, 4.692, _LFP_SITES)


def fepo4_structure() -> OlivineStructure:
    """FePO4 (heterosite), Pnma, a = 9.821, b = 5.792, c = 4.788 Å.

    Fractional coordinates are LiFePO4's without the Li site (stated approximation).
    """
    return OlivineStructure("FePO4", 9.821, 5.792, 4.788, _LFP_SITES[1:])


def _wrap(frac: np.ndarray, tol: float) -> np.ndarray:
    """Fractional coordinates into [0, 1), values within ``tol`` of 1 mapped to 0."""
    f = np.mod(frac, 1.0)
    return np.where(f > 1.0 - tol, 0.0, f)


def site_orbit(frac, *, tol: float = 1e-4) -> np.ndarray:
    """Distinct positions generated from ``frac`` by the Pnma operations.

    Parameters
    ----------
    frac : sequence of 3 floats
        Fractional (x, y, z) of the site.
    tol : float, optional
        Two positions closer than ``tol`` (fractional, per axis) are the same.

    Returns
    -------
    ndarray of shape (m, 3)
        The orbit in [0, 1)^3; ``m`` is the Wyckoff multiplicity (4 or 8 in Pnma).
    """
    frac = np.asarray(frac, dtype=float)
    if frac.shape != (3,) or not np.all(np.isfinite(frac)):
        raise ValueError(f"frac must be 3 finite numbers, got {frac!r}")
    images = _wrap(_PNMA_SIGNS * frac + _PNMA_SHIFTS, tol)
    unique: list[np.ndarray] = []
    for p in images:
        if not any(_same_frac(p, q, tol) for q in unique):
            unique.append(p)
    return np.array(unique)


def _same_frac(p: np.ndarray, q: np.ndarray, tol: float) -> bool:
    d = np.abs(p - q)
    return bool(np.all(np.minimum(d, 1.0 - d) < tol))


def project_along_b(structure: OlivineStructure, *, tol: float = 1e-4) -> tuple[ProjectedColumn, ...]:
    """Distinct atomic columns of one projected cell, viewed along [010].

    Parameters
    ----------
    structure : OlivineStructure
        The crystal.
    tol : float, optional
        Fractional tolerance for merging positions into one column.

    Returns
    -------
    tuple of ProjectedColumn
        Sorted by site order of the asymmetric unit, then (u, w).
    """
    out: list[ProjectedColumn] = []
    for site in structure.sites:
        groups: list[tuple[np.ndarray, list[float]]] = []
        for x, y, z in site_orbit(site.frac, tol=tol):
            xz = np.array([x, z])
            for key, ys in groups:
                if _same_frac(xz, key, tol):
                    ys.append(float(y))
                    break
            else:
                groups.append((xz, [float(y)]))
        for xz, ys in sorted(groups, key=lambda g: (g[0][0], g[0][1])):
            out.append(ProjectedColumn(site.label, site.species, float(xz[0]), float(xz[1]),
                                       tuple(sorted(ys))))
    return tuple(out)


@dataclass(frozen=True)
class ColumnTiling:
    """Columns tiled over a field of view (positions in Å, image frame).

    ``column`` indexes the projected-cell column list; ``cell_a``/``cell_c`` are the cell
    indices; ``u``/``w`` are global fractional coordinates (``u = cell_a + local u``).
    ``origin_A`` is the image position of fractional (0, 0) (a Li column), ``a_vec_A``
    and ``c_vec_A`` the lattice vectors in the image frame.
    """

    x_A: np.ndarray
    y_A: np.ndarray
    column: np.ndarray
    cell_a: np.ndarray
    cell_c: np.ndarray
    u: np.ndarray
    w: np.ndarray
    origin_A: tuple[float, float]
    a_vec_A: tuple[float, float]
    c_vec_A: tuple[float, float]

    def lattice_px(self, pixel_size_A: float) -> dict:
        """JSON-ready lattice in pixels: ``origin_px`` (a Li column), ``a_px``, ``c_px`` (x, y)."""
        return {"origin_px": [v / pixel_size_A for v in self.origin_A],
                "a_px": [v / pixel_size_A for v in self.a_vec_A],
                "c_px": [v / pixel_size_A for v in self.c_vec_A]}


def lattice_vectors_A(a_A: float, c_A: float, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Image-frame (x, y) vectors of crystal a and c after rotation, in Å."""
    th = np.deg2rad(rotation_deg)
    return (a_A * np.array([np.cos(th), np.sin(th)]),
            c_A * np.array([-np.sin(th), np.cos(th)]))


def tile_columns(columns, *, a_A: float, c_A: float, field_A, rotation_deg: float = 0.0,
                 origin_A=(0.0, 0.0), a_cells=(None, None),
                 cell_start_frac: float = 0.0) -> ColumnTiling:
    """Tile the projected-cell columns over a rectangular field of view.

    Parameters
    ----------
    columns : sequence of ProjectedColumn
        Columns of one projected cell (from :func:`project_along_b`).
    a_A, c_A : float
        Lattice parameters along a (image x at zero rotation) and c (image y), Å.
    field_A : sequence of 4 floats
        ``(x_min, x_max, y_min, y_max)`` of the field in Å; columns whose centre lies
        inside (bounds included) are returned. Include any rendering margin here.
    rotation_deg : float, optional
        Lattice rotation from image +x towards image +y, degrees.
    origin_A : sequence of 2 floats, optional
        Image (x, y) in Å of fractional (0, 0) of cell (0, 0).
    a_cells : (int or None, int or None), optional
        Keep only cells ``lo <= cell_a < hi`` (``None``: unbounded), for domains.
    cell_start_frac : float, optional
        Cell ``i`` holds the columns with global ``u`` in
        ``[i + cell_start_frac, i + 1 + cell_start_frac)``.

    Returns
    -------
    ColumnTiling
    """
    if a_A <= 0 or c_A <= 0 or not np.isfinite(a_A * c_A):
        raise ValueError(f"lattice parameters must be positive and finite, got a={a_A}, c={c_A}")
    x0, x1, y0, y1 = (float(v) for v in field_A)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"field_A must be (x_min, x_max, y_min, y_max) with max > min, got {field_A}")
    if len(columns) == 0:
        raise ValueError("columns is empty")
    av, cv = lattice_vectors_A(a_A, c_A, rotation_deg)
    org = np.asarray(origin_A, dtype=float)
    inv = np.linalg.inv(np.column_stack([av, cv]))
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) - org
    uw = corners @ inv.T
    i_lo, i_hi = int(np.floor(uw[:, 0].min())) - 2, int(np.ceil(uw[:, 0].max())) + 2
    j_lo, j_hi = int(np.floor(uw[:, 1].min())) - 2, int(np.ceil(uw[:, 1].max())) + 2
    lo, hi = a_cells
    i_lo = i_lo if lo is None else max(i_lo, int(lo))
    i_hi = i_hi if hi is None else min(i_hi, int(hi))
    ii, jj, kk = np.meshgrid(np.arange(i_lo, max(i_hi, i_lo)), np.arange(j_lo, j_hi),
                             np.arange(len(columns)), indexing="ij")
    ii, jj, kk = ii.ravel(), jj.ravel(), kk.ravel()
    cu = np.array([c.u for c in columns])
    cw = np.array([c.w for c in columns])
    local_u = np.mod(cu - cell_start_frac, 1.0) + cell_start_frac
    u = ii + local_u[kk]
    w = jj + cw[kk]
    xy = org + np.outer(u, av) + np.outer(w, cv)
    keep = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    return ColumnTiling(xy[keep, 0], xy[keep, 1], kk[keep], ii[keep], jj[keep], u[keep], w[keep],
                        (float(org[0]), float(org[1])), (float(av[0]), float(av[1])),
                        (float(cv[0]), float(cv[1])))


def atoms_in_columns(columns, column_index, *, thickness_nm: float, b_A: float) -> np.ndarray:
    """Whole numbers of atoms of each species in every tiled column.

    A column of a crystal ``thickness_nm`` thick holds ``atoms_per_b * t / b`` atoms,
    rounded to the nearest integer (each column holds whole atoms).

    Returns
    -------
    ndarray of int64, shape (n_columns, len(SPECIES))
    """
    if not (thickness_nm > 0 and np.isfinite(thickness_nm)):
        raise ValueError(f"thickness_nm must be positive and finite, got {thickness_nm}")
    per_cell = np.zeros((len(columns), len(SPECIES)), dtype=np.int64)
    for k, col in enumerate(columns):
        n = int(round(col.atoms_per_b * thickness_nm * 10.0 / b_A))
        per_cell[k, SPECIES.index(col.species)] = n
    return per_cell[np.asarray(column_index, dtype=np.int64)]


def column_truth_table(columns, tiling: ColumnTiling, n_atoms: np.ndarray, keep: np.ndarray,
                       *, pixel_size_A: float) -> dict:
    """JSON-ready per-column truth (columnar lists) for the columns selected by ``keep``.

    Keys: ``x_px``, ``y_px`` (pixel units, ``img[y, x]``, pixel centres at integer
    indices), ``x_A``, ``y_A`` (Å, ``x_A = x_px * pixel_size_A``), ``site``,
    ``species`` (nominal species of the site), ``n_atoms`` (``{species: [counts]}``),
    ``u``, ``w`` (global fractional lattice coordinates), ``cell_a``, ``cell_c``.
    """
    keep = np.asarray(keep, dtype=bool)
    idx = tiling.column[keep]
    return {
        "x_px": (tiling.x_A[keep] / pixel_size_A).tolist(),
        "y_px": (tiling.y_A[keep] / pixel_size_A).tolist(),
        "x_A": tiling.x_A[keep].tolist(),
        "y_A": tiling.y_A[keep].tolist(),
        "site": [columns[k].site for k in idx],
        "species": [columns[k].species for k in idx],
        "n_atoms": {s: n_atoms[keep, i].astype(int).tolist() for i, s in enumerate(SPECIES)},
        "u": tiling.u[keep].tolist(),
        "w": tiling.w[keep].tolist(),
        "cell_a": tiling.cell_a[keep].astype(int).tolist(),
        "cell_c": tiling.cell_c[keep].astype(int).tolist(),
    }
