"""LiFePO4 [010] images from the independent renderer (other column shape and noise)."""
from __future__ import annotations

import numpy as np

from batteryscope.analysis.columns.structures import preset

from independent_render import render


def lfp_independent(*, shape=(320, 320), pixel_size_A=0.1, rotation_deg=17.0, fe_fraction=0.2,
                    antisite_share=0.08, column_shape="voigt", seed=0, dark=False):
    """Render LFP [010] columns with Z^1.7 heights (HAADF) and some Fe-on-Li columns.

    Returns (RenderedColumns, site labels per truth column, antisite mask, fe fraction per column).
    """
    st = preset("lfp-010")
    rng = np.random.default_rng(seed)
    th = np.deg2rad(rotation_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    basis = (st.basis_A @ rot.T) / pixel_size_A
    origin = np.array(shape[::-1]) / 2 + rng.uniform(-5, 5, 2)
    span = int(np.hypot(*shape) / np.linalg.norm(basis, axis=1).min()) + 2
    h, k = np.meshgrid(np.arange(-span, span + 1), np.arange(-span, span + 1), indexing="ij")
    frac = st.fractional()
    cells = np.column_stack([h.ravel(), k.ravel()])
    site = np.repeat(np.arange(len(frac))[None], len(cells), 0).ravel()
    pos = origin + (np.repeat(cells, len(frac), 0) + frac[site]) @ basis
    keep = np.all((pos > -10) & (pos < np.array(shape[::-1]) + 10), axis=1)
    pos, site = pos[keep], site[keep]
    labels = np.array(st.labels)[site]
    weights = st.haadf_weights() if not dark else np.array(
        [sum(n * {"Li": 3, "Fe": 26, "P": 15, "O": 8}[e] ** (1 / 3) for e, n in s.atoms.items())
         for s in st.sites])
    li = np.flatnonzero(labels == "Li")
    inner = li[np.all((pos[li] > 15) & (pos[li] < np.array(shape[::-1]) - 16), axis=1)]
    anti = rng.choice(inner, size=int(round(antisite_share * inner.size)), replace=False)
    kind = site.copy()
    n_sites = len(frac)
    w_anti = (1 - fe_fraction) * weights[st.labels.index("Li")] + fe_fraction * 2 * 26 ** 1.7
    heights = list(weights / weights.max()) + [w_anti / weights.max()]
    kind[anti] = n_sites
    img = render(shape=shape, positions=(pos[:, 0], pos[:, 1], kind),
                 basis=tuple((0.0, 0.0, float(hh)) for hh in heights), sigma_px=3.6,
                 column_shape=column_shape, tail_fraction=0.12, tail_scale=2.5,
                 column_counts=9000.0, background=30.0, readout_sd=2.0, seed=seed, dark=dark,
                 supersample=2)
    is_anti = np.zeros(len(pos), bool)
    is_anti[anti] = True
    inside = (pos[:, 0] >= -0.5) & (pos[:, 0] < shape[1] - 0.5) & (pos[:, 1] >= -0.5) & (pos[:, 1] < shape[0] - 0.5)
    fe = np.where(is_anti, fe_fraction, 0.0)
    return img, labels[inside], is_anti[inside], fe[inside]
