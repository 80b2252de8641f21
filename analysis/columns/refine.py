"""Sub-pixel refinement of atom columns: centre of mass, then 2-D Gaussian fits.

Method
------
1. **Centre of mass** of each column in a small disc (below half the nearest-neighbour
   distance), on the image minus the disc's minimum (bright) or maximum (dark columns).
2. **Start values**: amplitude = centre pixel minus a local background (10th
   percentile of the fit window for bright columns, 90th for dark ones); width
   ``sigma_px`` or the image's column width from its autocorrelation.
3. **Gaussian fits with neighbour subtraction** (``neighbours=True``): a model image of
   all columns is rendered; each column, brightest first, is fitted on a disc of up to
   3.5 widths (less where neighbours crowd in) to the data with the *other* columns'
   model held fixed, and the model is updated with its new fit at once (Gauss–Seidel;
   the simultaneous update oscillates for strongly overlapping columns). Rounds repeat
   until the positions settle; after the first, only columns that still move (or whose
   neighbours' model changed) are refitted. Within a round the image is cut into square
   tiles in a 2 × 2 colour pattern, tiles more than two fit reaches wide: tiles of one
   colour touch disjoint pixels and are fitted in parallel (numba, where the threading
   layer is thread-safe), with exactly the result of fitting them one after another.
   Each column has its own local constant background; a
   weak prior (sd 15 %) holds widths near the image's column width, so faint columns,
   whose width the data cannot fix, do not collapse or swell. Fits are
   Levenberg–Marquardt on squared residuals weighted by the image's noise model
   (``mode="lsq"``: shot + readout noise, measured from the image) or on the Poisson
   likelihood (``mode="poisson"``: the image must be in detected counts). Both reach
   ~1.05x the Cramér–Rao bound on Poisson data; plain least squares ~1.2x.
4. **Uncertainties** from the curvature at the solution: ``s^2 (J^T J)^-1`` with the
   residual variance ``s^2`` (lsq), or the inverse Fisher information (poisson).

Columns keep the order of ``xy``; a column whose fit failed, hit a bound or left the
image has ``converged = False`` (its values are the last accepted ones).

Intensities at fixed sites (:func:`measure_at_sites`) are a joint *linear* least-squares
problem: amplitudes of Gaussians of a shared width at given positions, plus one local
background per site (each pixel belongs to the background of its nearest site), solved
at once as a sparse system, so overlapping neighbours share their signal correctly.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.spatial import cKDTree

from . import _gauss_kernels as _k
from ._column_input import check_image, check_positions
from ._parallel import pick
from .find import pixel_noise_model, pixel_noise_sd
from .lattice_spacing import estimate_column_sigma
from .site_intensities import (FIT_RADIUS_SIGMAS, SiteIntensities,  # noqa: F401 (public here too)
                               measure_at_sites)

MODES = ("lsq", "poisson")
#: Model rendering extent in column widths (the fit window radius FIT_RADIUS_SIGMAS is
#: defined with the fixed-site measurement, which uses it too).
RENDER_SIGMAS = 3.5
#: sd of the prior on each column's width, relative to the image's column width.
PRIOR_WIDTH_REL = 0.15
#: Fewest columns for which a tiled sweep runs in parallel (below, serially: see _parallel).
PARALLEL_MIN_COLUMNS = 2000
#: A column settles (is not refitted) when it and its neighbours change by less than this
#: fraction of the median position error in a round; the rounds stop when all have settled.
ROUND_TOLERANCE = 0.05


@dataclass(frozen=True)
class ColumnFits:
    """Per-column fit results (arrays of length n, in the order of the input positions).

    Positions in pixels (``x`` column index, ``y`` row of ``image[y, x]``, pixel centres at
    integers); ``amplitude`` and ``background`` in image units (``amplitude`` > 0 also for
    dark columns, whose model is ``background - amplitude * g``); ``sigma_x``/``sigma_y``
    the Gaussian sds along the axes rotated by ``theta`` (radians; 0 if isotropic);
    ``intensity`` the integrated column signal ``2 pi A sx sy`` (image units × pixels);
    ``x_err``/``y_err`` 1-sd position uncertainties; ``converged`` a bool mask.
    """

    x: np.ndarray
    y: np.ndarray
    amplitude: np.ndarray
    sigma_x: np.ndarray
    sigma_y: np.ndarray
    theta: np.ndarray
    background: np.ndarray
    intensity: np.ndarray
    x_err: np.ndarray
    y_err: np.ndarray
    converged: np.ndarray
    mode: str = "lsq"
    dark_columns: bool = False

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def xy(self) -> np.ndarray:
        """Positions as an (n, 2) array of (x, y)."""
        return np.column_stack([self.x, self.y])

    def as_table(self) -> dict:
        """Columnar table ``{name: ndarray}`` of every per-column array."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def select(self, which) -> "ColumnFits":
        """The fits of a subset of columns (bool mask or indices), e.g. one sublattice."""
        return replace(self, **{name: value[which] for name, value in self.as_table().items()})

    def params(self) -> np.ndarray:
        """Kernel parameter rows (n, 7): x, y, A, sx, sy, theta, background."""
        return np.ascontiguousarray(np.column_stack([self.x, self.y, self.amplitude, self.sigma_x,
                                                     self.sigma_y, self.theta, self.background]))


