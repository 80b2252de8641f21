"""Hartree–Slater (Herman–Skillman) central-field atom and its inner-shell GOS.

Private numerics behind ``scripts/generate_gos_tables.py`` (which writes the shipped
tables in ``gos_data/``) and the tests that check them; nothing here runs when the app
computes a cross-section. Hartree atomic units throughout (lengths a0, energies Ha).

Method (Herman & Skillman, *Atomic Structure Calculations*, 1963; Leapman, Rez & Mayers,
J. Chem. Phys. 72 (1980) 1232; Rez, Ultramicroscopy 28 (1989) 16):

* Radial grid uniform in ``x = ln r + r / c``: logarithmic near the nucleus (dr/r = h),
  linear far out (dr = c h), so both the 1s of a heavy atom and a continuum electron of
  ~1 keV at r ~ 200 a0 are resolved. On it ``u(r) = sqrt(dr/dx) w(x)`` turns the radial
  equation into ``w'' = [r'^2 (2(V - E) + l(l+1)/r^2) - S/2] w`` (S the Schwarzian
  derivative of r(x)), integrated by Numerov.
* Potential ``V = -Z/r + V_H + V_x`` with Slater's exchange (alpha = 1, as Herman–
  Skillman) ``V_x = -(3/2)(3 rho/pi)^(1/3)`` and Latter's tail ``V = min(V, -1/r)``
  (neutral atom), iterated to self-consistency on the spherically averaged ground
  configuration.
* Bound orbitals by node-counting bisection on the energy, then outward/inward
  integration matched at the outer turning point.
* Continuum orbitals ``eps l'`` in the same (ground-state, no core hole) potential,
  normalised per unit energy, ``u -> sqrt(2/(pi k)) sin(...)``, from the WKB amplitude
  invariant ``k u^2 + u'^2/k = 2/pi`` averaged over the outer, Coulombic region.
* GOS of a subshell n l holding N electrons, per Hartree of energy loss E::

      df/dE = (2 E / q^2) N sum_{l', lam} (2 l'+1)(2 lam+1) (l' lam l; 0 0 0)^2 R^2,
      R = int u_{eps l'}(r) j_lam(q r) u_{nl}(r) dr,

  with ``j_0 - 1`` in place of ``j_0`` (the subtracted term is zero by orthogonality, and
  dropping it keeps the q -> 0 limit free of round-off).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import spherical_jn

HARTREE_EV = 27.211386245988
BOHR_NM = 0.0529177210903

# ---------------------------------------------------------------- radial grid


class RadialGrid:
    """Grid uniform in x = ln r + r/c; ``r``, ``rp = dr/dx`` and ``schwarz`` (S/2)."""

    def __init__(self, z: float, *, h: float = 0.01, c: float = 2.0, r_max: float = 200.0,
                 r_min_z: float = 1e-4):
        r_min = r_min_z / max(z, 1.0)
        x0 = np.log(r_min) + r_min / c
        x1 = np.log(r_max) + r_max / c
        x = x0 + h * np.arange(int(np.ceil((x1 - x0) / h)) + 1)
        # solve s + e^s/c = x for s = ln r by Newton (convex: monotonic from above)
        s = np.where(x > 1.0 / c, np.minimum(x, np.log(np.maximum(c * x, 1.0 + 1e-12))), x)
        for _ in range(100):
            s = s - (s + np.exp(s) / c - x) / (1.0 + np.exp(s) / c)
        r = np.exp(s)
        rp = 1.0 / (1.0 / r + 1.0 / c)
        s = 1.5 * rp**4 / r**4 - 2.0 * rp**3 / r**3
        self.h, self.c, self.x, self.r, self.rp = h, c, x, r, rp
        self.half_schwarz = 0.5 * s

    def integrate(self, f):
        """∫ f dr by the trapezoidal rule in x."""
        g = f * self.rp
        return self.h * (g.sum(axis=-1) - 0.5 * (g[..., 0] + g[..., -1]))


# ---------------------------------------------------------------- Numerov kernels


@njit(cache=True, nogil=True)
def _numerov_nodes(g, h, w0, w1):
    """Outward Numerov over the whole grid; returns the number of sign changes."""
    n = g.size
    h12 = h * h / 12.0
    a, b = w0, w1
    nodes = 0
    for i in range(1, n - 1):
        c = (2.0 * b * (1.0 + 5.0 * h12 * g[i]) - a * (1.0 - h12 * g[i - 1])) / (1.0 - h12 * g[i + 1])
        if c * b < 0.0:
            nodes += 1
        a, b = b, c
        if abs(b) > 1e100:
            a *= 1e-100
            b *= 1e-100
    return nodes


@njit(cache=True, nogil=True)
def _numerov_out(g, h, w0, w1, i_stop):
    n = i_stop + 1
    w = np.zeros(n)
    w[0], w[1] = w0, w1
    h12 = h * h / 12.0
    for i in range(1, n - 1):
        w[i + 1] = (2.0 * w[i] * (1.0 + 5.0 * h12 * g[i]) - w[i - 1] * (1.0 - h12 * g[i - 1])) \
            / (1.0 - h12 * g[i + 1])
        if abs(w[i + 1]) > 1e150:
            w[: i + 2] *= 1e-150
    return w


@njit(cache=True, nogil=True)
def _numerov_in(g, h, i_start, i_stop):
    """Inward Numerov from i_start (decaying start) down to i_stop; returns w[i_stop:i_start+1]."""
    n = i_start - i_stop + 1
    w = np.zeros(n)
    k = np.sqrt(max(g[i_start], 1e-30))
    w[n - 1] = 1e-200
    w[n - 2] = 1e-200 * np.exp(k * h)
    h12 = h * h / 12.0
    for j in range(n - 2, 0, -1):
        i = i_stop + j
        w[j - 1] = (2.0 * w[j] * (1.0 + 5.0 * h12 * g[i]) - w[j + 1] * (1.0 - h12 * g[i + 1])) \
            / (1.0 - h12 * g[i - 1])
        if abs(w[j - 1]) > 1e150:
            w[j - 1:] *= 1e-150
    return w


def _g(grid: RadialGrid, v, energy, l):
    return grid.rp**2 * (2.0 * (v - energy) + l * (l + 1) / grid.r**2) - grid.half_schwarz


def _start(grid: RadialGrid, l, z):
    """w at the first two points from u ≈ r^(l+1) (1 - Z r/(l+1))."""
    r = grid.r[:2]
    u = r ** (l + 1) * (1.0 - z * r / (l + 1))
    return u / np.sqrt(grid.rp[:2])


# ---------------------------------------------------------------- bound states


def bound_state(grid: RadialGrid, v, n: int, l: int, z: float):
    """Eigenvalue (Ha) and normalised u(r) of the n l orbital in potential v(r)."""
    # V >= -Z/r, so E_nl >= -Z^2/(2 n^2); a deeper start would make Numerov unstable
    # (h^2 g / 12 > 1) and count spurious nodes.
    lo = -1.2 * z * z / (2.0 * n * n) - 1.0
    hi = 0.0
    w0, w1 = _start(grid, l, z)
    target = n - l - 1
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _numerov_nodes(_g(grid, v, mid, l), grid.h, w0, w1) > target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-13 * max(1.0, abs(mid)):
            break
    energy = 0.5 * (lo + hi)
    g = _g(grid, v, energy, l)
    allowed = np.nonzero(g < 0)[0]
    i_t = int(allowed[-1]) if allowed.size else grid.r.size // 2
    # start the inward integration where the decaying solution has fallen by ~e^-50
    kappa = np.sqrt(np.maximum(g, 0.0)) * grid.h
    cum = np.cumsum(kappa[i_t:])
    i_end = min(grid.r.size - 1, i_t + int(np.searchsorted(cum, 50.0)) + 2)
    w_out = _numerov_out(g, grid.h, w0, w1, i_t)
    w_in = _numerov_in(g, grid.h, i_end, i_t)
    w = np.zeros(grid.r.size)
    w[: i_t + 1] = w_out
    w[i_t: i_end + 1] = w_in * (w_out[-1] / w_in[0])
    u = np.sqrt(grid.rp) * w
    u /= np.sqrt(grid.integrate(u * u))
    if u[np.argmax(np.abs(u))] < 0:
        u = -u
    return energy, u


# ---------------------------------------------------------------- self-consistent field

_AUFBAU = ["1s", "2s", "2p", "3s", "3p", "4s", "3d", "4p", "5s", "4d", "5p", "6s", "4f",
           "5d", "6p"]
_L = {"s": 0, "p": 1, "d": 2, "f": 3}
#: ground configurations that break the Madelung order (only those needed here).
_OVERRIDES = {24: {"3d": 5, "4s": 1}, 29: {"3d": 10, "4s": 1}, 57: {"4f": 0, "5d": 1},
              58: {"4f": 1, "5d": 1}}


def ground_configuration(z: int) -> dict[str, int]:
    """Occupations {"1s": 2, ...} of the neutral atom's ground configuration."""
    occ, left = {}, z
    for orb in _AUFBAU:
        if left <= 0:
            break
        take = min(left, 2 * (2 * _L[orb[-1]] + 1))
        occ[orb] = take
        left -= take
    for orb, count in _OVERRIDES.get(z, {}).items():
        occ[orb] = count
    excess = sum(occ.values()) - z
    for orb in reversed(_AUFBAU):  # overrides shift electrons: rebalance the last shells
        if excess == 0:
            break
        if orb in occ and orb not in _OVERRIDES.get(z, {}):
            d = min(excess, occ[orb]) if excess > 0 else excess
            occ[orb] -= d
            excess -= d
    return {k: v for k, v in occ.items() if v > 0}


