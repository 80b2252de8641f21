"""EELS elemental quantification from background-subtracted edge counts.

For each element ``i`` the number of atoms per unit area is proportional to

    N_i = I_i / σ_i

where ``I_i`` is the edge signal integrated over a window (counts, e.g. from
:func:`~batteryscope.analysis.eels.background.integrate_edge`) and ``σ_i`` the partial
cross-section integrated over the *same* window (barn). The unknown incident dose cancels
in ratios and atomic fractions. Cross-sections are taken as exact: their systematic error
(tens of % for hydrogenic models) is not in the propagated uncertainties, which hold the
counting and background-extrapolation noise only.

Uncertainties come from first-order error propagation with the ``N_j`` independent. For
the atomic fraction ``x_i = N_i / S`` with ``S = Σ_j N_j``::

    ∂x_i/∂N_j = (δ_ij S - N_i) / S²
    var x_i   = Σ_j (∂x_i/∂N_j)² var N_j = [(S - N_i)² v_i + N_i² (V - v_i)] / S⁴

with ``v_j = var N_j = var I_j / σ_j²`` and ``V = Σ_j v_j``: the fractions are
anti-correlated because they sum to one, which the cross terms keep.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _prepare(signals, variances, sigmas):
    """Validated float64 arrays broadcast to one shape: (keys, N, var N, out dtype)."""
    keys = list(signals)
    if not keys:
        raise ValueError("no elements given: signals is empty")
    for name, other in (("variances", variances), ("sigmas", sigmas)):
        if not isinstance(other, Mapping) or set(other) != set(keys):
            raise ValueError(f"{name} must be a dict with the same elements as signals "
                             f"({keys}); got {list(other) if isinstance(other, Mapping) else other!r}")
    raw = [np.asarray(signals[k]) for k in keys]
    raw += [np.asarray(variances[k]) for k in keys] + [np.asarray(sigmas[k]) for k in keys]
    for a in raw:
        if a.dtype.kind not in "iuf":
            raise ValueError(f"signals, variances and sigmas must be real numbers; got dtype {a.dtype}")
    try:
        arrays = np.broadcast_arrays(*[a.astype(np.float64) for a in raw])
    except ValueError as exc:
        shapes = [a.shape for a in raw]
        raise ValueError(f"signals, variances and sigmas do not broadcast together: {shapes}") from exc
    n = len(keys)
    i, v, s = (np.stack(arrays[j * n:(j + 1) * n]) for j in range(3))
    if np.any(s[np.isfinite(s)] <= 0):
        raise ValueError("cross-sections (sigmas) must be > 0 barn")
    if np.any(v[np.isfinite(v)] < 0):
        raise ValueError("variances must be >= 0")
    dtype = np.result_type(*[a.dtype for a in raw[:n]], np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return keys, i / s, v / s ** 2, dtype


def atomic_ratios(signals, variances, sigmas, *, reference=None):
    """Atomic ratios ``N_i / N_ref`` and their standard deviations.

    Parameters
    ----------
    signals : dict of str to ndarray of shape (...)
        Background-subtracted edge counts ``I_i`` per element (NaN where a fit failed).
    variances : dict of str to ndarray of shape (...)
        Variance of each ``I_i`` (same keys).
    sigmas : dict of str to float or ndarray of shape (...)
        Partial cross-section ``σ_i`` integrated over the same energy window as ``I_i``,
        in barn (> 0).
    reference : str, optional
        Element in the denominator; the first key of ``signals`` by default.

    Returns
    -------
    ratios, errors : dict of str to ndarray of shape (...)
        ``N_i / N_ref`` and its 1σ uncertainty (the reference gets 1 and 0). NaN where the
        element's or the reference's inputs are NaN. Float32 if all signals are float32,
        else float64.

    Raises
    ------
    ValueError
        Mismatched keys or shapes, non-positive cross-sections, negative variances, an
        unknown reference.
    """
    keys, n, v, dtype = _prepare(signals, variances, sigmas)
    reference = keys[0] if reference is None else reference
    if reference not in keys:
        raise ValueError(f"reference {reference!r} is not one of the elements {keys}")
    r = keys.index(reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = n / n[r]
        # var(N_i/N_r) = (v_i + ratio² v_r) / N_r² for i != r; exactly 0 for i == r
        var = (v + ratio ** 2 * v[r]) / n[r] ** 2
    bad = ~(np.isfinite(n) & np.isfinite(v)) | ~(np.isfinite(n[r]) & np.isfinite(v[r]))
    var[r] = 0.0
    ratio[r] = 1.0
    ratio = np.where(bad, np.nan, ratio)
    err = np.where(bad, np.nan, np.sqrt(var))
    return ({k: ratio[j].astype(dtype) for j, k in enumerate(keys)},
            {k: err[j].astype(dtype) for j, k in enumerate(keys)})


def atomic_percent(signals, variances, sigmas):
    """Atomic percentages ``100 N_i / Σ N_j`` and their standard deviations.

    Parameters
    ----------
    signals, variances, sigmas : dict of str to ndarray of shape (...)
        As for :func:`atomic_ratios`.

    Returns
    -------
    percent, errors : dict of str to ndarray of shape (...)
        Atomic % of each element (summing to 100) and its 1σ uncertainty from first-order
        propagation including the sum-to-100 correlation (module docstring). Every element
        is NaN at a pixel where any element's inputs are NaN/inf (the total is unknown
        there) or where ``Σ N_j`` is 0. Float32 if all signals are float32, else float64.

    Raises
    ------
    ValueError
        Mismatched keys or shapes, non-positive cross-sections, negative variances.
    """
    keys, n, v, dtype = _prepare(signals, variances, sigmas)
    bad = np.any(~(np.isfinite(n) & np.isfinite(v)), axis=0)
    total = n.sum(axis=0)
    total_var = v.sum(axis=0)
    bad |= total == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = n / total
        var = ((total - n) ** 2 * v + n ** 2 * (total_var - v)) / total ** 4
    pct = np.where(bad, np.nan, 100.0 * frac)
    err = np.where(bad, np.nan, 100.0 * np.sqrt(var))
    return ({k: pct[j].astype(dtype) for j, k in enumerate(keys)},
            {k: err[j].astype(dtype) for j, k in enumerate(keys)})