def _nn_distance(xy: np.ndarray) -> np.ndarray:
    if len(xy) < 2:
        return np.full(len(xy), np.inf)
    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def _gather(img: np.ndarray, xy: np.ndarray, radius: float) -> np.ndarray:
    """Pixel values in a disc around each position (NaN outside the image), (n, m).

    With :func:`_row_percentile`, the numpy reference of ``_k._start_values`` (tests)."""
    ir = int(np.ceil(radius))
    oy, ox = np.mgrid[-ir:ir + 1, -ir:ir + 1]
    disc = ox ** 2 + oy ** 2 <= radius ** 2
    ox, oy = ox[disc], oy[disc]
    cx, cy = np.rint(xy[:, 0]).astype(np.int64), np.rint(xy[:, 1]).astype(np.int64)
    cols, rows = cx[:, None] + ox, cy[:, None] + oy
    ny, nx = img.shape
    inside = (cols >= 0) & (cols < nx) & (rows >= 0) & (rows < ny)
    vals = img[np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)]
    return np.where(inside, vals, np.nan)


def render_model(shape, fits: ColumnFits, *, include_background: bool = False) -> np.ndarray:
    """Model image ``sum_k sign A_k g_k`` of fitted columns (plus the median background)."""
    out = np.zeros(tuple(int(v) for v in shape))
    sign = -1.0 if fits.dark_columns else 1.0
    _k._render(out.shape, fits.params(), sign, RENDER_SIGMAS, out)
    if include_background and len(fits):
        out += float(np.median(fits.background))
    return out