def _thomas_fermi(grid: RadialGrid, z):
    x = grid.r / (0.8853 * z ** (-1.0 / 3.0))
    s = np.sqrt(x)
    phi = 1.0 / (1 + 0.02747 * s + 1.243 * x - 0.1486 * x * s + 0.2302 * x**2
                 + 0.007298 * x**2 * s + 0.006944 * x**3)
    return -np.maximum(z * phi, 1.0) / grid.r


def _potential_from_density(grid: RadialGrid, z, p):
    """V(r) from the radial density p = 4π r² ρ = Σ occ u²: nucleus + Hartree + Slater + Latter."""
    dq = p * grid.rp * grid.h
    q_in = np.concatenate(([0.0], np.cumsum(0.5 * (dq[1:] + dq[:-1]))))
    dv = p / grid.r * grid.rp * grid.h
    cum = np.concatenate(([0.0], np.cumsum(0.5 * (dv[1:] + dv[:-1]))))
    outer = cum[-1] - cum
    v_h = q_in / grid.r + outer
    rho = np.maximum(p, 0.0) / (4.0 * np.pi * grid.r**2)
    v_x = -1.5 * np.cbrt(3.0 * rho / np.pi)
    return np.minimum(-z / grid.r + v_h + v_x, -1.0 / grid.r)


