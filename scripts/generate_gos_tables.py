#!/usr/bin/env python
"""Compute the Hartree–Slater GOS tables shipped in ``analysis/eels/gos_data/``.

Usage::

    python scripts/generate_gos_tables.py [EDGE ...]      # e.g. O_K Ni_L23; default: all

Each edge becomes ``analysis/eels/gos_data/<Element>_<K|L1|L23|M45>.npz`` holding::

    gos        float32 (n_eps, n_q)  df/dE per eV for the whole subshell (all N electrons)
    eps_eV     float64 (n_eps,)      kinetic energy of the ejected electron (energy above
                                     the ionisation threshold)
    q_inv_a0   float64 (n_q,)        momentum transfer in 1/a0 (log-spaced)
    binding_eV float64 ()            |orbital eigenvalue| of the core subshell (Hartree–Slater)
    z, n, l, occupation              atom and subshell
    meta       str (JSON)            method, grids, versions

df/dE was computed with the energy loss ``E = binding_eV + eps_eV``; at run time the
loader puts the table at the measured edge onset (``E = onset + eps``) and rescales the
``E`` in the 2E/q^2 prefactor accordingly (see ``analysis/eels/cross_sections.py``).

Method: see ``batteryscope.analysis.eels._hartree_slater`` (self-consistent
Hartree–Slater atom with Latter tail; continuum in the ground-state potential, no core
hole; multipole expansion of the GOS). Runs in a few minutes per edge on one core.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from batteryscope.analysis.eels import _hartree_slater as hs

OUT = Path(__file__).resolve().parents[1] / "analysis" / "eels" / "gos_data"

#: edge file stem -> (Z, core orbital)
EDGES = {
    "Li_K": (3, "1s"), "B_K": (5, "1s"), "C_K": (6, "1s"), "N_K": (7, "1s"), "O_K": (8, "1s"),
    "F_K": (9, "1s"), "Na_K": (11, "1s"), "Mg_K": (12, "1s"), "Al_K": (13, "1s"),
    "Si_K": (14, "1s"),
    "P_L23": (15, "2p"), "S_L23": (16, "2p"), "Ti_L23": (22, "2p"), "V_L23": (23, "2p"),
    "Cr_L23": (24, "2p"), "Mn_L23": (25, "2p"), "Fe_L23": (26, "2p"), "Co_L23": (27, "2p"),
    "Ni_L23": (28, "2p"), "Cu_L23": (29, "2p"),
    "La_M45": (57, "3d"), "Ce_M45": (58, "3d"),
    # L1 (2s) of the 3d metals: weak, but ~130-150 eV above L3, under the next metal's L2,3
    # (Mn L1 769 eV, Co L3 779 eV in NMC); the L2,3 loader adds it at the L1 onset
    "Ti_L1": (22, "2s"), "V_L1": (23, "2s"), "Cr_L1": (24, "2s"), "Mn_L1": (25, "2s"),
    "Fe_L1": (26, "2s"), "Co_L1": (27, "2s"), "Ni_L1": (28, "2s"), "Cu_L1": (29, "2s"),
}

#: kinetic energy of the ejected electron (eV): 0.5 eV steps near threshold (where
#: shape resonances live), then log-spaced to 1.5 keV; beyond, the loader extrapolates.
EPS_EV = np.concatenate((np.arange(0.25, 40.0, 0.5), np.geomspace(40.0, 1500.0, 46)[1:]))
#: momentum transfer (1/a0), log-spaced: 0.002 is below q_min of a 50 eV loss at 300 kV;
#: 30 is beyond the Bethe ridge of every tabulated energy (q^2 ~ 2E, E < 3 keV).
Q_INV_A0 = np.geomspace(0.002, 30.0, 90)
#: multipoles kept; j_lam(q r) over a core orbital is negligible for lam > q r_core + ~10
LAM_MAX = 30


def compute(stem: str) -> dict:
    z, orbital = EDGES[stem]
    t0 = time.time()
    grid = hs.RadialGrid(z)
    v, orbitals = hs.self_consistent_atom(z, grid)
    energy_Ha, u, occ = orbitals[orbital]
    n, l = int(orbital[:-1]), hs._L[orbital[-1]]
    gos_Ha = hs.subshell_gos(grid, v, u, l, occ, -energy_Ha, EPS_EV / hs.HARTREE_EV, Q_INV_A0,
                             lam_max=LAM_MAX, z=z)
    meta = {
        "edge": stem, "orbital": orbital, "method": "Hartree-Slater (Herman-Skillman, Slater "
        "exchange alpha=1, Latter tail), ground-state potential (no core hole), continuum "
        "normalised per unit energy, multipole expansion to lambda_max=%d" % LAM_MAX,
        "configuration": hs.ground_configuration(z),
        "eigenvalues_eV": {k: round(e * hs.HARTREE_EV, 4) for k, (e, _, _) in orbitals.items()},
        "grid": {"h": grid.h, "c": grid.c, "r_max": float(grid.r[-1]), "points": int(grid.r.size)},
        "numpy": np.__version__, "seconds": round(time.time() - t0, 1),
        "generator": "scripts/generate_gos_tables.py",
    }
    return {"gos": (gos_Ha / hs.HARTREE_EV).astype(np.float32), "eps_eV": EPS_EV,
            "q_inv_a0": Q_INV_A0, "binding_eV": np.float64(-energy_Ha * hs.HARTREE_EV),
            "z": np.int64(z), "n": np.int64(n), "l": np.int64(l),
            "occupation": np.float64(occ), "meta": json.dumps(meta)}


def main(argv: list[str]) -> int:
    stems = argv or list(EDGES)
    unknown = [s for s in stems if s not in EDGES]
    if unknown:
        print(f"unknown edges {unknown}; known: {sorted(EDGES)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        data = compute(stem)
        np.savez_compressed(OUT / f"{stem}.npz", **data)
        meta = json.loads(data["meta"])
        print(f"{stem}: binding {float(data['binding_eV']):.1f} eV, {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
