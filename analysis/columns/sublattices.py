"""Sublattices: fit a projected structure to found columns, place faint sites, measure all sites.

1. **Lattice** from the bright columns (:func:`.lattice.find_basis`).
2. **Structure match**: every cell of the data shaped like the structure's projected cell
   (rational combinations ``(i a + j b) / q`` of the found basis, so the found lattice
   may be the structure's, a pseudo-lattice of the bright columns or a superlattice of
   it; mirror images included: a projection viewed from the other side is the mirror
   image), with lengths (pixel size known) or length ratio, and angle agreeing, is tried
   with every origin that puts a bright motif site on a found column; the choice mapping
   most found columns onto bright sites wins.
3. **Refinement**: every site is fitted with a Gaussian (``refine.refine_columns``, with
   the neighbours' tails subtracted); the heaviest sites' fits define origin and basis by
   least squares (:func:`.lattice.refine_lattice`); each column gets its site, cell index
   ``(h, k)`` and fractional position.
4. **Faint sites** (Li, O …) are placed from the lattice and the known motif, corrected
   by the local displacement field of the matched bright columns (an affine fit to the
   nearest ones), so strain, domain walls and scan distortion move them with their
   neighbours. They are then measured at these fixed positions: free Gaussian fits on
   faint columns are unstable and threshold peak finding misses them.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from .lattice import Lattice2D, find_basis, refine_lattice
from .structures import ProjectedStructure


@dataclass
class SiteTable:
    """Every motif site on the image: position, site, cell and how it was placed.

    Arrays of length n: ``x``, ``y`` (pixels), ``site`` (index into ``structure.sites``),
    ``h``, ``k`` (cell), ``u``, ``w`` (global fractional coordinates ``h + u_site``),
    ``matched`` (a found column was matched to it), ``residual`` (n, 2) displacement of
    matched columns from the global lattice (NaN otherwise).
    """

    structure: ProjectedStructure
    lattice: Lattice2D
    x: np.ndarray
    y: np.ndarray
    site: np.ndarray
    h: np.ndarray
    k: np.ndarray
    matched: np.ndarray
    residual: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def xy(self) -> np.ndarray:
        return np.column_stack([self.x, self.y])

    @property
    def frac(self) -> np.ndarray:
        f = self.structure.fractional()[self.site]
        return np.column_stack([self.h + f[:, 0], self.k + f[:, 1]])

    @property
    def labels(self) -> np.ndarray:
        return np.array(self.structure.labels)[self.site]

    def of_label(self, label: str) -> np.ndarray:
        """Boolean mask of the columns of one site label."""
        return self.labels == label

    def subset(self, keep) -> "SiteTable":
        keep = np.asarray(keep)
        return SiteTable(self.structure, self.lattice, self.x[keep], self.y[keep], self.site[keep],
                         self.h[keep], self.k[keep], self.matched[keep], self.residual[keep],
                         dict(self.extra))


def _cell_candidates(basis_px, structure: ProjectedStructure, pixel_size_A, tol: float):
    """Cells of the data (rational combinations of the found basis) shaped like the structure's.

    Rows are taken from ``(i b1 + j b2) / q``: the found lattice may be the structure's
    (q = 1), a finer pseudo-lattice of the bright columns, or a superlattice of it (q = 2, 3:
    e.g. the Li–TM–TM rows of a C2/m domain indexed with the R-3m cell).
    """
    s = np.asarray(structure.basis_A, float)
    s_len = np.linalg.norm(s, axis=1)
    s_cos = s[0] @ s[1] / s_len.prod()
    ij = np.array([(i, j, q) for q in (1, 2, 3) for i in range(-2, 3) for j in range(-2, 3)
                   if (i, j) != (0, 0) and np.gcd.reduce([i, j, q]) == 1])
    vecs = (ij[:, :2] @ basis_px) / ij[:, 2:3]
    lens = np.linalg.norm(vecs, axis=1)
    scale = (1.0 / pixel_size_A) if pixel_size_A else None

    def length_ok(k, target):
        if scale:
            return abs(lens[k] / (target * scale) - 1) <= tol
        return True

    first = [k for k in range(len(vecs)) if length_ok(k, s_len[0])]
    second = [k for k in range(len(vecs)) if length_ok(k, s_len[1])]
    out, seen = [], []
    for k1, k2 in itertools.product(first, second):
        b = np.array([vecs[k1], vecs[k2]])
        det = b[0, 0] * b[1, 1] - b[0, 1] * b[1, 0]
        if abs(det) < 1e-6 * lens[k1] * lens[k2]:
            continue
        if abs(b[0] @ b[1] / (lens[k1] * lens[k2]) - s_cos) > 0.1:
            continue
        if not scale and abs((lens[k2] / lens[k1]) / (s_len[1] / s_len[0]) - 1) > tol:
            continue
        if any(np.allclose(b, c, atol=1e-6) for c in seen):
            continue
        seen.append(b)
        out.append(b)
    # simplest first: the found cell itself before fractions of it
    order = sorted(range(len(out)), key=lambda n: abs(abs(np.linalg.det(out[n]))
                                                       - abs(np.linalg.det(basis_px))))
    return [out[n] for n in order]


def match_structure(xy, structure: ProjectedStructure, *, pixel_size_A: float | None = None,
                    basis_px=None, weights=None, bright_fraction: float = 0.3,
                    tol_px: float | None = None, length_tol: float = 0.12) -> Lattice2D:
    """Lattice (origin at motif fractional (0, 0)) that puts the structure on found columns.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Found (bright) columns, pixels.
    structure : ProjectedStructure
    pixel_size_A : float, optional
        If given, the cell lengths must match the structure's within ``length_tol``;
        otherwise only the length ratio and angle are used.
    basis_px : ndarray (2, 2), optional
        Lattice basis if already known; found from ``xy`` otherwise.
    weights : ndarray of shape (n_sites,), optional
        Site brightness used to pick the bright sites (HAADF ``Z^1.7`` by default).

    Raises
    ------
    ValueError
        If no cell of the data agrees with the structure.
    """
    xy = np.asarray(xy, float)
    basis_px = find_basis(xy) if basis_px is None else np.asarray(basis_px, float)
    cands = _cell_candidates(basis_px, structure, pixel_size_A, length_tol)
    if not cands:
        a, b = np.linalg.norm(basis_px, axis=1) * (pixel_size_A or 1.0)
        unit = "Å" if pixel_size_A else "px"
        raise ValueError(f"the lattice found ({a:.3g} × {b:.3g} {unit}) does not match the "
                         f"{structure.name} projection ({' × '.join(f'{v:.3g}' for v in np.linalg.norm(structure.basis_A, axis=1))} Å)")
    w = structure.haadf_weights() if weights is None else np.asarray(weights, float)
    bright = np.flatnonzero(w >= bright_fraction * w.max())
    motif = structure.fractional()
    tree = cKDTree(xy)
    centre = np.median(xy, axis=0)
    probes = xy[np.argsort(np.linalg.norm(xy - centre, axis=1))[:4]]
    best = (-np.inf, None)
    for b in cands:
        tol = tol_px or 0.2 * _min_site_distance(motif[bright], b)
        for p, s in itertools.product(probes, bright):
            origin = p - motif[s] @ b
            lat = Lattice2D(origin, b)
            pred = _tile(lat, motif[bright], xy)
            d, _ = tree.query(pred, distance_upper_bound=tol)
            score = float(np.isfinite(d).sum()) - 0.25 * float(np.sum(~np.isfinite(d)))
            if score > best[0] + 1e-9:
                best = (score, lat)
    return best[1]


def _min_site_distance(frac, basis) -> float:
    f = np.asarray(frac, float)
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=2)), float)
    pts = (f[:, None, :] + shifts[None]).reshape(-1, 2) @ basis
    dd = np.linalg.norm(pts[None, :, :] - (f @ basis)[:, None, :], axis=2)
    dd = dd[dd > 1e-6]
    return float(dd.min()) if dd.size else float(np.linalg.norm(basis, axis=1).min())


def _nearest_bright_distance(motif, bright, basis) -> np.ndarray:
    """For each motif site, the distance (pixels) to the nearest other bright site."""
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=2)), float)
    pts = (motif[bright][:, None, :] + shifts[None]).reshape(-1, 2) @ basis
    d = np.linalg.norm((motif @ basis)[:, None, :] - pts[None], axis=2)
    d[d < 1e-6] = np.inf
    return d.min(axis=1)


def _tile(lat: Lattice2D, motif_frac, xy_bounds, margin: float = 0.0) -> np.ndarray:
    """Positions of the motif sites over the bounding box of ``xy_bounds`` (pixels)."""
    hk, site = _cells_covering(lat, motif_frac, xy_bounds, margin)
    return lat.to_xy(hk + np.asarray(motif_frac)[site])


def _cells_covering(lat: Lattice2D, motif_frac, xy_bounds, margin: float):
    xy_bounds = np.asarray(xy_bounds, float)
    lo, hi = xy_bounds.min(axis=0) - margin, xy_bounds.max(axis=0) + margin
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]])
    f = lat.to_fractional(corners)
    h = np.arange(int(np.floor(f[:, 0].min())) - 1, int(np.ceil(f[:, 0].max())) + 2)
    k = np.arange(int(np.floor(f[:, 1].min())) - 1, int(np.ceil(f[:, 1].max())) + 2)
    hh, kk, ss = np.meshgrid(h, k, np.arange(len(motif_frac)), indexing="ij")
    hk = np.column_stack([hh.ravel(), kk.ravel()]).astype(float)
    site = ss.ravel()
    pos = lat.to_xy(hk + np.asarray(motif_frac)[site])
    keep = np.all((pos >= lo) & (pos <= hi), axis=1)
    return hk[keep], site[keep]


def assign_sites(xy, structure: ProjectedStructure, shape, *, pixel_size_A: float | None = None,
                 basis_px=None, weights=None, bright_fraction: float = 0.3, n_local: int = 12,
                 lattice: Lattice2D | None = None) -> SiteTable:
    """All motif sites on an image of ``shape``: matched bright columns plus placed faint sites.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Found (ideally refined) bright columns, pixels.
    structure : ProjectedStructure
    shape : (int, int)
        Image shape (ny, nx); sites whose centre lies on the image are returned.
    pixel_size_A, basis_px, weights, bright_fraction
        As in :func:`match_structure`.
    n_local : int
        Matched columns used for the local affine correction of each placed site.
    lattice : Lattice2D, optional
        Skip the structure match and use this lattice as the starting point.

    Returns
    -------
    SiteTable
        Matched bright sites at their measured positions, all other sites placed.
    """
    xy = np.asarray(xy, float)
    lat = lattice or match_structure(xy, structure, pixel_size_A=pixel_size_A, basis_px=basis_px,
                                     weights=weights, bright_fraction=bright_fraction)
    w = structure.haadf_weights() if weights is None else np.asarray(weights, float)
    bright = np.flatnonzero(w >= bright_fraction * w.max())
    motif = structure.fractional()
    tol = 0.25 * _min_site_distance(motif[bright], lat.basis)
    for _ in range(3):
        hk, site = _cells_covering(lat, motif, xy, margin=2 * np.abs(lat.basis).max())
        pred = lat.to_xy(hk + motif[site])
        is_bright = np.isin(site, bright)
        d, j = cKDTree(xy).query(pred[is_bright], distance_upper_bound=tol)
        ok = np.isfinite(d)
        # one found column per site: keep the nearest claim
        claimed = {}
        for n in np.flatnonzero(ok):
            if j[n] not in claimed or d[n] < d[claimed[j[n]]]:
                claimed[j[n]] = n
        rows = np.array(list(claimed.values()), dtype=int)
        bidx = np.flatnonzero(is_bright)[rows]
        frac = hk[bidx] + motif[site[bidx]]
        if len(rows) < 4:
            raise ValueError("too few found columns match the structure to refine the lattice")
        lat, _ = refine_lattice(xy[j[rows]], frac)
    ny, nx = shape
    hk, site = _cells_covering(lat, motif, [[-0.5, -0.5], [nx - 0.5, ny - 0.5]], 0.0)
    pred = lat.to_xy(hk + motif[site])
    is_bright = np.isin(site, bright)
    d, j = cKDTree(xy).query(pred, distance_upper_bound=tol)
    matched = is_bright & np.isfinite(d)
    # unique claims
    order = np.argsort(np.where(matched, d, np.inf))
    used, keep_match = set(), np.zeros_like(matched)
    for n in order:
        if not matched[n]:
            break
        if j[n] not in used:
            used.add(j[n])
            keep_match[n] = True
    matched = keep_match
    pos = pred.copy()
    pos[matched] = xy[j[matched]]
    resid = np.full_like(pos, np.nan)
    resid[matched] = pos[matched] - pred[matched]
    if matched.sum() >= 3:
        pos[~matched] = pred[~matched] + local_displacement(pred[matched], resid[matched],
                                                            pred[~matched], n_local=n_local)
    inside = (pos[:, 0] >= -0.5) & (pos[:, 0] < nx - 0.5) & (pos[:, 1] >= -0.5) & (pos[:, 1] < ny - 0.5)
    if matched.sum() >= 3:
        inside &= _on_the_crystal(pos, matched, is_bright, site, motif, bright, lat.basis)
    return SiteTable(structure, lat, pos[inside, 0], pos[inside, 1], site[inside],
                     hk[inside, 0].astype(int), hk[inside, 1].astype(int), matched[inside],
                     resid[inside])


def _on_the_crystal(pos, matched, is_bright, site, motif, bright, basis) -> np.ndarray:
    """Sites that belong to the crystal: no sites in vacuum beyond a surface or off the edge.

    A placed faint site is kept when a matched column is as near as its nearest bright site
    in the structure (the sites beside the found ones, up to the surface); any placed site
    is kept inside the convex hull of the matched columns (a dark Li column in a TM row of a
    C2/m domain, and the sites beside it). Sites beyond a (convex) surface are neither.
    """
    from scipy.spatial import ConvexHull

    keep = matched.copy()
    reach = _nearest_bright_distance(motif, bright, basis)[site] * 1.05 + 0.5
    near_one = cKDTree(pos[matched]).query(pos)[0] <= reach
    keep |= near_one & ~is_bright
    try:
        hull = ConvexHull(pos[matched])
    except Exception:  # degenerate (collinear) matched set: no hull to test against
        return keep
    eq = hull.equations
    keep |= np.all(pos @ eq[:, :2].T + eq[:, 2] <= 1e-6, axis=1)
    return keep


def local_displacement(known_xy, known_disp, query_xy, *, n_local: int = 12) -> np.ndarray:
    """Displacement at ``query_xy`` from an affine fit to the ``n_local`` nearest known ones.

    Weighted by a Gaussian of the distance (scale: the distance to the ``n_local``-th
    neighbour), so a site follows the strain and scan distortion of its neighbourhood.
    """
    known_xy, known_disp = np.asarray(known_xy, float), np.asarray(known_disp, float)
    query_xy = np.asarray(query_xy, float)
    k = min(n_local, len(known_xy))
    if len(query_xy) == 0:
        return np.zeros((0, 2))
    dist, idx = cKDTree(known_xy).query(query_xy, k=k)
    dist, idx = np.atleast_2d(dist), np.atleast_2d(idx)
    out = np.empty((len(query_xy), 2))
    for q in range(len(query_xy)):
        p = known_xy[idx[q]] - query_xy[q]
        scale = max(dist[q, -1], 1e-6)
        wq = np.exp(-0.5 * (dist[q] / (0.7 * scale)) ** 2)
        design = np.column_stack([np.ones(k), p]) * np.sqrt(wq)[:, None]
        if k >= 6:
            sol, *_ = np.linalg.lstsq(design, known_disp[idx[q]] * np.sqrt(wq)[:, None], rcond=None)
            out[q] = sol[0]
        else:
            out[q] = np.average(known_disp[idx[q]], axis=0, weights=wq)
    return out


def bright_subset(image, xy, *, smoothing_px: float, dark_columns: bool = False) -> np.ndarray:
    """Mask of the brightest class of found columns (Otsu split of their smoothed peak values).

    The lattice is found on these: in HAADF they are the heaviest sublattice (Fe in
    LiFePO4, TM in layered oxides), which is present in every cell; weaker detections
    (merged O/P blobs) come and go with noise.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    img = -np.asarray(image, float) if dark_columns else np.asarray(image, float)
    sm = ndimage.gaussian_filter(img, smoothing_px, mode="nearest")
    ij = np.clip(np.rint(xy[:, ::-1]).astype(int), 0, np.array(img.shape) - 1)
    v = sm[ij[:, 0], ij[:, 1]]
    if len(v) < 12 or np.ptp(v) == 0:
        return np.ones(len(v), dtype=bool)
    keep = v > threshold_otsu(v)
    return keep if keep.sum() >= 6 else np.ones(len(v), dtype=bool)


