"""Projected structures: space groups from generators, zone-axis projection, presets."""
from __future__ import annotations

import numpy as np
import pytest

from batteryscope.analysis.columns.structures import (PRESETS, ProjectedStructure, limn2o4, li2mno3,
                                                      licoo2, lifepo4, orbit, parse_symop, preset,
                                                      project_crystal, rock_salt)
from batteryscope.analysis.specimens.lifepo4_structure import lifepo4_structure, project_along_b


@pytest.mark.parametrize("factory, n_ops, multiplicities", [
    (lifepo4, 8, [4, 4, 4, 4, 4, 8]),          # Pnma: 4a, 4c x4, 8d
    (licoo2, 36, [3, 3, 6]),                   # R-3m hexagonal: 3a, 3b, 6c
    (li2mno3, 8, [2, 2, 4, 4, 4, 8]),          # C2/m: 2b, 2c, 4h, 4g, 4i, 8j
    (limn2o4, 192, [8, 16, 32]),               # Fd-3m: 8a, 16d, 32e
    (rock_salt, 192, [4, 4]),                  # Fm-3m: 4a, 4b
])
def test_space_groups_give_the_wyckoff_multiplicities(factory, n_ops, multiplicities):
    crystal = factory()
    assert len(crystal.ops) == n_ops
    assert [len(orbit(a.frac, crystal.ops)) for a in crystal.atoms] == multiplicities


def _min_distance(crystal, el1, el2):
    m = crystal.lattice_matrix()
    p1 = np.concatenate([orbit(a.frac, crystal.ops) for a in crystal.atoms if a.element == el1])
    p2 = np.concatenate([orbit(a.frac, crystal.ops) for a in crystal.atoms if a.element == el2])
    d = p1[:, None, :] - p2[None, :, :]
    d -= np.round(d)
    return float(np.linalg.norm(d @ m, axis=2).min())


@pytest.mark.parametrize("factory, pair, expected", [
    (limn2o4, ("Mn", "O"), 1.96), (limn2o4, ("Li", "O"), 1.98), (licoo2, ("Co", "O"), 1.92),
    (rock_salt, ("Ni", "O"), 2.09), (lifepo4, ("P", "O"), 1.53), (li2mno3, ("Mn", "O"), 1.90),
])
def test_generated_structures_have_physical_bond_lengths(factory, pair, expected):
    # a wrong generator or origin choice gives wrong neighbours, not just wrong labels
    assert _min_distance(factory(), *pair) == pytest.approx(expected, abs=0.08)


def test_lfp_preset_matches_the_independent_olivine_projection():
    st = preset("lfp-010")
    ref = project_along_b(lifepo4_structure())
    assert np.allclose(np.sort(np.linalg.norm(st.basis_A, axis=1)), [4.692, 10.332])
    # the specimen module's columns are (u along a, w along c); ours have c first
    ours = sorted((s.label, round(s.w, 4), round(s.u, 4), s.n_atoms()) for s in st.sites)
    theirs = sorted((c.site, round(c.u, 4), round(c.w, 4), float(c.atoms_per_b)) for c in ref)
    assert ours == theirs


@pytest.mark.parametrize("name", list(PRESETS))
def test_projection_conserves_the_number_of_atoms(name):
    factory, zone = PRESETS[name]
    crystal = factory()
    st = preset(name)
    n_cell = sum(len(orbit(a.frac, crystal.ops)) * a.occupancy for a in crystal.atoms)
    volume = abs(np.linalg.det(crystal.lattice_matrix()))
    area = abs(np.linalg.det(st.basis_A))
    per_projected_cell = sum(s.n_atoms() for s in st.sites)
    assert per_projected_cell * volume / (area * st.repeat_A) == pytest.approx(n_cell, rel=1e-6)


def test_c2m_tm_row_shows_the_threefold_li_tm_tm_order():
    st = preset("layered-c2m")
    cart = st.fractional() @ st.basis_A
    row = [(cart[i, 0], s.label) for i, s in enumerate(st.sites) if abs(cart[i, 1]) < 1e-6]
    row.sort()
    assert [lab for _, lab in row] == ["LiTM", "TM", "TM"]
    spacing = np.diff([x for x, _ in row] + [np.linalg.norm(st.basis_A[0])])
    assert np.allclose(spacing, 8.532 / 6, atol=0.03)


def test_r3m_preset_is_the_primitive_cell_of_the_centred_lattice():
    st = preset("layered-r3m")
    a, b = np.linalg.norm(st.basis_A, axis=1)
    assert a == pytest.approx(2.816 / 2, rel=1e-6)          # a_hex/2 along [110]
    assert b == pytest.approx(14.05 / 3, rel=1e-6)          # one layer, c/3
    assert sorted(s.label for s in st.sites) == ["Li", "O", "O", "TM"]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown structure"):
        preset("perovskite")
    with pytest.raises(ValueError):
        parse_symop("x, y")
    with pytest.raises(ValueError, match="zone axis"):
        project_crystal(lifepo4(), (0, 0, 0))
    assert isinstance(preset("spinel"), ProjectedStructure)
