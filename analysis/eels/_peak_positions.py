"""Sub-channel peak positions of many spectra at once (private helper).

The maximum of each row inside a window is refined by a weighted least-squares fit of a
parabola to the logarithm of the ``2·half + 1`` channels around the highest channel
(a Gaussian through those points; Caruana's algorithm with Poisson weights
``w = s² / var(s)``, since ``var(ln s) ≈ var(s)/s²``). The vertex ``-b / 2c`` and its
standard error (first-order propagation of the fit covariance) are returned in eV.
Rows whose maximum sits on the window edge, or whose top channels are not all positive,
or whose fitted curvature is not negative, are flagged.
"""
from __future__ import annotations

import numpy as np


def peak_positions(signal: np.ndarray, variance: np.ndarray, energy: np.ndarray,
                   *, half: int = 2):
    """Peak maximum in eV for each row of ``signal`` (p, m) over channel energies ``energy`` (m,).

    Returns ``position, std, flagged`` each of shape (p,).
    """
    p, m = signal.shape
    if m < 2 * half + 3:
        raise ValueError(f"a peak window needs at least {2 * half + 3} channels, got {m}")
    finite = np.all(np.isfinite(signal), axis=1)
    s = np.where(np.isfinite(signal), signal, -np.inf)
    top = np.argmax(s, axis=1)
    at_edge = (top < half) | (top > m - 1 - half)
    centre = np.clip(top, half, m - 1 - half)
    offsets = np.arange(-half, half + 1)
    idx = centre[:, None] + offsets[None, :]
    y = np.take_along_axis(signal, idx, axis=1)
    v = np.take_along_axis(variance, idx, axis=1)
    positive = np.all(y > 0, axis=1) & np.all(v > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_y = np.log(np.where(y > 0, y, 1.0))
        w = np.where(y > 0, y ** 2 / np.where(v > 0, v, 1.0), 0.0)
    x = offsets.astype(np.float64)
    basis = np.stack([np.ones_like(x), x, x ** 2], axis=1)          # (n, 3)
    normal = np.einsum("pn,nk,nl->pkl", w, basis, basis)
    rhs = np.einsum("pn,pn,nk->pk", w, ln_y, basis)
    ok = finite & positive
    cov = np.full_like(normal, np.nan)
    good = ok & (np.abs(np.linalg.det(np.where(ok[:, None, None], normal, np.eye(3)))) > 1e-300)
    cov[good] = np.linalg.inv(normal[good])
    theta = np.einsum("pkl,pl->pk", cov, rhs)
    b, c = theta[:, 1], theta[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = -b / (2 * c)
        grad = np.stack([np.zeros_like(b), -1 / (2 * c), b / (2 * c ** 2)], axis=1)
        var = np.einsum("pk,pkl,pl->p", grad, cov, grad)
    bad = ~good | ~(c < 0) | ~np.isfinite(vertex) | (np.abs(vertex) > half + 0.5)
    step = energy[1] - energy[0]
    position = energy[centre] + np.clip(np.nan_to_num(vertex), -half - 0.5, half + 0.5) * step
    std = np.sqrt(np.maximum(var, 0.0)) * step
    position = np.where(bad | ~finite, np.nan, position)
    std = np.where(bad | ~finite, np.nan, std)
    return position, std, bad | at_edge | ~finite
