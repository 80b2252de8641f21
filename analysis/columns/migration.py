"""Transition-metal (TM) migration: TM on Li-layer sites, and the TM-rich surface layer.

Cycled layered cathodes reconstruct from the surface: TM ions move into the Li layer,
forming a spinel-like and then rock-salt-like layer a few nm thick (e.g. Lin et al., Nat.
Commun. 5 (2014) 3529; Boulineau et al., Nano Lett. 13 (2013) 3857). In HAADF a Li-layer
column is nearly dark; TM on it adds intensity linearly (incoherent imaging). Per Li-layer
column the TM fraction is

    f = (I - I_0) / ((N_host / N_tm) I_tm - I_0)

with ``I_tm`` the median TM-column intensity (``N_tm`` sites per repeat), ``N_host`` the
host column's sites and ``I_0`` the empty Li-layer level (lower quartile of the host
columns by default: the bulk, where most Li-layer columns are free of TM).

The TM-rich layer thickness is read from the depth profile of ``f`` measured from a chosen
surface into the bulk: the depth where the profile crosses half-way between its surface
value and its bulk level (linear interpolation between bins), the usual edge-width
convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def tm_fraction_on_sites(host_intensity, tm_intensity, *, host_atoms: float = 1.0,
                         tm_atoms: float = 1.0, empty_level: float | None = None):
    """TM fraction of each host (Li-layer) column; returns ``(f, I_0, I_tm_per_site)``."""
    host = np.asarray(host_intensity, float)
    tm = np.asarray(tm_intensity, float)
    if host.size < 4 or tm.size < 1:
        raise ValueError("need at least 4 host and 1 TM column intensities")
    i0 = float(np.percentile(host, 25)) if empty_level is None else float(empty_level)
    full = host_atoms / tm_atoms * float(np.median(tm))
    if not full > i0:
        raise ValueError("TM columns are not brighter than Li-layer columns (HAADF needed)")
    return (host - i0) / (full - i0), i0, full


@dataclass(frozen=True)
class SurfaceLayer:
    """Depth profile (bin centres ``depth_A``, ``mean``, ``err``, ``count``) and the layer:
    ``thickness_A`` ± ``thickness_err_A`` (0 when there is no TM-rich layer),
    ``surface_value``, ``bulk_value``, ``detected``."""

    depth_A: np.ndarray
    mean: np.ndarray
    err: np.ndarray
    count: np.ndarray
    thickness_A: float
    thickness_err_A: float
    surface_value: float
    bulk_value: float
    detected: bool

    def to_dict(self) -> dict:
        return {"detected": self.detected, "thickness_A": self.thickness_A,
                "thickness_err_A": self.thickness_err_A, "surface_tm_fraction": self.surface_value,
                "bulk_tm_fraction": self.bulk_value,
                "profile": {"depth_A": self.depth_A.tolist(), "tm_fraction": self.mean.tolist(),
                            "err": self.err.tolist(), "count": self.count.astype(int).tolist()}}


def depth_from_surface(xy_px, *, inward_normal, surface_point_px=None, pixel_size_A: float = 1.0):
    """Depth (Å) of positions below a surface line (point + inward normal, pixels).

    Without ``surface_point_px`` the outermost position along the normal is the surface.
    """
    xy = np.asarray(xy_px, float)
    n = np.asarray(inward_normal, float)
    n = n / np.linalg.norm(n)
    s = xy @ n
    s0 = s.min() if surface_point_px is None else float(np.asarray(surface_point_px, float) @ n)
    return (s - s0) * pixel_size_A


def tm_rich_layer(depth_A, tm_fraction, *, bin_A: float, n_sigma: float = 3.0,
                  min_excess: float = 0.1) -> SurfaceLayer:
    """Thickness of the TM-rich surface layer from per-column depths and TM fractions.

    Parameters
    ----------
    depth_A, tm_fraction : ndarray of shape (n,)
        Depth of each Li-layer column below the surface, and its TM fraction.
    bin_A : float
        Depth bin (e.g. the column spacing along the depth direction).
    n_sigma : float
        The surface bin must exceed the bulk level by this many standard errors …
    min_excess : float
        … and by this TM fraction (the outermost columns read a few per cent high: their
        background differs from the bulk's next to the vacuum).
    """
    d, f = np.asarray(depth_A, float), np.asarray(tm_fraction, float)
    if d.shape != f.shape or d.size < 6 or not bin_A > 0:
        raise ValueError("need >= 6 columns with depths and fractions, and bin_A > 0")
    edges = np.arange(d.min() - 0.5 * bin_A, d.max() + bin_A, bin_A)
    which = np.digitize(d, edges) - 1
    centres, mean, err, cnt = [], [], [], []
    for b in range(len(edges) - 1):
        v = f[which == b]
        if v.size >= 2:
            centres.append(0.5 * (edges[b] + edges[b + 1]))
            mean.append(v.mean())
            err.append(v.std(ddof=1) / np.sqrt(v.size))
            cnt.append(v.size)
    centres, mean, err, cnt = map(np.asarray, (centres, mean, err, cnt))
    if centres.size < 3:
        raise ValueError("too few depth bins with columns for a profile")
    deep = centres >= centres.min() + 0.5 * (centres.max() - centres.min())
    bulk = float(np.median(mean[deep]))
    bulk_err = float(np.std(mean[deep]) / np.sqrt(max(1, deep.sum())) + 1e-12)
    surf = float(mean[0])
    noise = float(np.hypot(err[0], bulk_err))
    if surf - bulk <= max(n_sigma * noise, min_excess):
        return SurfaceLayer(centres, mean, err, cnt, 0.0, 0.5 * bin_A, surf, bulk, False)
    half = 0.5 * (surf + bulk)
    below = np.flatnonzero(mean < half)
    if below.size == 0:
        return SurfaceLayer(centres, mean, err, cnt, float(centres[-1]), bin_A, surf, bulk, True)
    j = below[0]
    x0, x1, y0, y1 = centres[j - 1], centres[j], mean[j - 1], mean[j]
    depth = x0 + (y0 - half) / (y0 - y1) * (x1 - x0)
    # the surface is at the first column, half a bin below the first bin's lower edge
    thickness = float(depth - (centres[0] - 0.5 * bin_A))
    return SurfaceLayer(centres, mean, err, cnt, thickness, 0.5 * bin_A, surf, bulk, True)
