"""The 2-D lattice of atomic columns: basis vectors from positions, indexing, least-squares refinement.

Basis from positions (no structure needed): a displacement ``v`` is a lattice translation
when nearly every column has another column at ``p + v``; intra-motif vectors map only a
part of the columns. Candidate vectors come from the neighbours of central columns; each
is scored by the fraction of all columns that it maps onto a column (within a tolerance
proportional to ``|v|``, so moderate strain — e.g. the ±5 % change of a across
LiFePO4/FePO4 domains — keeps one translation). The shortest well-scoring vector and the
shortest non-parallel one are Gauss-reduced and refined by least squares on all
neighbour displacements they index (the approach of real-space lattice determination used
by Atomap, Nord et al., Adv. Struct. Chem. Imaging 3 (2017) 9, with an explicit score).

Refinement on indexed positions: ``p_i = origin + (h_i + u_s) a + (k_i + w_s) b`` is linear
in ``(origin, a, b)``; solved by least squares per coordinate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Lattice2D:
    """Origin and basis vectors in pixels (``xy`` order); ``basis[0]`` = a, ``basis[1]`` = b."""

    origin: np.ndarray
    basis: np.ndarray

    def to_fractional(self, xy) -> np.ndarray:
        """Fractional lattice coordinates of positions ``xy`` (n, 2)."""
        return (np.asarray(xy, float) - self.origin) @ np.linalg.inv(self.basis)

    def to_xy(self, frac) -> np.ndarray:
        return self.origin + np.asarray(frac, float) @ self.basis

    @property
    def lengths(self) -> np.ndarray:
        return np.linalg.norm(self.basis, axis=1)

    @property
    def angle_deg(self) -> float:
        a, b = self.basis
        return float(np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))))

    def to_dict(self, pixel_size_A: float | None = None) -> dict:
        d = {"origin_px": self.origin.tolist(), "a_px": self.basis[0].tolist(),
             "b_px": self.basis[1].tolist(), "angle_deg": self.angle_deg}
        if pixel_size_A:
            d["a_A"], d["b_A"] = (self.lengths * pixel_size_A).tolist()
        return d


def gauss_reduce(v1, v2) -> np.ndarray:
    """Lagrange–Gauss reduction of a 2-D basis: shortest first, angle in [60°, 90°]."""
    a, b = np.asarray(v1, float).copy(), np.asarray(v2, float).copy()
    for _ in range(100):
        if a @ a > b @ b:
            a, b = b, a
        m = np.round(a @ b / (a @ a))
        if m == 0:
            break
        b = b - m * a
    if a @ b < 0:
        b = -b
    return np.array([a, b])


def _check_xy(xy) -> np.ndarray:
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2), got {xy.shape}")
    if len(xy) < 6:
        raise ValueError(f"need at least 6 columns to find a lattice, got {len(xy)}")
    if not np.all(np.isfinite(xy)):
        raise ValueError("positions must be finite")
    return xy


def find_basis(xy, *, min_score: float = 0.6, rel_tol: float = 0.04, n_probe: int = 40,
               n_neighbours: int = 40) -> np.ndarray:
    """Primitive lattice basis (2, 2) in pixels from column positions, Gauss-reduced.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Column positions (x, y), pixels; any motif, any subset of the sublattices as long
        as it is the same in every cell.
    min_score : float
        Fraction of columns a translation must map onto columns (edge losses included).
    rel_tol : float
        Tolerance as a fraction of ``|v|`` (absolute floor: a tenth of the median
        nearest-neighbour distance). Must stay below the
        relative deviation of any pseudo-translation of the columns given.
    n_probe, n_neighbours : int
        Central columns whose neighbour vectors are the candidates, and how many neighbours.

    Raises
    ------
    ValueError
        If no two non-parallel translations reach ``min_score``.
    """
    xy = _check_xy(xy)
    tree = cKDTree(xy)
    nn = tree.query(xy, k=2)[0][:, 1]
    floor = 0.1 * float(np.median(nn))
    centre = np.median(xy, axis=0)
    probes = np.argsort(np.linalg.norm(xy - centre, axis=1))[:n_probe]
    k = min(n_neighbours + 1, len(xy))
    _, idx = tree.query(xy[probes], k=k)
    cand = (xy[idx[:, 1:]] - xy[probes][:, None, :]).reshape(-1, 2)
    cand = cand[np.argsort(np.linalg.norm(cand, axis=1))]
    # deduplicate candidates (keep the first = shortest representative of a cluster)
    uniq: list[np.ndarray] = []
    arr = np.empty((0, 2))
    for c in cand:
        tol = max(floor, rel_tol * np.linalg.norm(c))
        if arr.size and (np.min(np.hypot(*(arr - c).T)) < tol or np.min(np.hypot(*(arr + c).T)) < tol):
            continue
        uniq.append(c)
        arr = np.array(uniq)
    # each representative becomes the mean of its cluster (single vectors carry the noise
    # of two positions)
    for n, u in enumerate(uniq):
        tol = max(floor, rel_tol * np.linalg.norm(u))
        same = np.linalg.norm(cand - u, axis=1) < tol
        flip = np.linalg.norm(cand + u, axis=1) < tol
        uniq[n] = np.concatenate([cand[same], -cand[flip]]).mean(axis=0)
    scored = []
    for c in uniq:
        s = _score(tree, xy, c, max(floor, rel_tol * np.linalg.norm(c)))
        scored.append((s, c))
    best = max(s for s, _ in scored)
    good = [c for s, c in scored if s >= max(min_score, 0.8 * best)]
    if not good:
        raise ValueError(f"no lattice translation maps more than {best:.0%} of the columns")
    v1 = good[0]
    v2 = next((c for c in good[1:] if abs(v1[0] * c[1] - v1[1] * c[0]) > 0.3 * np.linalg.norm(v1) * np.linalg.norm(c)),
              None)
    if v2 is None:
        raise ValueError("the columns show only one lattice direction (a single row?)")
    basis = gauss_reduce(v1, v2)
    return refine_basis(xy, basis, tree=tree)


def _score(tree, xy, v, tol) -> float:
    d, _ = tree.query(xy + v, distance_upper_bound=tol)
    inside = _inside_hull_box(xy, xy + v)
    return float(np.sum(np.isfinite(d) & inside) / max(1, np.sum(inside)))


def _inside_hull_box(xy, q) -> np.ndarray:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return np.all((q >= lo) & (q <= hi), axis=1)


def refine_basis(xy, basis, *, tree=None, rel_tol: float = 0.12, max_index: int = 3) -> np.ndarray:
    """Least-squares refinement of a basis on all neighbour displacements it indexes."""
    xy = np.asarray(xy, float)
    tree = tree or cKDTree(xy)
    basis = np.asarray(basis, float)
    reach = max_index * np.linalg.norm(basis, axis=1).max()
    pairs = tree.query_pairs(reach, output_type="ndarray")
    if len(pairs) == 0:
        return basis
    d = xy[pairs[:, 1]] - xy[pairs[:, 0]]
    for _ in range(2):
        hk = np.rint(d @ np.linalg.inv(basis))
        resid = d - hk @ basis
        ok = (np.any(hk != 0, axis=1)
              & (np.linalg.norm(resid, axis=1) < rel_tol * np.linalg.norm(basis, axis=1).min()))
        if ok.sum() < 4:
            return basis
        sol, *_ = np.linalg.lstsq(hk[ok], d[ok], rcond=None)
        basis = sol
    return basis


def refine_lattice(xy, frac, *, weights=None) -> tuple[Lattice2D, np.ndarray]:
    """Least-squares origin and basis from positions with known fractional coordinates.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Measured positions, pixels.
    frac : ndarray of shape (n, 2)
        Fractional coordinates ``(h + u_site, k + w_site)`` of each position.
    weights : ndarray of shape (n,), optional
        Least-squares weights (e.g. ``1 / sigma_xy**2``).

    Returns
    -------
    (Lattice2D, ndarray of shape (n, 2))
        The lattice and the residual displacements ``xy - lattice.to_xy(frac)``.
    """
    xy, frac = np.asarray(xy, float), np.asarray(frac, float)
    if xy.shape != frac.shape or xy.ndim != 2 or len(xy) < 3:
        raise ValueError(f"need >= 3 positions with matching fractional coordinates, got "
                         f"{xy.shape} and {frac.shape}")
    design = np.column_stack([np.ones(len(xy)), frac])
    w = np.ones(len(xy)) if weights is None else np.sqrt(np.asarray(weights, float))
    sol, *_ = np.linalg.lstsq(design * w[:, None], xy * w[:, None], rcond=None)
    lat = Lattice2D(sol[0], sol[1:3])
    return lat, xy - lat.to_xy(frac)


def index_columns(xy, lattice: Lattice2D, motif_frac) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest motif site and cell index ``(h, k)`` of each position.

    Returns
    -------
    (site, hk, distance_px)
        ``site`` (n,) int, ``hk`` (n, 2) int, distance to the predicted site (pixels).
    """
    f = lattice.to_fractional(xy)
    motif = np.asarray(motif_frac, float)
    rel = f[:, None, :] - motif[None, :, :]
    hk = np.rint(rel)
    dist = np.linalg.norm((rel - hk) @ lattice.basis, axis=2)
    site = np.argmin(dist, axis=1)
    rows = np.arange(len(f))
    return site, hk[rows, site].astype(int), dist[rows, site]