def self_consistent_atom(z: int, grid: RadialGrid, *, mix: float = 0.4, tol: float = 1e-7,
                         max_iter: int = 300, configuration: dict | None = None):
    """Hartree–Slater atom: (v, {orbital: (energy, u, occupation)}).

    ``configuration`` (default: the neutral ground state) may describe an excited atom,
    e.g. a core hole ``{"1s": 1, ..., "2p": 5}``; the Latter tail stays -1/r (neutral).
    """
    config = dict(configuration) if configuration else ground_configuration(z)
    v = _thomas_fermi(grid, z)
    last = None
    n_iter = 0
    for _ in range(max_iter):
        orbitals = {}
        p = np.zeros_like(grid.r)
        for orb, occ in config.items():
            n, l = int(orb[:-1]), _L[orb[-1]]
            e, u = bound_state(grid, v, n, l, z)
            orbitals[orb] = (e, u, occ)
            p += occ * u * u
        v_out = _potential_from_density(grid, z, p)
        energies = np.array([o[0] for o in orbitals.values()])
        n_iter += 1
        if last is not None and np.max(np.abs(energies - last)) < tol * max(1.0, np.max(np.abs(energies))):
            return v, orbitals
        last = energies
        v = (1.0 - mix) * v + mix * v_out
    raise RuntimeError(f"Z={z}: SCF did not converge")


