"""Strain and lattice-parameter maps from refined, indexed column positions.

Real-space method (the peak-pairs idea of Galindo et al., Ultramicroscopy 107 (2007)
1186, generalised to a least-squares neighbourhood): around every indexed column, the
local basis ``B_loc`` is the least-squares solution of ``p_j - p_i = (f_j - f_i) B_loc``
over its ``n_neighbours`` nearest indexed columns (``f`` fractional lattice
coordinates). Against a reference basis ``B_ref`` (the global lattice, or the lattice of a
chosen reference region) the deformation gradient is ``F = (B_ref^-1 B_loc)^T``; the
small-strain tensor is ``eps = (F + F^T)/2 - I`` and the rigid rotation
``omega = (F_yx - F_xy)/2`` (radians), both in the image frame (x right, y down).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class StrainMap:
    """Per column: ``exx``, ``eyy``, ``exy`` (tensor shear), ``rotation`` (rad), local basis
    ``local_basis`` (n, 2, 2) in pixels and its lengths ``a_px``, ``b_px``."""

    x: np.ndarray
    y: np.ndarray
    exx: np.ndarray
    eyy: np.ndarray
    exy: np.ndarray
    rotation: np.ndarray
    local_basis: np.ndarray
    a_px: np.ndarray
    b_px: np.ndarray


def local_bases(xy, frac, *, n_neighbours: int = 12) -> np.ndarray:
    """Least-squares local basis (n, 2, 2) around every position (rows: a, b in pixels)."""
    xy, frac = np.asarray(xy, float), np.asarray(frac, float)
    if xy.shape != frac.shape or xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy and frac must both have shape (n, 2), got {xy.shape}, {frac.shape}")
    k = min(n_neighbours + 1, len(xy))
    if k < 4:
        raise ValueError(f"need at least 4 indexed columns, got {len(xy)}")
    _, idx = cKDTree(xy).query(xy, k=k)
    out = np.full((len(xy), 2, 2), np.nan)
    for i in range(len(xy)):
        j = idx[i, 1:]
        df, dp = frac[j] - frac[i], xy[j] - xy[i]
        if np.linalg.matrix_rank(df) < 2:
            continue
        out[i], *_ = np.linalg.lstsq(df, dp, rcond=None)
    return out


def strain_map(xy, frac, reference_basis, *, n_neighbours: int = 12) -> StrainMap:
    """Strain, rotation and local lattice parameters at every indexed column.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Refined positions (pixels) of columns of one or more sublattices.
    frac : ndarray of shape (n, 2)
        Their fractional lattice coordinates (``h + u_site``, ``k + w_site``).
    reference_basis : ndarray of shape (2, 2)
        Unstrained basis (rows a, b; pixels), e.g. the global lattice or a reference area.
    n_neighbours : int
        Neighbours in each local fit (more: smoother, less noisy, less local).
    """
    ref = np.asarray(reference_basis, float)
    if ref.shape != (2, 2) or abs(np.linalg.det(ref)) < 1e-9:
        raise ValueError(f"reference_basis must be a non-singular (2, 2) array, got {ref}")
    bases = local_bases(xy, frac, n_neighbours=n_neighbours)
    f = np.einsum("ij,njk->nki", np.linalg.inv(ref), bases)  # F = (B_ref^-1 B_loc)^T
    exx = f[:, 0, 0] - 1.0
    eyy = f[:, 1, 1] - 1.0
    exy = 0.5 * (f[:, 0, 1] + f[:, 1, 0])
    rot = 0.5 * (f[:, 1, 0] - f[:, 0, 1])
    xy = np.asarray(xy, float)
    return StrainMap(xy[:, 0], xy[:, 1], exx, eyy, exy, rot, bases,
                     np.linalg.norm(bases[:, 0], axis=1), np.linalg.norm(bases[:, 1], axis=1))


def strain_of_table(table, *, labels=None, reference_basis=None, n_neighbours: int = 12) -> StrainMap:
    """Strain map of the matched (refined) columns of a :class:`~.sublattices.SiteTable`."""
    keep = table.matched.copy()
    if labels is not None:
        keep &= np.isin(table.labels, list(labels))
    ref = table.lattice.basis if reference_basis is None else reference_basis
    return strain_map(table.xy[keep], table.frac[keep], ref, n_neighbours=n_neighbours)
