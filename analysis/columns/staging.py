"""Li staging: occupancy modulation of Li-site columns plane by plane.

In a staged intercalation compound every n-th Li plane is full and the others (partly)
empty; in half-charged LiFePO4 alternate Li bc planes are occupied (stage 2; Gu et al.,
Nano Lett. 11 (2011) 4783; Suo et al., Phys. Chem. Chem. Phys. 14 (2012) 5363). In ABF the
Li columns' dips measure occupancy; here the Li-site intensities are averaged plane by
plane along a lattice direction and the sequence of plane means is tested for a
periodic modulation.

Test, in sliding windows of planes (so a staged domain between unstaged ones is found):

* periodic model: ``P`` group means by plane index mod ``P`` (``P`` = 2, 3, 4 planes);
* null models: one constant, and the best single step (two constant levels: a domain wall
  between full and empty regions is not staging).

A window is staged with period ``P`` when the periodic model beats the constant by a
chi-squared test at level ``alpha`` (Bonferroni-corrected over windows and periods), beats
the step model by a BIC margin (Schwarz, Ann. Stat. 6 (1978) 461), and its amplitude
(largest minus smallest group mean) is at least ``min_amplitude`` of the full-plane
intensity. Plane means carry their standard errors from the scatter within each plane.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class StagingResult:
    """``detected``, ``period`` (planes; None if not detected), ``period_A``, ``planes``
    (indices of staged planes), ``amplitude`` (relative occupancy contrast), and the per-plane
    profile: ``plane_index``, ``plane_mean``, ``plane_err``, ``plane_count``."""

    detected: bool
    period: int | None
    period_A: float | None
    planes: list
    amplitude: float
    direction: int
    plane_spacing_A: float | None
    plane_index: np.ndarray = field(repr=False)
    plane_mean: np.ndarray = field(repr=False)
    plane_err: np.ndarray = field(repr=False)
    plane_count: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        full = _full_level(self.plane_mean)
        return {"detected": bool(self.detected), "period": self.period, "period_A": self.period_A,
                "planes": [int(p) for p in self.planes], "amplitude": float(self.amplitude),
                "direction": int(self.direction), "plane_spacing_A": self.plane_spacing_A,
                "profile": {"plane": self.plane_index.astype(int).tolist(),
                            "relative_occupancy": (self.plane_mean / full).tolist() if full > 0 else [],
                            "count": self.plane_count.astype(int).tolist()}}


def _full_level(means) -> float:
    return float(np.percentile(means, 90)) if len(means) else 0.0


def plane_indices(frac_along, site_coords) -> np.ndarray:
    """Global plane index of columns from their fractional coordinate along the stacking axis.

    ``site_coords``: the fractional coordinates (mod 1) of the host sites along that axis,
    e.g. ``[0, 0.5]`` for LiFePO4 along a: plane = ``cell * n + j``.
    """
    g = np.asarray(frac_along, float)
    c = np.sort(np.mod(np.asarray(site_coords, float), 1.0))
    d = np.mod(g[:, None] - c[None, :] + 0.5, 1.0) - 0.5
    j = np.argmin(np.abs(d), axis=1)
    cell = np.rint(g - c[j]).astype(int)
    return cell * len(c) + j


def plane_profile(planes, values):
    """Centre, standard error and count of ``values`` per plane (planes with >= 3 columns).

    The centre is the mean after dropping outliers beyond 3.5 robust sd of the plane
    median (a few antisite or vacancy columns must not make a plane look fuller or
    emptier); the error is the pooled within-plane sd over ``sqrt(n)`` (all columns, so
    planes that mix full and empty columns — a direction across domains — count as
    uncertain; pooled, because 3 or 4 columns per plane give unstable variances alone).
    """
    planes = np.asarray(planes)
    values = np.asarray(values, float)
    idx, mean, err, cnt = [], [], [], []
    for p in np.unique(planes):
        v = values[planes == p]
        if v.size < 3:
            continue
        med = float(np.median(v))
        mad = 1.4826 * float(np.median(np.abs(v - med)))
        core = v[np.abs(v - med) <= 3.5 * mad] if mad > 0 else v
        idx.append(p)
        mean.append(float(core.mean()))
        err.append(float(v.var(ddof=1)))
        cnt.append(v.size)
    cnt = np.array(cnt)
    # pooled within-plane variance: 3-4 columns per plane give unstable variances of their own
    pooled = float(np.sum((cnt - 1) * np.array(err)) / max(1, np.sum(cnt - 1))) if cnt.size else 0.0
    return np.array(idx), np.array(mean), np.sqrt(pooled / np.maximum(cnt, 1)), cnt


def _chi2_groups(m, w, groups) -> float:
    chi = 0.0
    for g in np.unique(groups):
        sel = groups == g
        mu = np.sum(w[sel] * m[sel]) / np.sum(w[sel])
        chi += float(np.sum(w[sel] * (m[sel] - mu) ** 2))
    return chi


def _chi2_step(m, w) -> float:
    best = _chi2_groups(m, w, np.zeros(m.size, int))
    for k in range(1, m.size):
        best = min(best, _chi2_groups(m, w, (np.arange(m.size) >= k).astype(int)))
    return best


def detect_staging(planes, values, *, periods=(2, 3, 4), alpha: float = 1e-3,
                   min_amplitude: float = 0.2, window_periods: int = 3,
                   plane_spacing_A: float | None = None, direction: int = 0) -> StagingResult:
    """Periodic occupancy modulation of host (Li) columns, plane by plane.

    Parameters
    ----------
    planes : ndarray of int, shape (n,)
        Plane index of each Li-site column (see :func:`plane_indices`).
    values : ndarray of shape (n,)
        Occupancy-like measure per column (ABF dip intensity: larger = more Li).
    periods : sequence of int
        Candidate staging periods, in planes.
    alpha : float
        Family-wise significance of a window's periodic modulation.
    min_amplitude : float
        Smallest relative contrast (largest minus smallest group mean over the full-plane
        level, the 90th percentile of plane means) called staging.
    window_periods : int
        Window length in periods (at least 6 planes).
    plane_spacing_A : float, optional
        Distance between neighbouring planes, for ``period_A``.
    """
    idx, mean, err, cnt = plane_profile(planes, values)
    full = _full_level(mean)
    empty = StagingResult(False, None, None, [], 0.0, direction, plane_spacing_A, idx, mean, err, cnt)
    if idx.size < 6 or full <= 0:
        return empty
    err = np.maximum(err, 1e-12 + 0.02 * np.median(err[err > 0]) if np.any(err > 0) else 1e-12)
    w = 1.0 / err ** 2
    n_tests = sum(max(1, idx.size - max(6, window_periods * p) + 1) for p in periods)
    found = {}
    for p in sorted(periods):
        win = max(6, window_periods * p)
        staged, amps = set(), []
        for s in range(0, max(1, idx.size - win + 1)):
            sl = slice(s, s + win)
            pl, m, ww = idx[sl], mean[sl], w[sl]
            if pl.size < win or np.any(np.diff(pl) != 1):
                continue
            groups = np.mod(pl, p)
            chi_p = _chi2_groups(m, ww, groups)
            chi_c = _chi2_groups(m, ww, np.zeros(pl.size, int))
            chi_s = _chi2_step(m, ww)
            gm = np.array([m[groups == g].mean() for g in range(p)])
            amp = (gm.max() - gm.min()) / full
            if (chi_c - chi_p > stats.chi2.isf(alpha / n_tests, p - 1)
                    and chi_p + p * np.log(pl.size) < chi_s + 3 * np.log(pl.size)
                    and amp >= min_amplitude):
                staged.update(pl.tolist())
                amps.append(amp)
        if staged:
            found[p] = (sorted(staged), float(np.median(amps)))
            break  # the smallest period that explains the data
    if not found:
        return empty
    p, (planes_staged, amp) = next(iter(found.items()))
    if p == 2:  # keep the planes that alternate with both neighbours (drops wall planes)
        planes_staged = _alternating(idx, mean, err, planes_staged) or planes_staged
    period_A = p * plane_spacing_A if plane_spacing_A else None
    return StagingResult(True, p, period_A, planes_staged, amp, direction, plane_spacing_A,
                         idx, mean, err, cnt)


def _alternating(idx, mean, err, candidates, n_sigma: float = 3.0) -> list:
    pos = {p: i for i, p in enumerate(idx)}
    keep = []
    for p in candidates:
        i = pos[p]
        if 0 < i < idx.size - 1 and idx[i - 1] == p - 1 and idx[i + 1] == p + 1:
            d1, d2 = mean[i] - mean[i - 1], mean[i] - mean[i + 1]
            s1, s2 = np.hypot(err[i], err[i - 1]), np.hypot(err[i], err[i + 1])
            if d1 * d2 > 0 and abs(d1) > n_sigma * s1 and abs(d2) > n_sigma * s2:
                keep.append(int(p))
    return keep


def _local_spacing(xy, planes, staged, normal) -> float:
    """Plane spacing (pixels) from a straight-line fit of position along the normal vs plane index."""
    sel = np.isin(planes, staged)
    s = xy[sel] @ normal
    slope = np.polyfit(planes[sel].astype(float), s, 1)[0]
    return float(abs(slope))


def staging_in_table(table, intensity, *, host_label: str = "Li", pixel_size_A=None,
                     mask=None, **options) -> StagingResult:
    """Staging of the host columns of a :class:`~.sublattices.SiteTable`, tried along both
    lattice directions; of the directions with a detection, the one whose planes are most
    homogeneous (contrast over within-plane scatter) is returned."""
    hosts = table.labels == host_label
    if mask is not None:
        hosts &= np.asarray(mask, bool)
    if hosts.sum() < 6:
        raise ValueError(f"too few {host_label}-site columns ({int(hosts.sum())}) to test staging")
    motif = table.structure.fractional()[table.structure.sites_of(host_label.split("+")[0])]
    if motif.size == 0:
        motif = table.structure.fractional()[np.unique(table.site[hosts])]
    results = []
    for axis in (0, 1):
        coords = np.unique(np.round(np.mod(motif[:, axis], 1.0), 3))
        spacing, normal = None, None
        if pixel_size_A:
            # distance between neighbouring planes along the normal of basis vector (1 - axis)
            b = table.lattice.basis
            normal = np.array([-b[1 - axis][1], b[1 - axis][0]])
            normal /= np.linalg.norm(normal)
            spacing = abs(b[axis] @ normal) * pixel_size_A / len(coords)
        planes = plane_indices(table.frac[hosts, axis], coords)
        r = detect_staging(planes, np.asarray(intensity, float)[hosts], plane_spacing_A=spacing,
                           direction=axis, **options)
        if r.detected and pixel_size_A and len(r.planes) >= 2:
            # local plane spacing of the staged planes themselves (a differs between domains)
            local = _local_spacing(table.xy[hosts], planes, r.planes, normal) * pixel_size_A
            r = replace(r, plane_spacing_A=local, period_A=r.period * local)
        results.append(r)
    detected = [r for r in results if r.detected]
    if detected:
        # the stacking direction is the one whose planes are homogeneous: largest contrast
        # over the pooled within-plane scatter (planes across domains mix full and empty)
        def contrast_to_noise(r):
            sd = float(np.median(r.plane_err * np.sqrt(r.plane_count))) / max(_full_level(r.plane_mean), 1e-300)
            return r.amplitude / max(sd, 1e-12)
        return max(detected, key=contrast_to_noise)
    return results[1] if results[1].plane_index.size >= results[0].plane_index.size else results[0]