# ---------------------------------------------------------------- continuum and GOS


def continuum_state(grid: RadialGrid, v, eps: float, l: int, z: float):
    """u(r) of the continuum eps l (eps > 0, Ha), normalised per unit energy (Hartree).

    Returns None when the outer region is not yet classically allowed well enough for the
    WKB normalisation (very high l at very low eps: such a channel does not reach the core
    and contributes nothing).
    """
    g = _g(grid, v, eps, l)
    w0, w1 = _start(grid, l, z)
    w = _numerov_out(g, grid.h, w0, w1, grid.r.size - 1)
    u = np.sqrt(grid.rp) * w
    r = grid.r
    k2 = 2.0 * (eps - v) - (l + 0.5) ** 2 / r**2
    sel = r > 0.5 * r[-1]
    k2s = k2[sel]
    if np.any(k2s <= 0):
        return None
    k = np.sqrt(k2s)
    dk = np.gradient(k, r[sel])
    if np.max(np.abs(dk) / k**2) > 0.02:
        return None
    # du/dr from a 4th-order central difference in x (uniform step h)
    idx = np.nonzero(sel)[0]
    idx = idx[(idx >= 2) & (idx <= r.size - 3)]
    du_dx = (u[idx - 2] - 8.0 * u[idx - 1] + 8.0 * u[idx + 1] - u[idx + 2]) / (12.0 * grid.h)
    du = du_dx / grid.rp[idx]
    k = np.sqrt(k2[idx])
    invariant = np.mean(k * u[idx] ** 2 + du**2 / k)
    return u * np.sqrt((2.0 / np.pi) / invariant)


def _three_j_000_sq(l1, l2, l3):
    """(l1 l2 l3; 0 0 0)^2 (closed form; zero unless the sum is even and triangular)."""
    from math import factorial
    s = l1 + l2 + l3
    if s % 2 or l3 > l1 + l2 or l3 < abs(l1 - l2):
        return 0.0
    g = s // 2
    delta = factorial(s - 2 * l1) * factorial(s - 2 * l2) * factorial(s - 2 * l3) / factorial(s + 1)
    val = factorial(g) / (factorial(g - l1) * factorial(g - l2) * factorial(g - l3))
    return delta * val * val


def subshell_gos(grid: RadialGrid, v, u_core, l: int, occupation: float, binding_Ha: float,
                 eps_Ha, q_au, *, lam_max: int, z: float):
    """df/dE per Hartree, shape (len(eps), len(q)), for a core subshell.

    ``binding_Ha`` > 0 is the ionisation energy used for the energy loss
    ``E = binding + eps`` in the 2E/q^2 prefactor.
    """
    eps_Ha = np.asarray(eps_Ha, float)
    q_au = np.asarray(q_au, float)
    peak = np.max(np.abs(u_core))
    i_end = int(np.nonzero(np.abs(u_core) > 1e-9 * peak)[0][-1]) + 1
    r = grid.r[:i_end]
    wts = grid.rp[:i_end] * grid.h
    wts[0] *= 0.5
    wts[-1] *= 0.5
    core_w = u_core[:i_end] * wts
    lp_max = l + lam_max
    cont = np.zeros((lp_max + 1, i_end, eps_Ha.size))
    for lp in range(lp_max + 1):
        for j, e in enumerate(eps_Ha):
            u = continuum_state(grid, v, float(e), lp, z)
            if u is not None:
                cont[lp, :, j] = u[:i_end]
    total = np.zeros((q_au.size, eps_Ha.size))
    qr = np.outer(q_au, r)
    for lam in range(lam_max + 1):
        jl = spherical_jn(lam, qr)
        if lam == 0:
            jl = jl - 1.0
        a = jl * core_w  # (nq, nr)
        for lp in range(abs(l - lam), l + lam + 1):
            w3 = _three_j_000_sq(lp, lam, l)
            if w3 == 0.0:
                continue
            rad = a @ cont[lp]  # (nq, neps)
            total += (2 * lp + 1) * (2 * lam + 1) * w3 * rad * rad
    energy = binding_Ha + eps_Ha
    return (2.0 * energy[:, None] / q_au[None, :] ** 2) * occupation * total.T
