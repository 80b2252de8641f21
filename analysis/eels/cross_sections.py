"""EELS partial ionisation cross-sections from tabulated generalised oscillator strengths.

A :class:`TabulatedGOS` holds df/dE(ε, q) of one core subshell on a grid of ejected-
electron energy ε (eV above the ionisation threshold) and momentum transfer q (1/a0,
log-spaced). The Hartree–Slater tables shipped in ``gos_data/`` (computed by
``scripts/generate_gos_tables.py``; origin and licence in ``gos_data/README.md``) are
loaded with :func:`load_gos_table`; any other table of the same form can be wrapped in a
:class:`TabulatedGOS` directly.

Physics (Egerton, *EELS in the Electron Microscope*, 3rd ed. 2011, ch. 3 (inner-shell
scattering, GOS) and ch. 4 (quantification, convergence correction); the same kinematics as Egerton's SIGMAK3/SIGMAL3 and exspy):

* energy-differential cross-section per atom (first Born approximation)::

      dσ/dE = 4π a0² (R/T)(R/E) ∫ df/dE(E, Q) A(θ(Q)) d ln Q,     Q = (q a0)²

  with T = m0 v²/2, relativistic ``Q_min = E²/(4RT) + E³/(8γ³RT²)`` and
  ``Q(θ) = Q_min + 4 k0 k1 a0² sin²(θ/2)`` (exact two-body kinematics);
* convergence correction, ``convergence="aperture"`` (default): A(θ) is the fraction of
  the incident directions, uniform over a cone of semi-angle α, whose scattered electron
  at angle θ still falls inside the collection cone β, i.e. the overlap area of two discs
  of radii α and β at distance θ divided by πα² (incoherent illumination, small angles).
  ``A = step(β - θ)`` for α = 0. ``convergence="egerton"``: Egerton's effective collection
  angle β*(E) (Egerton 2011, ch. 4; his program's formula, as in exspy) evaluated at each energy
  loss, then A = step(β* - θ).
* a table computed at the atomic eigenvalue ``binding_eV`` is placed at the measured
  onset, ``E = onset + ε``; the matrix elements are kept at the same ε and the E in the
  GOS prefactor 2E/q² is rescaled, df/dE(E) = gos(ε)·(onset + ε)/(binding + ε).
* spin–orbit partners share one table with statistical weights: L2,3 = 2/3 at L3 +
  1/3 at L2, M4,5 = 6/10 at M5 + 4/10 at M4 (Leapman, Rez & Mayers 1980); white lines
  (transitions to bound d/f states) are not in the tables.
* dσ/dE is computed exactly at the tabulated ε (and just above each onset) and
  interpolated log–log in between; beyond the last tabulated ε it is extended by the power
  law through the last two tabulated energies (as exspy does for its tables).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = [
    "TabulatedGOS", "load_gos_table", "available_gos_tables", "differential_cross_section",
    "partial_cross_section", "effective_collection_angle", "RYDBERG_EV", "A0_SQ_BARN",
]

RYDBERG_EV = 13.605693122994
#: 4π a0² in barn (1 barn = 1e-28 m²)
A0_SQ_BARN = 4.0 * np.pi * (0.529177210903e-10) ** 2 / 1e-28
ELECTRON_REST_EV = 510998.95
CONVERGENCE_METHODS = ("aperture", "egerton")
_N_Q = 256  # points of the ln Q quadrature per energy


@dataclass(frozen=True, eq=False)
class TabulatedGOS:
    """df/dE of one core subshell (all its electrons), per eV, on an (ε, q) grid.

    Attributes
    ----------
    gos : ndarray of shape (n_eps, n_q)
        df/dE in 1/eV, computed with energy loss ``binding_eV + eps_eV``.
    eps_eV : ndarray of shape (n_eps,)
        Increasing kinetic energies of the ejected electron (eV above threshold), > 0.
    q_inv_a0 : ndarray of shape (n_q,)
        Increasing, log-spaced momentum transfers in 1/a0.
    binding_eV : float
        Threshold energy the table was computed for.
    name : str
        e.g. ``"Ni_L23"``. ``meta`` holds the table's provenance.
    """

    gos: np.ndarray
    eps_eV: np.ndarray
    q_inv_a0: np.ndarray
    binding_eV: float
    name: str = ""
    source: str = "table"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        g, e, q = (np.asarray(a, dtype=np.float64) for a in (self.gos, self.eps_eV, self.q_inv_a0))
        if g.shape != (e.size, q.size) or e.size < 2 or q.size < 2:
            raise ValueError(f"gos must have shape (n_eps, n_q) = ({e.size}, {q.size}), got {g.shape}")
        if np.any(np.diff(e) <= 0) or e[0] <= 0 or np.any(np.diff(q) <= 0) or q[0] <= 0:
            raise ValueError("eps_eV and q_inv_a0 must be positive and strictly increasing")
        step = np.diff(np.log(q))
        if not np.allclose(step, step[0], rtol=1e-6):
            raise ValueError("q_inv_a0 must be log-spaced")
        if not (np.all(np.isfinite(g)) and self.binding_eV > 0):
            raise ValueError("gos must be finite and binding_eV > 0")
        for name, value in (("gos", g), ("eps_eV", e), ("q_inv_a0", q)):
            value = value.copy()
            value.setflags(write=False)      # tables are shared through load_gos_table's cache
            object.__setattr__(self, name, value)

    def dfde(self, eps_eV, q_inv_a0, *, onset_eV: float | None = None) -> np.ndarray:
        """df/dE (1/eV) at ε (shape (m,)) and q (shape (m, k)): bilinear in (ε, ln q).

        Below the smallest tabulated q the value at that q is used (the dipole limit,
        where df/dE no longer depends on q); above the largest q, 0 (far past the Bethe
        ridge). ε is clipped to the table range (the caller extrapolates in energy).
        ``onset_eV`` rescales the energy prefactor to ``onset + ε``.
        """
        eps = np.clip(np.asarray(eps_eV, dtype=np.float64), self.eps_eV[0], self.eps_eV[-1])
        j = np.clip(np.searchsorted(self.eps_eV, eps) - 1, 0, self.eps_eV.size - 2)
        t = (eps - self.eps_eV[j]) / (self.eps_eV[j + 1] - self.eps_eV[j])
        rows = self.gos[j] * (1 - t)[:, None] + self.gos[j + 1] * t[:, None]  # (m, n_q)
        lq0 = np.log(self.q_inv_a0[0])
        dlq = np.log(self.q_inv_a0[-1] / self.q_inv_a0[0]) / (self.q_inv_a0.size - 1)
        x = (np.log(np.asarray(q_inv_a0, dtype=np.float64)) - lq0) / dlq
        x = np.clip(x, 0.0, None)
        i = np.minimum(x.astype(np.int64), self.q_inv_a0.size - 2)
        s = x - i
        m = np.arange(rows.shape[0])[:, None]
        val = rows[m, i] * (1 - s) + rows[m, i + 1] * s
        val = np.where(x > self.q_inv_a0.size - 1, 0.0, val)
        if onset_eV is not None:
            val = val * ((onset_eV + eps) / (self.binding_eV + eps))[:, None]
        return val


def available_gos_tables() -> list[str]:
    """Names of the shipped Hartree–Slater tables, e.g. ``["C_K", ..., "Ni_L23"]``."""
    folder = resources.files(__package__).joinpath("gos_data")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".npz"))


@lru_cache(maxsize=64)
def load_gos_table(name: str) -> TabulatedGOS:
    """Load a shipped Hartree–Slater table by name (``"O_K"``, ``"Ni_L23"``, ``"La_M45"``).

    Raises
    ------
    ValueError
        If no table of that name is shipped (the message lists those that are).
    """
    path = resources.files(__package__).joinpath("gos_data", f"{name}.npz")
    if not path.is_file():
        raise ValueError(f"no Hartree-Slater GOS table {name!r}; shipped: {available_gos_tables()}")
    with path.open("rb") as fh, np.load(fh) as data:
        return TabulatedGOS(gos=data["gos"], eps_eV=data["eps_eV"], q_inv_a0=data["q_inv_a0"],
                            binding_eV=float(data["binding_eV"]), name=name,
                            source="hartree-slater", meta=json.loads(str(data["meta"])))


def _kinematics(e_loss, beam_energy_keV):
    """(T/R, Q_min, 4 k0 k1 a0²) for energy losses e_loss (eV)."""
    e0 = beam_energy_keV * 1e3
    gamma = 1.0 + e0 / ELECTRON_REST_EV
    t = ELECTRON_REST_EV * (1.0 - 1.0 / gamma**2) / 2.0
    q_min = e_loss**2 / (4 * RYDBERG_EV * t) + e_loss**3 / (8 * gamma**3 * RYDBERG_EV * t**2)
    p02 = t / (RYDBERG_EV * (1.0 - 2.0 * t / ELECTRON_REST_EV))
    pp2 = p02 - e_loss / RYDBERG_EV * (gamma - e_loss / (2 * ELECTRON_REST_EV))
    return t, q_min, 4.0 * np.sqrt(p02 * pp2)


def effective_collection_angle(energy_eV, *, beam_energy_keV, convergence_mrad, collection_mrad):
    """Egerton's effective collection semi-angle β* (mrad) for convergence α and collection β.

    Egerton 2011, ch. 4 (the formula of his program for the "convergence correction",
    also used by exspy; here with θ_E = E/(γ m0 v²)): β* such that a parallel beam with collection β* gives the same
    fraction of a Lorentzian angular distribution (characteristic angle θ_E) as the
    convergent beam with β.
    """
    e = np.asarray(energy_eV, dtype=np.float64)
    a, b = float(convergence_mrad) * 1e-3, float(collection_mrad) * 1e-3
    if a == 0:
        return np.full_like(e, collection_mrad)
    t, _, _ = _kinematics(e, beam_energy_keV)
    gamma = 1.0 + beam_energy_keV * 1e3 / ELECTRON_REST_EV
    theta_e = e / (2.0 * gamma * t)    # characteristic angle E/(γ m0 v²), rad
    a2, b2, t2 = a * a, b * b, theta_e**2
    eta1 = np.sqrt((a2 + b2 + t2) ** 2 - 4 * a2 * b2) - a2 - b2 - t2
    eta2 = 2 * b2 * np.log(0.5 / t2 * (np.sqrt((a2 + t2 - b2) ** 2 + 4 * b2 * t2) + a2 + t2 - b2))
    eta3 = 2 * a2 * np.log(0.5 / t2 * (np.sqrt((b2 + t2 - a2) ** 2 + 4 * a2 * t2) + b2 + t2 - a2))
    f1 = (eta1 + eta2 + eta3) / (2 * a2 * np.log(1 + b2 / t2))
    f2 = f1 * a2 / b2 if a > b else f1
    return 1e3 * theta_e * np.sqrt(np.exp(f2 * np.log(1 + b2 / t2)) - 1)


def _acceptance(theta, alpha, beta):
    """Acceptance of scattering by θ, relative to that of the unscattered beam.

    Incident directions fill a disc of radius α uniformly; the scattered direction must
    fall in the disc β. The overlap area is divided by that at θ = 0, π·min(α, β)², so
    that the cross-section is per unit of the *collected* unscattered beam (Egerton's
    convention: it pairs with a low-loss intensity recorded through the same aperture,
    and reduces to the usual fraction for α <= β).
    """
    if alpha == 0:
        return (theta <= beta).astype(np.float64)
    d = np.maximum(theta, 1e-300)
    a, b = alpha, beta
    c1 = np.clip((d * d + a * a - b * b) / (2 * d * a), -1, 1)
    c2 = np.clip((d * d + b * b - a * a) / (2 * d * b), -1, 1)
    k = np.clip((-d + a + b) * (d + a - b) * (d - a + b) * (d + a + b), 0, None)
    lens = a * a * np.arccos(c1) + b * b * np.arccos(c2) - 0.5 * np.sqrt(k)
    full = np.pi * min(a, b) ** 2
    area = np.where(d >= a + b, 0.0, np.where(d <= abs(a - b), full, lens))
    return area / full


def _dsigma_single(table, e_loss, onset, beam_energy_keV, alpha, beta, method):
    """dσ/dE (barn/eV) of one threshold at energies e_loss (all > onset, ε within table)."""
    t, q_min, four_k0k1 = _kinematics(e_loss, beam_energy_keV)
    if method == "egerton":
        beta = 1e-3 * effective_collection_angle(e_loss, beam_energy_keV=beam_energy_keV,
                                                 convergence_mrad=alpha * 1e3,
                                                 collection_mrad=beta * 1e3)
        theta_max = beta
    else:
        theta_max = np.full_like(e_loss, alpha + beta if alpha > 0 else beta)
    q_max = q_min + four_k0k1 * np.sin(theta_max / 2) ** 2
    if method == "aperture" and alpha > 0:
        # a node where the acceptance starts to fall (θ = |β - α|), trapezoid on each side
        q_knee = q_min + four_k0k1 * np.sin(abs(beta - alpha) / 2) ** 2
        frac = np.log(np.maximum(q_knee, q_min * (1 + 1e-12)) / q_min) / np.log(q_max / q_min)
        u1 = np.linspace(0.0, 1.0, _N_Q // 2)
        u = np.concatenate((frac[:, None] * u1, frac[:, None] + (1 - frac[:, None]) * u1[1:]), axis=1)
    else:
        u = np.broadcast_to(np.linspace(0.0, 1.0, _N_Q), (e_loss.size, _N_Q))
    ln_q = np.log(q_min)[:, None] + np.log(q_max / q_min)[:, None] * u
    big_q = np.exp(ln_q)
    gos = table.dfde(e_loss - onset, np.sqrt(big_q), onset_eV=onset)
    if method == "aperture" and alpha > 0:
        s = np.clip((big_q - q_min[:, None]) / four_k0k1[:, None], 0.0, 1.0)
        theta = 2 * np.arcsin(np.sqrt(s))
        gos = gos * _acceptance(theta, alpha, beta)
    integral = np.trapezoid(gos, ln_q, axis=1)
    return A0_SQ_BARN * (RYDBERG_EV / t) * (RYDBERG_EV / e_loss) * integral


def differential_cross_section(table: TabulatedGOS, energy_eV, *, onsets, beam_energy_keV: float,
                               convergence_mrad: float, collection_mrad: float,
                               convergence: str = "aperture") -> np.ndarray:
    """Energy-differential partial cross-section dσ/dE per atom, in barn/eV.

    Parameters
    ----------
    table : TabulatedGOS
    energy_eV : ndarray of shape (n,)
        Energy losses (eV) at which to evaluate.
    onsets : sequence of (onset_eV, weight)
        Thresholds sharing the table, e.g. ``[(855, 2/3), (872, 1/3)]`` for Ni L3 and L2;
        ``[(532, 1.0)]`` for O K.
    beam_energy_keV, convergence_mrad, collection_mrad : float
        E0, α, β.
    convergence : {"aperture", "egerton"}
        See the module docstring.

    Returns
    -------
    ndarray of shape (n,), float64; 0 below the first onset.
    """
    e = np.atleast_1d(np.asarray(energy_eV, dtype=np.float64))
    if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("energy_eV must be a 1-D array of finite energy losses > 0 eV")
    if not (beam_energy_keV > 0 and collection_mrad > 0 and convergence_mrad >= 0):
        raise ValueError("beam_energy_keV and collection_mrad must be > 0, convergence_mrad >= 0")
    if convergence not in CONVERGENCE_METHODS:
        raise ValueError(f"convergence must be one of {CONVERGENCE_METHODS}, got {convergence!r}")
    onsets = [(float(o), float(w)) for o, w in onsets]
    if not onsets or any(o <= 0 or w < 0 for o, w in onsets):
        raise ValueError("onsets must be a non-empty list of (onset_eV > 0, weight >= 0)")
    alpha, beta = convergence_mrad * 1e-3, collection_mrad * 1e-3
    args = (beam_energy_keV, alpha, beta, convergence)
    out = np.zeros_like(e)
    eps_max = table.eps_eV[-1]
    for onset, weight in onsets:
        eps = e - onset
        inside = (eps > 0) & (eps <= eps_max)
        if np.any(inside):
            # exact at the table's energies (and just above the onset), log-log in between:
            # the GOS is linear in ε between those nodes, dσ/dE close to a local power law
            nodes = np.concatenate(([min(1e-6, 0.5 * table.eps_eV[0])], table.eps_eV))
            first = max(int(np.searchsorted(nodes, eps[inside].min(), side="right")) - 1, 0)
            last = max(int(np.searchsorted(nodes, eps[inside].max(), side="left")) + 1, first + 2)
            nodes = nodes[first:last]
            s_nodes = _dsigma_single(table, onset + nodes, onset, *args)
            out[inside] += weight * np.exp(np.interp(np.log(e[inside]), np.log(onset + nodes),
                                                     np.log(s_nodes)))
        beyond = eps > eps_max
        if np.any(beyond):
            ends = onset + table.eps_eV[-2:]
            s_end = _dsigma_single(table, ends, onset, *args)
            r = np.log(s_end[0] / s_end[1]) / np.log(ends[1] / ends[0])
            out[beyond] += weight * s_end[1] * (e[beyond] / ends[1]) ** (-r)
    return out


def partial_cross_section(table: TabulatedGOS, *, window, onsets, beam_energy_keV: float,
                          convergence_mrad: float, collection_mrad: float,
                          convergence: str = "aperture", step_eV: float = 0.25) -> float:
    """σ(Δ) in barn: dσ/dE integrated over the energy window ``(lo, hi)`` (eV).

    The window is integrated by the trapezoidal rule on a ``step_eV`` grid that has nodes
    at the onsets (where dσ/dE jumps).
    """
    lo, hi = (float(v) for v in window)
    if not (0 < lo < hi):
        raise ValueError(f"window must be (lo, hi) with 0 < lo < hi, got {window}")
    nodes = [lo, hi] + [float(o) for o, _ in onsets if lo < float(o) < hi]
    nodes = np.unique(nodes)
    total = 0.0
    for a, b in zip(nodes[:-1], nodes[1:]):
        n = max(int(np.ceil((b - a) / step_eV)), 2) + 1
        e = np.linspace(a, b, n)
        e[0] = a + 1e-9 * max(1.0, a)  # the right-hand limit at an onset
        s = differential_cross_section(table, e, onsets=onsets, beam_energy_keV=beam_energy_keV,
                                       convergence_mrad=convergence_mrad,
                                       collection_mrad=collection_mrad, convergence=convergence)
        total += float(np.trapezoid(s, e))
    return total