def refine_columns(image, xy, *, sigma_px: float | None = None, mode: str = "lsq",
                   elliptical: bool = False, dark_columns: bool = False, neighbours: bool = True,
                   fit_radius_px: float | None = None, n_rounds: int = 12,
                   max_iter: int = 30, weighted: bool = True) -> ColumnFits:
    """Refine column positions: centre of mass, then 2-D Gaussian fits.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        The image (HAADF, or ABF with ``dark_columns=True``). For ``mode="poisson"`` it
        must hold detected counts.
    xy : array_like of shape (n, 2)
        Start positions ``(x, y)`` in pixels (e.g. from :func:`.find.find_columns`).
    sigma_px : float, optional
        The image's column width (pixels): start value and centre of the weak width
        prior. If not given, the median width of the brightest columns fitted alone
        (started from the autocorrelation estimate). Widths are fitted per column.
    mode : {"lsq", "poisson"}
        Least squares, or Poisson maximum likelihood.
    elliptical : bool
        Fit ``sigma_x``, ``sigma_y`` and ``theta`` (else one isotropic width).
    dark_columns : bool
        Columns darker than the background (ABF).
    neighbours : bool
        Subtract the other columns' fitted tails from each column's window (rounds of
        fits until they settle); False fits each column alone in a window limited to half the
        nearest-neighbour distance.
    fit_radius_px : float, optional
        Radius of every column's fit window. By default ``0.5 * d + 0.5 * sigma`` with
        ``d`` the column's nearest-neighbour distance, clipped to [2, 3.5] widths.
    n_rounds : int
        Most neighbour-subtraction (Gauss–Seidel) rounds (>= 1). After a round, a column
        is refitted only if it, or a neighbour whose model reaches its window, changed by
        more than ``ROUND_TOLERANCE`` (5 %) of the median position error (or 1e-4 px) in
        position, width or amplitude (scaled to a width); the rounds stop when none did.
    max_iter : int
        Levenberg–Marquardt iterations per column and round.
    weighted : bool
        ``mode="lsq"`` only: weight the squares by the inverse noise variance of the
        image's noise model (:func:`.find.pixel_noise_model`, shot + readout noise);
        False gives plain least squares.

    Returns
    -------
    ColumnFits

    Raises
    ------
    ValueError
        For bad images (non-2-D, NaN, constant, tiny), positions outside the image,
        unknown ``mode`` or bad numbers.
    """
    img = check_image(image)
    pos = check_positions(xy, img.shape)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n_rounds < 1 or max_iter < 1:
        raise ValueError(f"n_rounds and max_iter must be >= 1, got {n_rounds}, {max_iter}")
    if mode == "poisson" and np.min(img) < -0.5 * np.ptp(img):
        raise ValueError("mode='poisson' needs an image of detected counts (mostly non-negative)")
    sign = -1.0 if dark_columns else 1.0
    n = len(pos)
    if n == 0:
        empty = np.zeros(0)
        return ColumnFits(*(empty,) * 10, np.zeros(0, dtype=bool), mode, bool(dark_columns))
    nn = _nn_distance(pos)
    nn_typ = float(np.percentile(nn, 10)) if n > 1 else float(min(img.shape))
    sigma_given = sigma_px
    if sigma_px is None:
        sigma_px = estimate_column_sigma(img)
        sigma_px = min(sigma_px, 0.5 * nn_typ) if np.isfinite(nn_typ) else sigma_px
    if not (np.isfinite(sigma_px) and sigma_px > 0.3):
        raise ValueError(f"sigma_px must be > 0.3 pixel, got {sigma_px}")
    sigma_px = float(sigma_px)
    if fit_radius_px is not None and not (np.isfinite(fit_radius_px) and fit_radius_px >= 1.5):
        raise ValueError(f"fit_radius_px must be >= 1.5 pixels, got {fit_radius_px}")

    r_com = float(max(1.5, min(1.5 * sigma_px, 0.45 * nn_typ)))
    cx, cy = np.empty(n), np.empty(n)
    pick(_k._com_refine, n, 4 * PARALLEL_MIN_COLUMNS)(img, pos[:, 0].copy(), pos[:, 1].copy(), r_com,
                                                      sign, 2, cx, cy)
    params = _start_params(img, np.column_stack([cx, cy]), sigma_px,
                           fit_radius_px or FIT_RADIUS_SIGMAS * sigma_px, sign)
    max_shift = max(1.0, min(1.5 * sigma_px, 0.5 * nn_typ))
    anchor = np.ascontiguousarray(params[:, :2].copy())
    if sigma_given is None:       # the image's column width from the brightest columns, fitted alone
        sigma_px = _shared_width(img, params, nn, sign, sigma_px, max_shift)
        params[:, _k.PSX] = params[:, _k.PSY] = sigma_px
    # least squares weighted by the image's noise model (shot + readout noise): the
    # unweighted fit is ~1.2x the Cramér–Rao bound on Poisson data, the weighted ~1.05x.
    # The Poisson likelihood weights every pixel by its own model (1 / m) and never reads
    # these weights, so its fits skip measuring the noise model (~0.1 s on a 2k image)
    noise = np.array(pixel_noise_model(img) if (weighted and mode == "lsq") else (1.0, 0.0))
    # width prior: sd PRIOR_WIDTH_REL * sigma, in the units of each cost (chi^2 or -log L)
    tau = PRIOR_WIDTH_REL * sigma_px
    if mode == "poisson":
        weight = 0.5 / tau ** 2
    else:
        weight = (1.0 if weighted else pixel_noise_sd(img) ** 2) / tau ** 2
    prior = np.array([sigma_px, weight if neighbours else 0.0])

    if fit_radius_px is None:
        # 3.5 widths where the neighbours are far; closer to half the nearest-neighbour
        # distance where they crowd in (unresolved neighbours not in xy bias less)
        radii = np.clip(0.5 * nn + 0.5 * sigma_px, 2.0 * sigma_px, FIT_RADIUS_SIGMAS * sigma_px)
        if not neighbours:
            radii = np.minimum(radii, 0.5 * nn + 0.5 * sigma_px)
        radii = np.maximum(radii, 2.5)
    else:
        radii = np.full(n, float(fit_radius_px))
    status = np.zeros(n, dtype=np.int64)
    cov = np.full((n, 7), np.nan)
    model = np.zeros(img.shape) if neighbours else np.zeros((1, 1))
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-params[:, _k.PA], kind="stable")] = np.arange(n)     # brightest first
    if neighbours:
        _k._render(img.shape, params, sign, RENDER_SIGMAS, model)
    sigma_min, sigma_max = 0.25 * sigma_px, 4.0 * sigma_px
    # every pixel a column's fit reads or writes lies within `reach` of its anchor (see
    # _k._fit_tiles): its window, and its model, rendered within RENDER_SIGMAS widths
    # (< sigma_max) of a position less than max_shift from the anchor (+1 px of rounding)
    reach = max(float(radii.max()), max_shift + RENDER_SIGMAS * sigma_max + 1.0) + 1.0
    tiles = _Tiling(anchor, 2.0 * reach, rank)

    def sweep(active):
        tile_start, members, colour_start = tiles.lists(active)
        # parallel only for many columns (several per thread and tile): see _parallel
        kernel = pick(_k._fit_tiles, int(members.size), PARALLEL_MIN_COLUMNS)
        kernel(img, model, bool(neighbours), params, anchor, tile_start, members, colour_start,
               radii, sign, bool(elliptical), mode == "poisson", int(max_iter), sigma_min,
               sigma_max, max_shift, RENDER_SIGMAS, prior, noise, status, cov, True, True)

    # Rounds until every column has settled. Each column's variances are computed right
    # after its fit (no extra pass): a column not refitted in later rounds had neighbours
    # that moved by less than the tolerance, which changes its curvature negligibly.
    # Only *active* columns are refitted: those that moved (position, width, or amplitude
    # scaled to a width) by more than the tolerance in the last round, and those whose
    # window a moved column's model reaches. A column whose own data and neighbours'
    # model did not change has the same cost function, so its fit would return the
    # same result (to within the tolerance): skipping it changes nothing measurable.
    active = np.ones(n, dtype=bool)
    influence = None
    for round_ in range(n_rounds if neighbours else 1):
        before = params.copy()
        sweep(active)
        if round_ == 0:
            e = np.sqrt(cov[:, _k.PX])
            err = float(np.median(e[np.isfinite(e)])) if np.any(np.isfinite(e)) else 0.0
            tol = max(1e-4, ROUND_TOLERANCE * err)
            # columns whose model can reach another's window: anchors closer than the
            # largest window plus the model's extent (at up to twice the image's width)
            influence = _pairs(anchor, float(radii.max()) + max_shift + 2.0 * RENDER_SIGMAS * sigma_px)
        d = np.abs(params - before)
        change = np.max(np.column_stack([d[:, _k.PX], d[:, _k.PY], d[:, _k.PSX], d[:, _k.PSY],
                                         sigma_px * d[:, _k.PA] / np.maximum(np.abs(params[:, _k.PA]), 1e-300)]),
                        axis=1)
        moved = change > tol
        if not np.any(moved):
            break
        active = moved.copy()
        if influence is not None and influence.size:
            a, b = influence[:, 0], influence[:, 1]
            active[b[moved[a]]] = True
            active[a[moved[b]]] = True
    # a fit held at the shift limit has not found its column's centre
    pinned = np.hypot(*(params[:, :2] - anchor).T) > 0.95 * max_shift
    status = np.where(pinned & (status == _k.OK), _k.NOT_CONVERGED, status)
    return _as_fits(params, cov, status, img.shape, mode, dark_columns)


