"""Test images of atom columns rendered independently of ``analysis.specimens``.

The demo generators share their forward model (pixel-integrated Gaussian probe, erf
profiles, square pixels of LiFePO4's rectangular cell) with nothing in the column
engine, but tests tuned only on them could still learn their quirks. This renderer
differs on purpose:

* **Lattice**: any oblique 2-D lattice (two vectors in pixels, non-orthogonal by
  default) with a basis of columns of different heights (a bright and a faint column).
* **Column shape**: ``"gaussian"``; ``"voigt"`` — a pseudo-Voigt, Gaussian core plus a
  2-D Lorentzian (Cauchy) with heavy power-law tails; ``"two_gaussian"`` — a probe with
  a narrow core and a broad second Gaussian. Every profile is normalised to unit
  volume and integrated over the pixel by supersampling (``supersample`` × ``supersample``
  points per pixel), not by error functions.
* **Contrast**: bright (HAADF-like, additive over a background) or dark (ABF-like:
  ``background * (1 - sum_k d_k P_k / P_max)``, linear dips of depth ``d_k``).
* **Scan**: optional Gaussian jitter of every scan line along x.
* **Noise**: Poisson shot noise of the expected counts plus optional Gaussian readout noise.

Truth positions are the lattice positions (the jitter is not in the truth), pixels,
``img[y, x]`` with pixel centres at integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("gaussian", "voigt", "two_gaussian")


@dataclass(frozen=True)
class RenderedColumns:
    """Image and truth. ``counts`` is the noisy image (float64), ``expected`` the noise-free one;
    ``x``, ``y``, ``kind`` (basis index), ``volume`` (counts in the column) for the columns on
    the image; ``peak`` their peak height above background (counts/pixel, centred column)."""

    counts: np.ndarray
    expected: np.ndarray
    x: np.ndarray
    y: np.ndarray
    kind: np.ndarray
    volume: np.ndarray
    peak: np.ndarray
    background: float
    sigma_px: float

    @property
    def xy(self) -> np.ndarray:
        return np.column_stack([self.x, self.y])


def _profile(dx, dy, shape, sigma, tail_fraction, tail_scale):
    """Unit-volume column profile at offsets (dx, dy)."""
    r2 = dx * dx + dy * dy
    gauss = np.exp(-0.5 * r2 / sigma ** 2) / (2 * np.pi * sigma ** 2)
    if shape == "gaussian":
        return gauss
    if shape == "voigt":
        gamma = tail_scale * sigma                          # 2-D Cauchy: volume 1
        lor = gamma / (2 * np.pi * (r2 + gamma ** 2) ** 1.5)
        return (1 - tail_fraction) * gauss + tail_fraction * lor
    if shape == "two_gaussian":
        s2 = tail_scale * sigma
        broad = np.exp(-0.5 * r2 / s2 ** 2) / (2 * np.pi * s2 ** 2)
        return (1 - tail_fraction) * gauss + tail_fraction * broad
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")


def lattice_positions(shape, a_px, b_px, basis, origin, margin):
    """Columns of the lattice (x, y, kind) whose centres lie within ``margin`` of the image."""
    ny, nx = shape
    a, b = np.asarray(a_px, float), np.asarray(b_px, float)
    m = np.linalg.inv(np.column_stack([a, b]))
    corners = np.array([[-margin, -margin], [nx + margin, -margin], [-margin, ny + margin],
                        [nx + margin, ny + margin]]) - origin
    uv = corners @ m.T
    i = np.arange(int(np.floor(uv[:, 0].min())) - 1, int(np.ceil(uv[:, 0].max())) + 2)
    j = np.arange(int(np.floor(uv[:, 1].min())) - 1, int(np.ceil(uv[:, 1].max())) + 2)
    ii, jj = np.meshgrid(i, j, indexing="ij")
    xs, ys, kinds = [], [], []
    for k, (fu, fv, _h) in enumerate(basis):
        p = origin + np.outer(ii.ravel() + fu, a) + np.outer(jj.ravel() + fv, b)
        xs.append(p[:, 0])
        ys.append(p[:, 1])
        kinds.append(np.full(p.shape[0], k))
    x, y, kind = np.concatenate(xs), np.concatenate(ys), np.concatenate(kinds)
    keep = (x > -0.5 - margin) & (x < nx - 0.5 + margin) & (y > -0.5 - margin) & (y < ny - 0.5 + margin)
    return x[keep], y[keep], kind[keep]


def render(*, shape=(256, 256), a_px=(15.0, 2.0), b_px=(-3.0, 13.0),
           basis=((0.0, 0.0, 1.0), (0.5, 0.5, 0.25)), sigma_px=2.2, column_shape="gaussian",
           tail_fraction=0.15, tail_scale=3.0, column_counts=2000.0, background=5.0,
           dark=False, dip_depth=0.3, jitter_px=0.0, readout_sd=0.0, supersample=4,
           seed=0, positions=None) -> RenderedColumns:
    """Render a noisy image of columns on an oblique lattice (see module docstring).

    ``basis`` holds ``(u, v, relative height)`` in lattice fractions; ``column_counts``
    is the volume (counts) of a column of relative height 1 (bright), or ``dip_depth``
    the fractional dip of such a column (dark). ``positions`` = (x, y, kind) overrides
    the lattice.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    heights = np.array([h for *_, h in basis], float)
    margin = (4.0 * tail_scale if column_shape != "gaussian" else 6.0) * sigma_px
    if positions is None:
        origin = rng.uniform(0, 1, 2) * np.array([nx, ny]) * 0.1 + 3.0
        x, y, kind = lattice_positions(shape, a_px, b_px, basis, origin, margin)
    else:
        x, y, kind = (np.asarray(v) for v in positions)
    half = int(np.ceil(margin))
    off = np.arange(-half, half + 1)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    expected_sig = np.zeros(shape)
    for k in range(x.size):
        ix, iy = int(round(x[k])), int(round(y[k]))
        cols, rows = ix + off, iy + off
        okc, okr = (cols >= 0) & (cols < nx), (rows >= 0) & (rows < ny)
        if not okc.any() or not okr.any():
            continue
        cx, cy = cols[okc], rows[okr]
        px = (cx[None, :, None, None] + sub[None, None, None, :]) - x[k]
        py = (cy[:, None, None, None] + sub[None, None, :, None]) - y[k]
        prof = _profile(px, py, column_shape, sigma_px, tail_fraction, tail_scale).mean(axis=(2, 3))
        expected_sig[np.ix_(cy, cx)] += heights[kind[k]] * prof
    if dark:
        pmax = _profile(np.zeros(1), np.zeros(1), column_shape, sigma_px, tail_fraction, tail_scale)[0]
        expected = background * np.clip(1.0 - dip_depth * expected_sig / pmax, 0.0, None)
        volume = background * dip_depth * heights[kind] / pmax
    else:
        expected = background + column_counts * expected_sig
        volume = column_counts * heights[kind]
    peak = volume * _profile(np.zeros(1), np.zeros(1), column_shape, sigma_px, tail_fraction,
                             tail_scale)[0]
    if jitter_px > 0:
        shifts = rng.normal(0.0, jitter_px, ny)
        grid = np.arange(nx, dtype=float)
        expected = np.array([np.interp(grid - s, grid, row) for row, s in zip(expected, shifts)])
    counts = rng.poisson(expected).astype(float)
    if readout_sd > 0:
        counts += rng.normal(0.0, readout_sd, shape)
    inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    return RenderedColumns(counts, expected, x[inside], y[inside], kind[inside], volume[inside],
                           peak[inside], float(background), float(sigma_px))


def score_detections(found_xy, true_xy, radius: float):
    """Match detections to truth one-to-one (nearest first, within ``radius`` pixels).

    Returns ``(found, spurious, match)``: a bool mask over the truth (column detected),
    the number of detections matched to no truth column (duplicates included), and for
    every truth column the index of its detection (-1 if none).
    """
    from scipy.spatial import cKDTree

    found_xy = np.asarray(found_xy, float).reshape(-1, 2)
    true_xy = np.asarray(true_xy, float).reshape(-1, 2)
    match = np.full(len(true_xy), -1)
    if len(found_xy) == 0:
        return np.zeros(len(true_xy), bool), 0, match
    pairs = cKDTree(true_xy).sparse_distance_matrix(cKDTree(found_xy), radius, output_type="ndarray")
    used = np.zeros(len(found_xy), bool)
    for t, f, _d in pairs[np.argsort(pairs["v"], kind="stable")].tolist():
        if match[t] < 0 and not used[f]:
            match[t], used[f] = f, True
    return match >= 0, int(np.count_nonzero(~used)), match
