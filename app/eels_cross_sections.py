"""Per-atom EELS continuum cross-sections from exspy (hydrogenic GOS) and edge onsets.

What is computed
----------------
For each edge, exspy's :class:`exspy.components.EELSCLEdge` with ``GOS="hydrogenic"``
(R. F. Egerton's SIGMAK3/SIGMAL3 hydrogenic generalised oscillator strengths, the only
GOS that needs no downloaded database) is set up *without a model*:
``set_microscope_parameters(E0, alpha, beta, energy_scale)`` fixes the beam energy,
the convergence and collection semi-angles (exspy folds them into an effective
collection angle at the edge onset, Egerton's formula) and integrates the GOS over the
momentum transfer; ``function(E)`` with ``intensity = 1`` then returns the energy-
differential partial cross-section of one atom, in barn/eV (1 barn = 1e-28 m² =
1e-10 nm²), zero below the onset.

Things to know about exspy 0.3's hydrogenic edges (checked in the tests)
------------------------------------------------------------------------
* ``"X_L3"`` is the whole L shell: Egerton's hydrogenic L model has a single onset at
  the L3 energy and no separate L2 step; ``"X_L2"`` gives exactly the same curve
  (its onset is also set to L3) and exspy's ``EELSModel`` drops L2/L1 when
  ``GOS="hydrogenic"``. Above the L1 energy (Mn 769 eV, Co 926 eV, Ni 1008 eV) the
  formula switches and the curve steps up by ~20 % over a few eV (an L1 "edge").
  White lines are not included (Egerton's white-line correction is commented out).
* The curve is tabulated up to ~900 eV above the onset and extended by a power law.
* Order of magnitude, 300 kV, α = 20 mrad, β = 30 mrad (effective angle 26.3 mrad):
  O K 23 barn/eV at the onset, 17 barn/eV 50 eV above it; Mn L2,3 ≈ 29 barn/eV at
  +50 eV. This agrees with the dipole (Bethe) estimate
  ``dσ/dE ≈ 4π a0² R²/(E T) · df/dE · ln(1 + β²/θ_E²)`` ≈ 725 barn · 3e-3 eV⁻¹ · 6 ≈ 13
  barn/eV for O K at 580 eV, and, at 100 kV, β = 10 mrad, the O K cross-section
  integrated over 50 eV is 8.8e-22 cm² (C K over 100 eV: 6.2e-21 cm²), the magnitude
  of Egerton's tabulated hydrogenic values. It is *not* 1e3–1e4 barn/eV: that would be
  the integral over a ~50–100 eV window in barn.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np


def _import_exspy():
    """Import exspy lazily (~2–3 s) without HyperSpy's deprecation chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from hyperspy.exceptions import VisibleDeprecationWarning
            warnings.simplefilter("ignore", VisibleDeprecationWarning)
        except ImportError:  # pragma: no cover - hyperspy always ships it
            pass
        import exspy.material
        from exspy.components import EELSCLEdge
    return EELSCLEdge, exspy.material.elements


def _split_edge(edge: str) -> tuple[str, str]:
    parts = edge.split("_")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f"edge names are 'Element_subshell' (e.g. 'O_K', 'Mn_L3'), got {edge!r}")
    return parts[0], parts[1]


def edge_onset_energies(edges: Iterable[str]) -> dict[str, float]:
    """Onset energies (eV) of edges from exspy's element database.

    Parameters
    ----------
    edges : iterable of str
        Edge names in exspy spelling, e.g. ``"O_K"``, ``"Mn_L3"``, ``"Ni_L2"``.

    Returns
    -------
    dict of str to float
        ``{edge: onset_eV}``.

    Raises
    ------
    ValueError
        For an unknown element or subshell.
    """
    _, elements = _import_exspy()
    out = {}
    for edge in edges:
        element, subshell = _split_edge(edge)
        if element not in elements:
            raise ValueError(f"{edge!r}: element {element!r} is not in exspy's database")
        shells = elements[element]["Atomic_properties"]["Binding_energies"]
        if subshell not in shells:
            raise ValueError(f"{edge!r}: subshell {subshell!r} unknown; "
                             f"{element} has {sorted(shells.keys())}")
        out[edge] = float(shells[subshell]["onset_energy (eV)"])
    return out


def _check_inputs(energy, beam_energy_keV, convergence_mrad, collection_mrad) -> np.ndarray:
    e = np.asarray(energy, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError("energy_eV must be a finite, strictly increasing 1-D axis of >= 2 values")
    if e[0] <= 0:
        raise ValueError(f"energy_eV must be energy losses > 0 eV, starts at {e[0]}")
    if not (beam_energy_keV > 0 and collection_mrad > 0 and convergence_mrad >= 0):
        raise ValueError("beam_energy_keV and collection_mrad must be > 0, convergence_mrad >= 0")
    return e


def hydrogenic_cross_sections(edges: Iterable[str], energy_eV, *, beam_energy_keV: float,
                              convergence_mrad: float, collection_mrad: float
                              ) -> dict[str, np.ndarray]:
    """Per-atom continuum partial cross-sections (barn/eV) from exspy's hydrogenic GOS.

    Parameters
    ----------
    edges : iterable of str
        exspy edge names with K or L subshells, e.g. ``("O_K", "Mn_L3", "Co_L3",
        "Ni_L3")``. An ``"X_L3"`` curve covers the whole L2,3 (and, above its onset, L1)
        shell; ask for L3 only, or the shell is counted twice.
    energy_eV : ndarray of shape (n_channels,)
        Energy-loss axis (eV), increasing; the cross-sections are sampled at these
        energies (channel centres).
    beam_energy_keV : float
        Incident energy E0.
    convergence_mrad, collection_mrad : float
        Convergence (α) and collection (β) semi-angles.

    Returns
    -------
    dict of str to ndarray of shape (n_channels,)
        Float64 dσ/dE per atom in barn/eV, zero below each onset.

    Raises
    ------
    ValueError
        For a bad axis or angles, an unknown edge, or a subshell other than K or L.
    """
    e = _check_inputs(energy_eV, beam_energy_keV, convergence_mrad, collection_mrad)
    edges = list(edges)
    edge_onset_energies(edges)          # validates names against the database
    EELSCLEdge, _ = _import_exspy()
    step = float((e[-1] - e[0]) / (e.size - 1))
    out = {}
    for edge in edges:
        if _split_edge(edge)[1][0] not in "KL":
            raise ValueError(f"{edge!r}: the hydrogenic GOS covers K and L shells only")
        component = EELSCLEdge(edge, GOS="hydrogenic")
        component.set_microscope_parameters(E0=float(beam_energy_keV),
                                            alpha=float(convergence_mrad),
                                            beta=float(collection_mrad), energy_scale=step)
        if not hasattr(component, "tab_xsection"):
            # exspy integrates the GOS only when the effective angle changes
            component._integrate_GOS()
        component.intensity.value = 1.0
        out[edge] = np.asarray(component.function(e), dtype=np.float64)
    return out