def _pairs(xy: np.ndarray, reach: float) -> np.ndarray:
    """Index pairs (i, j) of positions closer than ``reach`` (an (m, 2) int array)."""
    if len(xy) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    return cKDTree(xy).query_pairs(reach, output_type="ndarray").astype(np.int64)


class _Tiling:
    """Square tiles of side ``size`` in a 2 × 2 colour pattern, for :func:`_k._fit_tiles`.

    Tiles of one colour are a whole tile apart, so columns (by anchor) in two of them
    are more than ``size`` apart along x or y: with ``size`` at least twice the reach of a
    fit, fits in different tiles of one colour touch no common pixel.
    """

    def __init__(self, anchor: np.ndarray, size: float, rank: np.ndarray):
        tx = np.floor((anchor[:, 0] + 0.5) / size).astype(np.int64)
        ty = np.floor((anchor[:, 1] + 0.5) / size).astype(np.int64)
        tx -= tx.min() if tx.size else 0
        ty -= ty.min() if ty.size else 0
        self.tile = ty * (int(tx.max()) + 1 if tx.size else 1) + tx
        self.colour = (tx % 2) + 2 * (ty % 2)
        self.rank = rank

    def lists(self, active: np.ndarray):
        """(tile_start, members, colour_start) of the active columns, brightest first per tile."""
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(5, dtype=np.int64)
        members = idx[np.lexsort((self.rank[idx], self.tile[idx], self.colour[idx]))]
        tid = self.tile[members]
        tile_start = np.concatenate([[0], np.flatnonzero(np.diff(tid)) + 1, [members.size]]).astype(np.int64)
        tile_colour = self.colour[members[tile_start[:-1]]]
        colour_start = np.searchsorted(tile_colour, np.arange(5)).astype(np.int64)
        return tile_start, np.ascontiguousarray(members, dtype=np.int64), colour_start