def find_sublattices(image, structure: ProjectedStructure, *, pixel_size_A: float | None = None,
                     dark_columns: bool = False, weights=None,
                     refine_fraction: float = 0.6) -> tuple[SiteTable, object]:
    """Find, refine and index the bright columns; place every motif site on the image.

    Parameters
    ----------
    image : ndarray (ny, nx)
        HAADF (or ABF with ``dark_columns``; then give ABF-like ``weights``).
    structure : ProjectedStructure
    pixel_size_A : float, optional
        Calibrated pixel size; sets the peak-finding separation from the structure and
        checks the cell lengths.
    refine_fraction : float
        Sites at least this fraction as bright as the brightest are fitted with Gaussians
        (and define the lattice); the others are placed and measured at fixed positions.

    Returns
    -------
    (SiteTable, ColumnFits)
        Sites (bright ones at their refined positions) and the Gaussian fits of the
        matched bright columns (``table.extra["fit_index"]`` maps table rows to fits, -1
        for placed sites); ``table.extra["sigma_px"]`` is the median fitted width.
    """
    from .find import find_columns
    from .refine import refine_columns

    img = np.asarray(image, float)
    w = structure.haadf_weights() if weights is None else np.asarray(weights, float)
    min_sep = None
    if pixel_size_A:
        bright = np.flatnonzero(w >= 0.3 * w.max())
        d = _min_site_distance(structure.fractional()[bright], np.asarray(structure.basis_A))
        min_sep = max(2.0, 0.6 * d / pixel_size_A)
    xy = find_columns(img, min_separation_px=min_sep, dark_columns=dark_columns)
    smoothing = max(1.0, 0.15 * (min_sep or 8.0))
    sel = bright_subset(img, xy, smoothing_px=smoothing, dark_columns=dark_columns)
    basis = find_basis(xy[sel])
    table = assign_sites(xy, structure, img.shape, pixel_size_A=pixel_size_A, basis_px=basis,
                         weights=w)
    # Every site is fitted (with neighbour subtraction), so the tails of the light columns
    # (O beside Fe) do not pull the heavy ones; only the heaviest sites (Fe, TM), whose fits
    # are reliable, define the refined lattice; the others are placed from it.
    heavy = np.flatnonzero(w >= refine_fraction * w.max())
    fits = refine_columns(img, table.xy, dark_columns=dark_columns)
    motif = structure.fractional()
    others = np.setdiff1d(np.arange(len(motif)), heavy)
    limit = 0.3 * (_nearest_bright_distance(motif, heavy, table.lattice.basis)[others].min()
                   if others.size else np.linalg.norm(table.lattice.basis, axis=1).min())
    ok = fits.converged & np.all(np.isfinite(np.column_stack([fits.x, fits.y])), axis=1)
    ok &= np.hypot(fits.x - table.x, fits.y - table.y) < limit
    ok &= table.matched & np.isin(table.site, heavy)
    refined_xy = np.column_stack([fits.x, fits.y])[ok]
    table = assign_sites(refined_xy, structure, img.shape, pixel_size_A=pixel_size_A,
                         weights=np.where(np.isin(np.arange(len(w)), heavy), w, 0.0),
                         lattice=table.lattice)
    # map table rows back to the fits of their refined column
    fit_rows = np.flatnonzero(ok)
    tree = cKDTree(refined_xy)
    fit_index = np.full(len(table.x), -1)
    if table.matched.any():
        _, j = tree.query(table.xy[table.matched])
        fit_index[table.matched] = fit_rows[j]
    sig = np.sqrt(fits.sigma_x * fits.sigma_y)[ok]
    table.extra["fit_index"] = fit_index
    table.extra["sigma_px"] = float(np.median(sig)) if sig.size else float("nan")
    table.extra["n_found"] = int(len(xy))
    return table, fits


def measure_sites(image, table: SiteTable, *, sigma_px: float, dark_columns: bool = False):
    """Integrated intensity of every site at its fixed position (see ``refine.measure_at_sites``).

    Dark (ABF) columns: the intensity is the integrated dip (positive when the column is there).
    """
    from .refine import measure_at_sites

    return measure_at_sites(np.asarray(image, float), table.xy, sigma_px=sigma_px,
                            dark_columns=dark_columns)
