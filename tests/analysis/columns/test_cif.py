"""Minimal CIF reader → projected columns, checked against the presets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batteryscope.analysis.columns.cif import read_cif, read_cif_projection
from batteryscope.analysis.columns.structures import preset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cif"

ROCK_SALT_P1 = """data_NiO_conventional_P1
_cell_length_a 4.18
_cell_length_b 4.18
_cell_length_c 4.18
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Ni1 0 0 0
Ni2 0.5 0.5 0
Ni3 0.5 0 0.5
Ni4 0 0.5 0.5
O1 0.5 0 0
O2 0 0.5 0
O3 0 0 0.5
O4 0.5 0.5 0.5
"""


def test_lfp_cif_reproduces_the_preset():
    text = (FIXTURES / "LiFePO4_Pnma.cif").read_text()
    crystal = read_cif(text)
    assert crystal.cell == pytest.approx((10.332, 6.010, 4.692, 90, 90, 90))   # su stripped
    assert len(crystal.ops) == 8
    assert crystal.atoms[1].element == "Fe"                                   # from 'Fe2+'
    got = read_cif_projection(text, (0, 1, 0))
    ref = preset("lfp-010")
    assert np.allclose(got.basis_A, ref.basis_A)
    assert [s.label for s in got.sites] == [s.label for s in ref.sites]
    assert np.allclose(got.fractional(), ref.fractional(), atol=1e-4)


def test_p1_conventional_cell_reduces_to_the_primitive_projection():
    # no symmetry operations: the F-centring must be found from the motif itself
    got = read_cif_projection(ROCK_SALT_P1, (1, 1, 0))
    ref = preset("rock-salt")
    assert np.allclose(np.sort(np.linalg.norm(got.basis_A, axis=1)),
                       np.sort(np.linalg.norm(ref.basis_A, axis=1)), atol=1e-6)
    assert sorted(str(s.atoms) for s in got.sites) == sorted(str(s.atoms) for s in ref.sites)


def test_other_zone_axes_of_the_same_cif():
    text = (FIXTURES / "LiFePO4_Pnma.cif").read_text()
    # along c the glide (x+1/2, y, -z+1/2) projects to a translation a/2: an (a/2) x b cell
    st = read_cif_projection(text, (0, 0, 1))
    assert np.allclose(np.sort(np.linalg.norm(st.basis_A, axis=1)), [10.332 / 2, 6.010])
    assert st.repeat_A == pytest.approx(4.692)


@pytest.mark.parametrize("text, match", [
    ("_cell_length_a 3\n", "no data_"),
    ("data_x\n_cell_length_a 3\n_cell_length_b 3\n", "_cell_length_c"),
    ("data_x\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n", "_atom_site_fract_x"),
    ("data_x\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\nloop_\n_atom_site_label\n"
     "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nXx1 0 0\n", "malformed loop"),
])
def test_bad_cifs_are_refused_with_a_reason(text, match):
    with pytest.raises(ValueError, match=match):
        read_cif(text)
