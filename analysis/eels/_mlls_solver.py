"""Linear least squares of one design matrix against many spectra (private to :mod:`.mlls`).

``y`` (p, m) are the spectra of p pixels, ``X`` (m, k) the design matrix shared by all of
them. Two estimators, both without a Python loop over pixels:

* ``uniform``: ordinary least squares, one QR of ``X`` for all pixels. Its covariance under
  Poisson noise is ``A diag(v) Aᵀ`` with ``A = (XᵀX)⁻¹Xᵀ`` and ``v`` the modelled variance
  (the fitted model, floored at 1 count), one matrix product for all pixels.
* ``poisson``: the ``uniform`` fit gives the model, its counts (floored at 1) the variance
  ``v``, and a second, weighted pass solves ``(Xᵀ W X) θ = Xᵀ W y`` with ``W = 1/v`` per
  pixel: the normal matrices of all pixels come from one product ``(1/v) @ [X_i X_j]``.
  Weighting by the model rather than by the counts avoids the downward bias of
  count-weighted fits at low counts; covariance ``(Xᵀ W X)⁻¹``.

Non-negativity (optional) is enforced per pixel, only where the unconstrained solution has
a negative constrained coefficient, with :func:`scipy.optimize.lsq_linear` on the whitened
problem; the covariance is then that of the free parameters (zero for those at the bound).
"""
from __future__ import annotations

import numpy as np


def _batched_inverse(normal):
    k = normal.shape[-1]
    cov = np.full_like(normal, np.nan)
    ok = np.all(np.isfinite(normal), axis=(1, 2))
    if np.any(ok):
        n_ok = normal[ok]
        scale = np.sqrt(np.einsum("pii->pi", n_ok))
        scale = np.where(scale > 0, scale, 1.0)
        scaled = n_ok / scale[:, :, None] / scale[:, None, :]
        cond_ok = np.linalg.cond(scaled) < 1e12
        inv = np.full_like(n_ok, np.nan)
        if np.any(cond_ok):
            inv[cond_ok] = (np.linalg.inv(scaled[cond_ok])
                            / scale[cond_ok][:, :, None] / scale[cond_ok][:, None, :])
        cov[ok] = inv
    return cov.reshape(-1, k, k)


def ols_operator(x):
    """``(XᵀX)⁻¹Xᵀ`` (k, m) from a QR of ``x``; ValueError if ``x`` is singular."""
    q, r = np.linalg.qr(x)
    if np.min(np.abs(np.diag(r))) < 1e-12 * np.max(np.abs(np.diag(r))):
        raise ValueError("the MLLS design matrix is singular: two references (or a reference "
                         "and a background term) are linearly dependent over the fit range")
    return np.linalg.solve(r, q.T)


def solve_uniform(y, x, *, with_covariance=True):
    """OLS for every row of ``y``: θ (p, k), covariance (p, k, k) under Poisson noise, model."""
    a = ols_operator(x)
    theta = y @ a.T
    model = theta @ x.T
    if not with_covariance:
        return theta, None, model
    v = np.maximum(model, 1.0)
    k, m = a.shape
    outer = (a[:, None, :] * a[None, :, :]).reshape(k * k, m)
    cov = (v @ outer.T).reshape(-1, k, k)
    return theta, cov, model


def solve_poisson(y, x):
    """Model-weighted least squares (see the module docstring): θ, covariance, model."""
    theta0, _, model = solve_uniform(y, x, with_covariance=False)
    w = 1.0 / np.maximum(model, 1.0)
    m, k = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(m, k * k)
    normal = (w @ outer).reshape(-1, k, k)
    cov = _batched_inverse(normal)
    # solve for the correction to the (QR, well-conditioned) OLS solution: the rounding of a
    # nearly singular normal matrix then only touches a small correction
    rhs = (w * (y - model)) @ x
    theta = theta0 + np.einsum("pkl,pl->pk", cov, rhs)
    return theta, cov, theta @ x.T


def enforce_nonnegative(y, x, theta, cov, constrained, variance):
    """Re-fit rows whose constrained coefficients are negative; returns θ, cov, at_bound (p,)."""
    from scipy.optimize import lsq_linear  # deferred: only needed for constrained fits

    neg = np.any(theta[:, constrained] < 0, axis=1) & np.all(np.isfinite(theta), axis=1)
    at_bound = np.zeros(theta.shape[0], bool)
    lower = np.where(constrained, 0.0, -np.inf)
    upper = np.full(x.shape[1], np.inf)
    for i in np.flatnonzero(neg):
        sw = 1.0 / np.sqrt(variance[i])
        xw, yw = x * sw[:, None], y[i] * sw
        sol = lsq_linear(xw, yw, bounds=(lower, upper), method="bvls")
        theta[i] = sol.x
        free = ~(constrained & (sol.x <= 1e-12 * np.max(np.abs(sol.x), initial=1.0)))
        c = np.zeros_like(cov[i])
        if np.any(free):
            xf = xw[:, free]
            c[np.ix_(free, free)] = np.linalg.pinv(xf.T @ xf)
        cov[i] = c
        at_bound[i] = not np.all(free)
    return theta, cov, at_bound


def solve_weighted(y, x, variance, theta0):
    """Weighted least squares with given per-pixel variances (p, m): θ, covariance, model.

    Solved as a correction to a starting solution ``theta0`` (p, k), e.g. the OLS one.
    """
    w = 1.0 / variance
    m, k = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(m, k * k)
    cov = _batched_inverse((w @ outer).reshape(-1, k, k))
    theta = theta0 + np.einsum("pkl,pl->pk", cov, (w * (y - theta0 @ x.T)) @ x)
    return theta, cov, theta @ x.T
