"""numba kernel of the Poisson-weighted MLLS solve (private; see :mod:`._mlls_solver`).

One pass per pixel over the fit channels, no temporaries the size of the data: the OLS
solution ``θ0 = A y`` (``A = (XᵀX)⁻¹Xᵀ`` shared), the model-weighted normal matrix
``N = Σ_i x_i x_iᵀ / max(model0_i, 1)`` and right-hand side, the correction
``θ = θ0 + N⁻¹ Xᵀ W (y − model0)``, and χ² of the final model — the same arithmetic as
:func:`._mlls_solver.solve_poisson`, which is its numpy reference in the tests.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _invert(n, out):
    """Inverse of a small symmetric positive matrix by Gauss–Jordan with diagonal scaling.

    Returns False (and leaves ``out`` undefined) if a pivot falls below 1e-12 of the
    scaled diagonal (numerically singular).
    """
    k = n.shape[0]
    s = np.empty(k)
    for i in range(k):
        s[i] = np.sqrt(n[i, i]) if n[i, i] > 0 else 1.0
    a = np.empty((k, 2 * k))
    for i in range(k):
        for j in range(k):
            a[i, j] = n[i, j] / (s[i] * s[j])
            a[i, k + j] = 1.0 if i == j else 0.0
    for c in range(k):
        p = c
        for r in range(c + 1, k):
            if abs(a[r, c]) > abs(a[p, c]):
                p = r
        if not abs(a[p, c]) > 1e-12:
            return False
        if p != c:
            for j in range(2 * k):
                a[c, j], a[p, j] = a[p, j], a[c, j]
        piv = a[c, c]
        for j in range(2 * k):
            a[c, j] /= piv
        for r in range(k):
            if r != c:
                f = a[r, c]
                if f != 0.0:
                    for j in range(2 * k):
                        a[r, j] -= f * a[c, j]
    for i in range(k):
        for j in range(k):
            out[i, j] = a[i, k + j] / (s[i] * s[j])
    return True


@njit(cache=True, nogil=True)
def poisson_mlls(data, start, x, a_ols, theta, cov, chi2, ok):
    """Fit rows of ``data[:, start:start + m]`` (p, n) with design ``x`` (m, k).

    Writes θ (p, k), covariance (p, k, k), reduced-χ² numerator Σ(y−model)²/max(model, 1)
    (p,) and ``ok`` (p,) False for non-finite counts or a singular normal matrix.
    """
    p = data.shape[0]
    m, k = x.shape
    for i in range(p):
        y = np.empty(m)
        finite = True
        for c in range(m):
            y[c] = data[i, start + c]
            if not np.isfinite(y[c]):
                finite = False
        if not finite:
            ok[i] = False
            continue
        t0 = np.zeros(k)
        for j in range(k):
            acc = 0.0
            for c in range(m):
                acc += a_ols[j, c] * y[c]
            t0[j] = acc
        n = np.zeros((k, k))
        rhs = np.zeros(k)
        for c in range(m):
            mod = 0.0
            for j in range(k):
                mod += x[c, j] * t0[j]
            w = 1.0 / max(mod, 1.0)
            r = w * (y[c] - mod)
            for j in range(k):
                wx = w * x[c, j]
                rhs[j] += r * x[c, j]
                for l in range(j + 1):
                    n[j, l] += wx * x[c, l]
        for j in range(k):
            for l in range(j):
                n[l, j] = n[j, l]
        inv = np.empty((k, k))
        if not _invert(n, inv):
            ok[i] = False
            continue
        for j in range(k):
            acc = t0[j]
            for l in range(k):
                acc += inv[j, l] * rhs[l]
            theta[i, j] = acc
            for l in range(k):
                cov[i, j, l] = inv[j, l]
        c2 = 0.0
        for c in range(m):
            mod = 0.0
            for j in range(k):
                mod += x[c, j] * theta[i, j]
            d = y[c] - mod
            c2 += d * d / max(mod, 1.0)
        chi2[i] = c2
        ok[i] = True
