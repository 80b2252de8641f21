"""A minimal CIF reader: cell, symmetry operations and atom sites → projected columns.

Reads the first data block of a CIF 1.1 text (Hall et al., Acta Cryst. A 47 (1991) 655):
``_cell_length_a/b/c``, ``_cell_angle_alpha/beta/gamma``, the symmetry operations
(``_symmetry_equiv_pos_as_xyz`` or ``_space_group_symop_operation_xyz``) and the atom
sites (``_atom_site_label``, ``_atom_site_type_symbol``, ``_atom_site_fract_x/y/z``,
``_atom_site_occupancy``). Numbers may carry standard uncertainties, ``10.332(2)``.
Semicolon text fields are skipped. A CIF without symmetry operations is taken as P1.
Text in, values out: the caller reads the file.
"""
from __future__ import annotations

import re
import shlex

from .structures import ATOMIC_NUMBER, Atom, Crystal, ProjectedStructure, parse_symop, project_crystal

_SYMOP_TAGS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")


def _number(text: str) -> float:
    m = re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text.strip())
    if not m:
        raise ValueError(f"not a number: {text!r}")
    return float(m.group(0))


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    in_field = False
    for line in text.splitlines():
        if line.startswith(";"):
            in_field = not in_field
            continue
        if in_field:
            continue
        line = line.split("#", 1)[0] if not ("'" in line or '"' in line) else line
        if not line.strip():
            continue
        try:
            out.extend(shlex.split(line, posix=True))
        except ValueError:
            out.extend(line.split())
    return out


def parse_cif(text: str) -> tuple[dict, dict]:
    """Items (``tag -> value``) and loops (``tag -> list of values``) of the first data block."""
    tokens = _tokens(text)
    items: dict = {}
    loops: dict = {}
    i, seen_data = 0, False
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        if low.startswith("data_"):
            if seen_data:
                break
            seen_data = True
            i += 1
        elif low == "loop_":
            i += 1
            tags = []
            while i < len(tokens) and tokens[i].startswith("_"):
                tags.append(tokens[i].lower())
                i += 1
            values = []
            while i < len(tokens) and not tokens[i].startswith("_") and tokens[i].lower() != "loop_" \
                    and not tokens[i].lower().startswith("data_"):
                values.append(tokens[i])
                i += 1
            if not tags or len(values) % len(tags):
                raise ValueError(f"malformed loop ({len(tags)} tags, {len(values)} values)")
            for k, tag in enumerate(tags):
                loops[tag] = values[k::len(tags)]
        elif tok.startswith("_"):
            if i + 1 >= len(tokens):
                raise ValueError(f"tag {tok} has no value")
            items[low] = tokens[i + 1]
            i += 2
        else:
            i += 1
    if not seen_data:
        raise ValueError("not a CIF: no data_ block")
    return items, loops


def _element(label: str, symbol: str | None) -> str:
    text = symbol or label
    m = re.match(r"([A-Z][a-z]?)", text)
    if not m:
        raise ValueError(f"cannot tell the element of atom site {label!r}")
    el = m.group(1)
    if el not in ATOMIC_NUMBER and el[0] in ATOMIC_NUMBER:
        el = el[0]
    if el not in ATOMIC_NUMBER:
        raise ValueError(f"element {el!r} of atom site {label!r} is not in the Z table")
    return el


def read_cif(text: str, *, name: str | None = None) -> Crystal:
    """A :class:`~.structures.Crystal` from CIF text.

    Raises
    ------
    ValueError
        Missing cell or atom sites, unreadable numbers or symmetry operations.
    """
    items, loops = parse_cif(text)
    try:
        cell = tuple(_number(items[f"_cell_length_{a}"]) for a in "abc") + \
            tuple(_number(items.get(f"_cell_angle_{a}", "90")) for a in ("alpha", "beta", "gamma"))
    except KeyError as exc:
        raise ValueError(f"the CIF has no {exc.args[0]}") from None
    if min(cell[:3]) <= 0 or not all(0 < v < 180 for v in cell[3:]):
        raise ValueError(f"impossible cell {cell}")
    ops_text = next((loops[t] for t in _SYMOP_TAGS if t in loops), None)
    if ops_text is None:
        ops_text = next(([items[t]] for t in _SYMOP_TAGS if t in items), ["x,y,z"])
    ops = tuple(parse_symop(s) for s in ops_text)
    if "_atom_site_fract_x" not in loops:
        raise ValueError("the CIF has no _atom_site_fract_x/y/z loop")
    labels = loops.get("_atom_site_label") or [f"A{k}" for k in range(len(loops["_atom_site_fract_x"]))]
    symbols = loops.get("_atom_site_type_symbol", [None] * len(labels))
    occ = loops.get("_atom_site_occupancy", ["1"] * len(labels))
    atoms = []
    for k, lab in enumerate(labels):
        frac = tuple(_number(loops[f"_atom_site_fract_{c}"][k]) for c in "xyz")
        atoms.append(Atom(lab, _element(lab, symbols[k]), frac, _number(occ[k]) if occ[k] not in "?." else 1.0))
    title = name or items.get("_chemical_formula_sum") or items.get("_chemical_name_systematic") or "CIF"
    return Crystal(str(title), cell, tuple(atoms), ops)


def read_cif_projection(text: str, zone_axis, *, name: str | None = None) -> ProjectedStructure:
    """Projected columns of the CIF's crystal along ``zone_axis`` ``[u, v, w]``."""
    return project_crystal(read_cif(text, name=name), zone_axis)
