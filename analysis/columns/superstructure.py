"""Three-fold C2/m superstructure along TM rows, with a domain map.

In Li2MnO3-type (C2/m) order every third column of a TM-layer row (viewed along
[100]_C2/m ∥ [1-10]_R-3m) holds Li instead of TM, so the HAADF intensity along the row
is modulated with period 3; in the R-3m solid solution all TM-layer columns are alike.
This distinction between intergrown R-3m / C2/m domains and a single-phase solid solution
is what settles the structure of Li-rich cathodes (Jarvis et al., Chem. Mater. 23 (2011)
3614; Bareño et al., Adv. Mater. 23 (2011) 2039; Boulineau et al., Chem. Mater. 22
(2010) 1829).

Every window of ``2 w + 1`` consecutive columns along a row is split into the three
registries ``h mod 3``; the period-3 modulation is significant when
``chi2 = sum_g n_g (m_g - m)^2 / s^2`` exceeds the chi-squared(2) quantile at ``alpha``
(``s`` the per-column intensity error) and the contrast ``(max - min) / max`` of the three
group means is at least ``min_contrast`` and every column of the darkest registry is darker
than every other column of the window and they agree within half the contrast (a repeated
pattern, not one dark column at a row end or a domain wall). A column is C2/m when it lies
within one column of the Li columns of such a window (the wall position is uncertain by
about one column: TM columns next to a wall look alike in both phases). The registry of the darkest group (the Li
column) is the domain variant: domains are regions of one variant.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SuperstructureMap:
    """Per TM-layer column: ``c2m`` (bool), ``variant`` (0, 1, 2 = registry ``h mod 3`` of
    the Li column; -1 when not C2/m), ``contrast``, ``chi2``; ``c2m_fraction`` overall."""

    c2m: np.ndarray
    variant: np.ndarray
    contrast: np.ndarray
    chi2: np.ndarray
    c2m_fraction: float

    def to_dict(self) -> dict:
        counts = {int(v): int(np.sum(self.variant == v)) for v in (0, 1, 2)}
        return {"c2m_fraction": self.c2m_fraction, "n_columns": int(self.c2m.size),
                "n_c2m": int(self.c2m.sum()), "variant_counts": counts}


def threefold_map(row, position, intensity, intensity_err, *, half_window: int = 3,
                  alpha: float = 1e-3, min_contrast: float = 0.25) -> SuperstructureMap:
    """Domain map of the three-fold modulation along rows.

    Parameters
    ----------
    row : ndarray of int, shape (n,)
        Row (TM layer) of each column.
    position : ndarray of int, shape (n,)
        Column index along its row (consecutive integers for neighbouring columns).
    intensity, intensity_err : ndarray of shape (n,)
        Integrated column intensities and their 1-sd errors.
    """
    row, pos = np.asarray(row, int), np.asarray(position, int)
    val, err = np.asarray(intensity, float), np.asarray(intensity_err, float)
    n = val.size
    if not (row.shape == pos.shape == val.shape == err.shape):
        raise ValueError("row, position, intensity and intensity_err must have the same shape")
    s_all = np.where(np.isfinite(err) & (err > 0), err, np.nanmedian(err[err > 0]) if np.any(err > 0)
                     else 1.4826 * np.median(np.abs(np.diff(np.sort(val)))))
    c2m = np.zeros(n, bool)
    variant = np.full(n, -1)
    contrast = np.zeros(n)
    chi2 = np.zeros(n)
    limit = stats.chi2.isf(alpha, 2)
    width = 2 * half_window + 1
    for r in np.unique(row):
        members = np.flatnonzero(row == r)
        members = members[np.argsort(pos[members])]
        p = pos[members]
        for s in range(0, max(0, members.size - width + 1)):
            idx = members[s:s + width]
            if p[s + width - 1] - p[s] != width - 1:
                continue  # a gap in the row
            g = np.mod(pos[idx], 3)
            v = val[idx]
            m = np.array([v[g == k].mean() for k in range(3)])
            cnt = np.array([(g == k).sum() for k in range(3)])
            c2 = float(np.sum(cnt * (m - v.mean()) ** 2) / np.mean(s_all[idx] ** 2))
            dark = int(np.argmin(m))
            con = float((m.max() - m.min()) / m.max()) if m.max() > 0 else 0.0
            # every column of the dark registry darker than every other column: a repeated
            # Li-TM-TM pattern, not one dark column (a row end, a vacancy) in the window
            vd, vo = v[g == dark], v[g != dark]
            consistent = vd.max() < vo.min() and vd.max() - vd.min() < 0.5 * (np.median(vo) - vd.min())
            better = chi2[idx] < c2
            chi2[idx] = np.where(better, c2, chi2[idx])
            contrast[idx] = np.where(better, con, contrast[idx])
            if c2 > limit and con >= min_contrast and consistent:
                # the domain spans the Li columns of the window and one column either side
                lo, hi = np.flatnonzero(g == dark)[[0, -1]]
                span = idx[max(0, lo - 1):hi + 2]
                c2m[span] = True
                variant[span] = np.where(variant[span] < 0, dark, variant[span])
    return SuperstructureMap(c2m, variant, contrast, chi2, float(c2m.mean()) if n else 0.0)
