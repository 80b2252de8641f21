"""Model-based EELS fit per pixel: power-law background + edge cross-sections + fine structure.

The model of the counts in channel ``i`` of one pixel is

    μ_i = A·(E_i/E_ref)^-r  +  Σ_j c_j·σ_j(E_i)  +  Σ_l f_l·b_l(E_i)

with ``σ_j`` the edge shapes given by the caller (a partial cross-section per channel, from
any source: hydrogenic, Hartree–Slater tables, a measured reference), ``b_l`` cubic
B-splines over a fine-structure region above each onset whose coefficients are free (they
absorb white lines and near-edge structure, so that ``c_j`` is set by the continuum), and the
background exponent ``r`` free in every pixel. Everything but ``r`` enters linearly.

Solution (variable projection): weighted least squares with the same weights ``w_i = 1/m_i``
for every pixel, ``m`` the smoothed mean spectrum (the Poisson variance up to a per-pixel
scale, so the estimate is unbiased and near-efficient; weights taken from each pixel's own
noisy counts would bias it). Then the Gram matrix ``G = FᵀWF`` of the fixed components is
shared by all pixels, and for a fixed ``r`` the linear coefficients follow from ``G⁻¹`` and
``z = FᵀWy``. Eliminating them, the best ``r`` maximises ``φ(r) = s(r)²/d(r)`` with
``s(r) = pᵀWy - h(r)·z``, ``h = G⁻¹FᵀWp``, ``d = pᵀWp - u·h``, ``p = (E/E_ref)^-r``.
``h`` and ``d`` depend on ``r`` only and are tabulated once on a grid of ``r``; ``pᵀWy`` on
that grid is one matrix product for all pixels. The per-pixel search is then a small numba
loop (:mod:`._model_fit_kernels`). The result is the exact least-squares optimum (to the
interpolation error, < 1e-7 relative), not a linearisation: exspy's ``multifit`` solves the
same problem with a general nonlinear optimiser per pixel.

Uncertainties: the full covariance of (A, r, c, f) at the optimum, ``σ_p²·(JᵀWJ)⁻¹``, with
``σ_p²`` the pixel's reduced χ² (the per-pixel variance scale of the weights), from the
Schur complement of the (A, r) block. For ratios, the covariance between edge amplitudes
is returned.

References: Golub & Pereyra, SIAM J. Numer. Anal. 10 (1973) 413 (variable projection);
Verbeeck & Van Aert, Ultramicroscopy 101 (2004) 207 (model-based EELS quantification).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

from ..calibration import AxisCalibration
from . import _model_fit_kernels as _k
from .background import _check_axis

R_STEP = 0.25         # grid of the coarse search for the exponent (one matrix product)
R_FINE = 0.01         # grid of the tables the exact Newton polish interpolates
BLOCK_PIXELS = 2048   # pixels converted to float64 at a time (memory bound, not time)


@dataclass(frozen=True)
class EdgeComponent:
    """One edge of the model.

    name : str
        Label, e.g. ``"Mn_L3"``.
    shape : ndarray (n_channels,)
        Expected counts per channel per unit amplitude on the spectrum's energy axis, zero
        below the onset (e.g. dσ/dE · dispersion in barn per channel: the amplitude is then
        areal density × incident electrons, and amplitude ratios are atomic ratios).
    onset_eV : float
        Edge onset.
    fine_structure_eV : float
        Width above the onset whose shape is free (0: the shape is used as it is).
    fine_structure_below_eV : float, optional
        How far below the onset the free region starts (default: one knot spacing). Pre-
        peaks (O K ~2 eV below the nominal onset) and chemical shifts to lower energy sit
        there; left out of the free region they end up in the background and bias r.
    """

    name: str
    shape: np.ndarray
    onset_eV: float
    fine_structure_eV: float = 0.0
    fine_structure_below_eV: float | None = None


@dataclass(frozen=True)
class EdgeModelFit:
    """Per-pixel result of :func:`fit_edge_model`; arrays have the spectra's leading shape.

    names : edge names, in the order of the last axis of ``amplitudes``.
    amplitudes, amplitude_err : (..., m) edge amplitudes (units of the shapes) and 1σ.
    covariance : (..., m, m) covariance of the edge amplitudes.
    background_A : (...) power-law counts per channel at ``reference_energy_eV``.
    background_r, background_r_err : (...) power-law exponent and 1σ.
    reduced_chi2 : (...) weighted χ²/(n - k): ≈ the pixel's counts relative to the mean.
    failed : (...) bool: exponent at the edge of the search range, non-positive background,
        non-finite input in the fit range, or an unusable covariance.
    coefficients : (..., k) every linear coefficient (edges first, then fine structure).
    fit_range_eV, reference_energy_eV : the fitted energy range and E_ref.
    """

    names: tuple
    amplitudes: np.ndarray
    amplitude_err: np.ndarray
    covariance: np.ndarray
    background_A: np.ndarray
    background_r: np.ndarray
    background_r_err: np.ndarray
    reduced_chi2: np.ndarray
    failed: np.ndarray
    coefficients: np.ndarray
    fit_range_eV: tuple
    reference_energy_eV: float
    _basis: np.ndarray            # (n_fit, k) shapes of the linear components
    _basis_owner: np.ndarray      # (k,) index of the edge each column belongs to
    _first_channel: int

    def ratio(self, a: str, b: str):
        """Amplitude ratio a/b per pixel and its 1σ (covariance included)."""
        ia, ib = self.names.index(a), self.names.index(b)
        xa, xb = self.amplitudes[..., ia], self.amplitudes[..., ib]
        va, vb = self.covariance[..., ia, ia], self.covariance[..., ib, ib]
        cab = self.covariance[..., ia, ib]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = xa / xb
            var = q * q * (va / xa ** 2 + vb / xb ** 2 - 2 * cab / (xa * xb))
        return q, np.sqrt(np.maximum(var, 0.0))

    def model(self, index, energy_axis: AxisCalibration):
        """Background and each edge (with its fine structure) of one pixel, over the fit range.

        Returns (energies (n,), background (n,), {name: counts (n,)}).
        """
        e = energy_axis.values()[self._first_channel:self._first_channel + self._basis.shape[0]]
        r = float(self.background_r[index])
        bg = float(self.background_A[index]) * (e / self.reference_energy_eV) ** -r
        coef = self.coefficients[index]
        parts = {}
        owners = self._basis_owner
        for j, name in enumerate(self.names):
            cols = [c for c, o in enumerate(owners) if o == j]
            parts[name] = self._basis[:, cols] @ coef[cols]
        return e, bg, parts



def _fit_range(energy_axis, components, fit_range):
    onsets = [c.onset_eV for c in components]
    if fit_range is None:
        first = min(onsets)
        fit_range = (first - max(40.0, 0.1 * first), energy_axis.high)
    lo, hi = max(float(fit_range[0]), energy_axis.offset), min(float(fit_range[1]), energy_axis.high)
    if lo <= 0:
        raise ValueError(f"the fit range starts at {lo:g} eV: a power-law background needs "
                         "energies above the zero-loss peak; start the fit above it")
    if not hi > lo:
        raise ValueError(f"fit range ({lo:g}, {hi:g}) eV is empty on this axis "
                         f"[{energy_axis.offset:g}, {energy_axis.high:g}] eV")
    i0 = int(np.ceil(energy_axis.index_of(lo) - 1e-9))
    i1 = int(np.floor(energy_axis.index_of(hi) + 1e-9)) + 1
    for c in components:
        if not lo < c.onset_eV < hi:
            raise ValueError(f"edge {c.name} at {c.onset_eV:g} eV is outside the fit range "
                             f"({lo:g}, {hi:g}) eV")
    if energy_axis.values()[i0] > min(onsets) - 5 * energy_axis.scale:
        raise ValueError(f"the fit range ({lo:g}, {hi:g}) eV leaves no pre-edge channels before "
                         f"the first onset at {min(onsets):g} eV")
    return i0, i1


def _design(components, e, i0, i1, knot_eV, low_loss=None):
    """Linear columns (n, k) over the fit range, the edge owning each, and their
    normalisation. ``e`` is the whole axis: with a low-loss kernel the columns are convolved
    over the whole axis first (channels below the fit range scatter into it)."""
    cols = [np.asarray(c.shape, dtype=np.float64) for c in components]
    owner = list(range(len(components)))    # edge shapes first, then fine-structure splines
    for j, c in enumerate(components):
        if c.fine_structure_eV > 0:
            below = knot_eV if c.fine_structure_below_eV is None else c.fine_structure_below_eV
            start, stop = c.onset_eV - max(below, 0.0), c.onset_eV + c.fine_structure_eV
            n_int = max(int(round((stop - start) / knot_eV)), 1)
            t = np.linspace(start, stop, n_int + 1)
            knots = np.concatenate([[t[0]] * 3, t, [t[-1]] * 3])
            inside = (e >= start) & (e <= stop)
            dm = np.zeros((e.size, len(knots) - 4))
            dm[inside] = BSpline.design_matrix(e[inside], knots, 3).toarray()
            # drop the end splines (value/slope at the region edges stay tied to the shape)
            for col in dm.T[1:-1]:
                if np.any(col[i0:i1] > 0):
                    cols.append(col)
                    owner.append(j)
    basis = np.stack(cols, axis=1)
    if low_loss is not None:
        basis = low_loss.convolve(basis)
    basis = basis[i0:i1]
    norm = np.abs(basis).max(axis=0)
    if np.any(norm == 0):
        bad = [components[owner[i]].name for i in np.nonzero(norm == 0)[0]]
        raise ValueError(f"edge shape(s) {sorted(set(bad))} are zero over the fit range")
    return basis, np.asarray(owner), norm


def _weights(flat, i0, i1):
    """1/m, m = the mean spectrum over pixels, smoothed over 9 channels, floored."""
    window = flat[:, i0:i1]
    total = window.sum(axis=0, dtype=np.float64)
    good = window.shape[0]
    if not np.all(np.isfinite(total)):     # leave out pixels with NaN/inf in the fit range
        ok = np.all(np.isfinite(window), axis=1)
        good = int(ok.sum())
        if good == 0:
            raise ValueError("no pixel has finite counts over the fit range")
        total = window[ok].sum(axis=0, dtype=np.float64)
    mean = total / good
    padded = np.pad(mean, 4, mode="edge")
    smooth = np.convolve(padded, np.ones(9) / 9, mode="valid")
    floor = max(1.0, 1e-3 * float(np.mean(np.abs(smooth))))
    return 1.0 / np.maximum(smooth, floor)


def _tables(F, w, x, ginv, r):
    """Functions of the exponent alone, on the grid ``r``: h = G⁻¹FᵀWp and its first two
    r-derivatives (g, k); d = pᵀWp - u·h and its derivatives; e1, e2 of the covariance
    (see :func:`._model_fit_kernels.solve_at`). p = exp(-r x), u = FᵀWp."""
    P = np.exp(-np.outer(x, r))
    WP = w[:, None] * P
    WPx = x[:, None] * WP
    WPxx = x[:, None] * WPx
    U, Up, Upp = F.T @ WP, -(F.T @ WPx), F.T @ WPxx
    H, Hp, Hpp = ginv @ U, ginv @ Up, ginv @ Upp
    v = np.einsum("ng,ng->g", P, WP)
    vx = np.einsum("ng,ng->g", P, WPx)          # Σ w x p²
    vxx = np.einsum("ng,ng->g", P, WPxx)        # Σ w x² p²
    uh = np.einsum("kg,kg->g", U, H)
    uph = np.einsum("kg,kg->g", Up, H)
    uphp = np.einsum("kg,kg->g", Up, Hp)
    upph = np.einsum("kg,kg->g", Upp, H)
    d = v - uh
    dp = -2 * vx - 2 * uph                      # v' = -2Σwxp², (u·h)' = 2u'·h
    dpp = 4 * vxx - 2 * (upph + uphp)
    e1 = -vx - np.einsum("kg,kg->g", U, Hp)
    e2 = vxx - uphp
    c = np.ascontiguousarray
    return {"h": c(H.T), "hp": c(Hp.T), "hpp": c(Hpp.T), "d": d, "dp": dp, "dpp": dpp,
            "e1": e1, "e2": e2}


def fit_edge_model(spectra, energy_axis: AxisCalibration, components, *, fit_range=None,
                   r_range=(1.0, 7.0), knot_eV: float | None = None,
                   low_loss=None) -> EdgeModelFit:
    """Fit background + edges (+ fine structure) to every pixel; see the module docstring.

    Parameters
    ----------
    spectra : ndarray (..., n_channels)
        Counts; one spectrum, a line or a spectrum image.
    energy_axis : AxisCalibration
        Energy of the channel centres (eV), increasing.
    components : sequence of EdgeComponent
    fit_range : (lo, hi) eV, optional
        Default: from ``max(40 eV, 10 %)`` below the first onset to the end of the axis.
    r_range : (lo, hi)
        Search range of the power-law exponent; a best ``r`` at either end flags the pixel.
    knot_eV : float, optional
        Spacing of the fine-structure B-spline knots; default 2 eV, or two channels when
        the dispersion is coarser than 1 eV/channel (finer knots than that leave spline
        coefficients no channel determines).
    low_loss : :class:`.plural_scattering.LowLossKernel`, optional
        The normalised low loss of the same area: every edge and fine-structure column is
        convolved with it (plural scattering in the model, not removed from the data). One
        kernel serves all spectra, so give it for one spectrum (an ROI sum) or for pixels of
        the same thickness.
    """
    spectra = _check_axis(spectra, energy_axis)
    components = list(components)
    if not components:
        raise ValueError("give at least one edge component")
    for c in components:
        if np.shape(c.shape) != (energy_axis.size,):
            raise ValueError(f"edge {c.name}: shape has {np.size(c.shape)} channels, the axis "
                             f"{energy_axis.size}")
    if not 0 < r_range[0] < r_range[1]:
        raise ValueError(f"r_range must be 0 < lo < hi, got {r_range}")
    i0, i1 = _fit_range(energy_axis, components, fit_range)
    if knot_eV is None:
        knot_eV = max(2.0, 2.0 * energy_axis.scale)
    elif not knot_eV > 0:
        raise ValueError(f"knot_eV must be > 0, got {knot_eV}")
    if low_loss is not None and not np.isclose(low_loss.dispersion_eV, energy_axis.scale,
                                               rtol=1e-6):
        raise ValueError(f"the low-loss kernel has {low_loss.dispersion_eV:g} eV/channel, the "
                         f"spectra {energy_axis.scale:g}; build it for this dispersion")
    basis, owner, norm = _design(components, energy_axis.values(), i0, i1, knot_eV, low_loss)
    e = energy_axis.values()[i0:i1]
    F = basis / norm
    n, k = F.shape
    if n <= k + 2:
        raise ValueError(f"the fit range holds {n} channels for {k + 2} free parameters")
    lead = spectra.shape[:-1]
    flat = spectra.reshape(-1, spectra.shape[-1])
    p_count = flat.shape[0]
    w = _weights(flat, i0, i1)

    # shared tables --------------------------------------------------------------------
    e_ref = float(np.sqrt(e[0] * e[-1]))
    x = np.log(e / e_ref)
    G = F.T @ (w[:, None] * F)
    try:
        ginv = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        raise ValueError("the edge shapes are linearly dependent over the fit range "
                         "(two identical edges, or a fine-structure region covering a whole "
                         "edge); remove one or narrow the fine-structure width") from None
    if np.linalg.cond(G) > 1e12:
        raise ValueError("the edge shapes are nearly linearly dependent over the fit range; "
                         "narrow the fine-structure regions or widen the fit range")
    n_grid = int(np.ceil((r_range[1] - r_range[0]) / R_STEP)) + 1
    r_grid = np.linspace(r_range[0], r_range[1], n_grid)
    dr = float(r_grid[1] - r_grid[0])
    WP = w[:, None] * np.exp(-np.outer(x, r_grid))   # (n, g): coarse search only
    H = ginv @ (F.T @ WP)
    d_coarse = _tables(F, w, x, ginv, r_grid)["d"]
    WF = w[:, None] * F
    wp_rows = np.ascontiguousarray(WP.T)

    # phase 1, per block of pixels: linear projections and the coarse search for r ---------
    m = len(components)
    r_best = np.empty(p_count)
    at_bound = np.empty(p_count, dtype=np.bool_)
    z_all = np.empty((p_count, k))
    bad_input = np.zeros(p_count, bool)
    for b0 in range(0, p_count, BLOCK_PIXELS):
        sl = slice(b0, min(b0 + BLOCK_PIXELS, p_count))
        y = flat[sl, i0:i1].astype(np.float64)
        finite = np.all(np.isfinite(y), axis=1)
        if not finite.all():
            bad_input[sl] = ~finite
            y[~finite] = 0.0
        z = y @ WF                                   # (b, k)
        z_all[sl] = z
        s_grid = y @ WP - z @ H                      # (b, g)
        _k.best_exponent(s_grid, d_coarse, r_grid[0], dr, r_best[sl], at_bound[sl])

    # phase 2: exact Newton polish with fine tables over the exponents actually found --------
    found = r_best[np.isfinite(r_best)]
    lo_r = (found.min() if found.size else r_range[0]) - dr
    hi_r = (found.max() if found.size else r_range[1]) + dr
    r_fine = np.arange(lo_r - 3 * R_FINE, hi_r + 4 * R_FINE, R_FINE)
    fine = _tables(F, w, x, ginv, r_fine)
    drf = float(r_fine[1] - r_fine[0])
    g_all = z_all @ ginv                             # G⁻¹z (G symmetric)
    zg = np.einsum("pk,pk->p", z_all, g_all)
    s_exact = np.empty(p_count)
    yy = np.empty(p_count)
    # the polish reads the spectra as they are (float32 or float64): no second conversion
    _k.polish_exponent(flat[:, i0:i1], wp_rows, w, x, z_all, r_best, r_grid[0], dr,
                       r_fine[0], drf, fine["h"], fine["hp"], fine["hpp"], fine["d"],
                       fine["dp"], fine["dpp"], s_exact, yy, 3)
    amp = np.empty(p_count)
    coef = np.empty((p_count, k))
    cov = np.empty((p_count, m, m))
    chi2 = np.empty(p_count)
    r_err = np.empty(p_count)
    _k.solve_at(r_best, s_exact, fine["d"], fine["e1"], fine["e2"], fine["h"], fine["hp"],
                g_all, ginv, yy, zg, r_fine[0], drf, float(n - k - 2), amp, coef, cov, chi2,
                r_err)
    coef = coef / norm                               # back to the units of the shapes
    scale = 1.0 / norm[:m]
    cov = cov * scale[:, None] * scale[None, :]
    amplitudes = coef[:, :m]
    amp_err = np.sqrt(np.maximum(np.einsum("pjj->pj", cov), 0.0))
    failed = (at_bound | bad_input | ~(amp > 0) | ~np.isfinite(chi2)
              | ~np.all(np.isfinite(cov), axis=(1, 2)))
    fit = EdgeModelFit(
        names=tuple(c.name for c in components),
        amplitudes=amplitudes.reshape(lead + (m,)),
        amplitude_err=amp_err.reshape(lead + (m,)),
        covariance=cov.reshape(lead + (m, m)),
        background_A=amp.reshape(lead), background_r=r_best.reshape(lead),
        background_r_err=r_err.reshape(lead), reduced_chi2=chi2.reshape(lead),
        failed=failed.reshape(lead), coefficients=coef.reshape(lead + (k,)),
        fit_range_eV=(float(e[0]), float(e[-1])), reference_energy_eV=e_ref,
        _basis=basis, _basis_owner=owner, _first_channel=i0)
    return fit