def _shared_width(img, params, nn, sign, sigma, max_shift) -> float:
    """Median width of the brightest columns (up to 400), each fitted alone.

    Windows of at least 2 widths (half the nearest-neighbour distance where that is
    larger, up to 3.5 widths). Widths are bounded to [0.5, 2] times the autocorrelation
    estimate ``sigma``: a fit that runs to a bound (a column merged with an unresolved
    neighbour) does not count.
    """
    bright = np.argsort(-params[:, _k.PA], kind="stable")[:max(1, min(400, len(params) // 2))]
    sub = np.ascontiguousarray(params[bright])
    radii = np.clip(0.5 * nn[bright] + 0.5 * sigma, 2.0 * sigma, FIT_RADIUS_SIGMAS * sigma)
    status = np.zeros(len(sub), dtype=np.int64)
    cov = np.full((len(sub), 7), np.nan)
    _k._fit_columns(img, np.zeros((1, 1)), False, sub, np.ascontiguousarray(sub[:, :2]), np.arange(len(sub)),
                    np.ascontiguousarray(np.maximum(radii, 2.5)), sign,
                    False, False, 30, 0.5 * sigma, 2.0 * sigma, max_shift, RENDER_SIGMAS,
                    np.zeros(2), np.array([1.0, 0.0]), status, cov, True, False)
    ok = (status == _k.OK) & (sub[:, _k.PSX] > 0.52 * sigma) & (sub[:, _k.PSX] < 1.95 * sigma)
    return float(np.median(sub[ok, _k.PSX])) if np.count_nonzero(ok) >= 3 else float(sigma)


def _row_percentile(vals: np.ndarray, q: float) -> np.ndarray:
    """Per-row percentile ignoring NaN (nearest rank; a sort instead of nanpercentile's loop)."""
    valid = np.isfinite(vals)
    count = valid.sum(axis=1)
    srt = np.sort(np.where(valid, vals, np.inf), axis=1)
    rank = np.clip(np.rint(q / 100.0 * (count - 1)).astype(np.int64), 0, vals.shape[1] - 1)
    return np.take_along_axis(srt, rank[:, None], axis=1)[:, 0]


def _start_params(img, xy, sigma, radius, sign) -> np.ndarray:
    # background: 10th (90th) percentile of the disc of `radius`; peak: mean of the centre
    # pixel and its 4 neighbours; both in one numba pass (as _gather + _row_percentile)
    ir = int(np.ceil(radius))
    oy, ox = np.mgrid[-ir:ir + 1, -ir:ir + 1]
    disc = ox ** 2 + oy ** 2 <= radius ** 2
    background, peak = np.empty(len(xy)), np.empty(len(xy))
    kernel = pick(_k._start_values, len(xy), 4 * PARALLEL_MIN_COLUMNS)
    kernel(img, np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]),
           np.ascontiguousarray(ox[disc], dtype=np.int64), np.ascontiguousarray(oy[disc], dtype=np.int64),
           float(10 if sign > 0 else 90), background, peak)
    amp = np.maximum(sign * (peak - background), 1e-6 * np.ptp(img) + 1e-12)
    n = len(xy)
    return np.ascontiguousarray(np.column_stack([xy[:, 0], xy[:, 1], amp, np.full(n, sigma),
                                                 np.full(n, sigma), np.zeros(n), background]))


def _as_fits(params, cov, status, shape, mode, dark_columns) -> ColumnFits:
    ny, nx = shape
    x, y = params[:, _k.PX], params[:, _k.PY]
    inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    x_err, y_err = np.sqrt(cov[:, _k.PX]), np.sqrt(cov[:, _k.PY])
    converged = (status == _k.OK) & inside & np.isfinite(x_err) & np.isfinite(y_err)
    sx, sy, amp = params[:, _k.PSX], params[:, _k.PSY], params[:, _k.PA]
    return ColumnFits(x.copy(), y.copy(), amp.copy(), sx.copy(), sy.copy(), params[:, _k.PT].copy(),
                      params[:, _k.PB].copy(), 2.0 * np.pi * amp * sx * sy, x_err, y_err, converged,
                      mode, bool(dark_columns))
