"""Per-atom EELS continuum cross-sections: shipped Hartree–Slater tables or exspy hydrogenic.

Sources
-------
``source="hartree-slater"``: BatteryScope's own Hartree–Slater GOS tables
(``batteryscope/analysis/eels/gos_data``, computed by ``scripts/generate_gos_tables.py``,
BSD-3-Clause), integrated over q by :mod:`batteryscope.analysis.eels.cross_sections`. Works
offline; K (Li–Si), L2,3 (P, S, Ti–Cu) and M4,5 (La, Ce) where shipped. The L2,3 (M4,5)
table is put at the L3 (M5) onset with weight 2/3 (6/10) and at the L2 (M4) onset with
weight 1/3 (4/10); onsets from :mod:`batteryscope.analysis.eels.edges`. A whole-L-shell
request (``"Mn_L3"``) also adds the L1 (2s) table at the L1 onset for Ti–Cu, as the
hydrogenic ``X_L3`` does. White lines are not included. Convergence: proper integration
over the illumination cone (``"aperture"``).

``source="hydrogenic"``: exspy's hydrogenic GOS, described below (K and L only).

``source="auto"`` (default of :func:`cross_sections`): Hartree–Slater where a table is
shipped, hydrogenic otherwise; :func:`cross_section_sources` says which was used.

Hydrogenic (exspy)
------------------
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


SOURCES = ("auto", "hartree-slater", "hydrogenic")
HARTREE_SLATER = "hartree-slater (BatteryScope tables)"
HYDROGENIC = "hydrogenic (exspy)"

#: shell asked for -> (table suffix, shells whose onsets carry the table, statistical weights)
_SHELLS = {
    "K": ("K", ("K",), (1.0,)),
    "L3": ("L23", ("L3", "L2"), (2 / 3, 1 / 3)),
    "L2,3": ("L23", ("L3", "L2"), (2 / 3, 1 / 3)),
    "L23": ("L23", ("L3", "L2"), (2 / 3, 1 / 3)),
    "L2": ("L23", ("L2",), (1 / 3,)),
    "L1": ("L1", ("L1",), (1.0,)),
    "M5": ("M45", ("M5", "M4"), (0.6, 0.4)),
    "M4,5": ("M45", ("M5", "M4"), (0.6, 0.4)),
    "M45": ("M45", ("M5", "M4"), (0.6, 0.4)),
    "M4": ("M45", ("M4",), (0.4,)),
}


#: requests that mean the whole L shell: the L1 (2s) table is added at its own onset
_WHOLE_L = ("L3", "L2,3", "L23")


def _hartree_slater_plan(edge: str):
    """[(table name, [(onset, weight)]), ...] for an edge, or None if no table is shipped.

    A whole-L-shell request (``X_L3``) also gets the L1 table at the L1 onset where one is
    shipped (Ti–Cu), as exspy's hydrogenic ``X_L3`` includes L1 above its onset: the
    weak 2s edge lies under the next metal's L2,3 (Mn L1 769 eV, Co L3 779 eV).
    """
    main = _table_plan(edge)
    if main is None:
        return None
    element, subshell = _split_edge(edge)
    parts = [main]
    if subshell in _WHOLE_L:
        l1 = _table_plan(f"{element}_L1")
        if l1 is not None:
            parts.append(l1)
    return parts


def _table_plan(edge: str):
    """(table name, [(onset, weight)]) for one table, or None if it is not shipped."""
    from batteryscope.analysis.eels.cross_sections import available_gos_tables
    from batteryscope.analysis.eels.edge_table import EDGES

    element, subshell = _split_edge(edge)
    if subshell not in _SHELLS:
        return None
    suffix, shells, weights = _SHELLS[subshell]
    name = f"{element}_{suffix}"
    if name not in available_gos_tables():
        return None
    known = EDGES.get(element, {})
    onsets = []
    for shell, weight in zip(shells, weights):
        if shell in known:
            onsets.append((float(known[shell][0]), weight))
    if not onsets and suffix == "L23" and "L2,3" in known:      # P, S: one L2,3 onset
        onsets = [(float(known["L2,3"][0]), float(sum(weights)))]
    if not onsets and suffix == "M45" and "M4,5" in known:
        onsets = [(float(known["M4,5"][0]), float(sum(weights)))]
    if not onsets:
        return None
    if subshell in ("L3", "L2,3", "L23", "M5", "M4,5", "M45") and len(onsets) == 1:
        onsets = [(onsets[0][0], 1.0)]                          # the whole family at one onset
    return name, onsets


def cross_section_sources(edges: Iterable[str], *, source: str = "auto") -> dict[str, str]:
    """Which source :func:`cross_sections` uses for each edge (for reports and JSON).

    Returns ``{edge: "hartree-slater (BatteryScope tables)" | "hydrogenic (exspy)"}``.

    Raises
    ------
    ValueError
        Unknown ``source``, or ``source="hartree-slater"`` for an edge without a table.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    out = {}
    for edge in edges:
        plan = _hartree_slater_plan(edge) if source != "hydrogenic" else None
        if plan is None and source == "hartree-slater":
            from batteryscope.analysis.eels.cross_sections import available_gos_tables
            raise ValueError(f"{edge!r}: no Hartree-Slater table shipped; available: "
                             f"{available_gos_tables()} (or use source='hydrogenic')")
        out[edge] = HARTREE_SLATER if plan is not None else HYDROGENIC
    return out


def cross_sections(edges: Iterable[str], energy_eV, *, beam_energy_keV: float,
                   convergence_mrad: float, collection_mrad: float, source: str = "auto"
                   ) -> dict[str, np.ndarray]:
    """Per-atom continuum partial cross-sections dσ/dE (barn/eV) from the chosen source.

    Parameters
    ----------
    edges : iterable of str
        exspy-style names: ``"O_K"``, ``"Mn_L3"`` (the whole L2,3 family, as for the
        hydrogenic source), ``"P_L2,3"``, ``"La_M5"`` (the whole M4,5 family). ``"X_L2"``
        / ``"X_M4"`` give the L2 / M4 part only with the Hartree–Slater source.
    energy_eV : ndarray of shape (n_channels,)
        Increasing energy-loss axis (eV), channel centres.
    beam_energy_keV, convergence_mrad, collection_mrad : float
        E0, α, β.
    source : {"auto", "hartree-slater", "hydrogenic"}
        See the module docstring and :func:`cross_section_sources`.

    Returns
    -------
    dict of str to ndarray of shape (n_channels,)
        Float64 barn/eV, zero below each onset.
    """
    from batteryscope.analysis.eels.cross_sections import (differential_cross_section,
                                                           load_gos_table)

    e = _check_inputs(energy_eV, beam_energy_keV, convergence_mrad, collection_mrad)
    edges = list(edges)
    for edge in edges:
        _split_edge(edge)
    used = cross_section_sources(edges, source=source)
    out = {}
    hydro = [edge for edge in edges if used[edge] == HYDROGENIC]
    if hydro:
        out.update(hydrogenic_cross_sections(hydro, e, beam_energy_keV=beam_energy_keV,
                                             convergence_mrad=convergence_mrad,
                                             collection_mrad=collection_mrad))
    for edge in edges:
        if used[edge] != HARTREE_SLATER:
            continue
        out[edge] = sum(differential_cross_section(load_gos_table(name), e, onsets=onsets,
                                                   beam_energy_keV=float(beam_energy_keV),
                                                   convergence_mrad=float(convergence_mrad),
                                                   collection_mrad=float(collection_mrad))
                        for name, onsets in _hartree_slater_plan(edge))
    return {edge: out[edge] for edge in edges}
