"""``batteryscope eels-calibrate``: a valence calibration from reference compounds.

    batteryscope eels-calibrate --element Mn \\
        --standard MnO.hspy 2 MnO_ll.hspy --standard Mn2O3.hspy 3 --standard MnO2.hspy 4 \\
        --citation "MnO/Mn2O3/MnO2 powders, 2026-11-02, 300 kV" --out mn_valence.json

Each standard is quantified like an unknown (``batteryscope eels``: same white-line windows,
plural scattering removed with its low loss when one is given, ``--roi`` for all standards);
its L3/L2 ratio and error become one calibration point. The file is then given to
``batteryscope eels ... --valence-calibration mn_valence.json``. An existing file is extended
with the new element (other elements kept); the same element is refused unless
``--replace``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .eels_valence import CalibrationError, calibration_entry, load_calibrations


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="batteryscope eels-calibrate",
        description="Build an L3/L2 → valence calibration from spectra of reference "
                    "compounds of known valence.")
    p.add_argument("--element", required=True, help="Mn, Fe, Co or Ni")
    p.add_argument("--standard", action="append", nargs="+", required=True,
                   metavar="FILE VALENCE [LOWLOSS]",
                   help="a standard's core-loss file, its formal valence and optionally its "
                        "low-loss file (repeat for each standard)")
    p.add_argument("--roi", metavar="x0,y0,x1,y1", help="pixels to sum in every standard")
    p.add_argument("--citation", required=True,
                   help="where the standards come from (sample, session or publication)")
    p.add_argument("--out", required=True, metavar="FILE.json")
    p.add_argument("--replace", action="store_true",
                   help="replace the element's entry if the file already has one")
    p.add_argument("--json", action="store_true", help="print the entry as JSON")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _standards(args, quantify):
    out = []
    for spec in args.standard:
        if len(spec) not in (2, 3):
            raise CalibrationError(f"--standard takes FILE VALENCE [LOWLOSS], got {' '.join(spec)}")
        try:
            valence = float(spec[1])
        except ValueError:
            raise CalibrationError(f"--standard {spec[0]}: valence {spec[1]!r} is not a number") from None
        lowloss = spec[2] if len(spec) == 3 else None
        result = quantify(spec[0], lowloss)
        row = next(r for r in result["elements"] if r["element"] == args.element)
        out.append({"file": spec[0], "valence": valence, "lowloss": lowloss, "row": row})
    return out


def run(args) -> int:
    from batteryscope.analysis.eels.white_lines import SPIN_ORBIT_eV

    from .atomic_write import write_text_atomic
    from .eels_quantify import parse_elements, parse_roi, quantify_file

    element = parse_elements(args.element)
    if len(element) != 1 or element[0] not in SPIN_ORBIT_eV:
        raise CalibrationError(f"--element must be one of {', '.join(SPIN_ORBIT_eV)}, "
                               f"got {args.element!r}")
    element = element[0]
    roi = parse_roi(args.roi)
    out = Path(args.out)
    existing = {}
    if out.exists():                   # checked before any work: refuse a broken file
        load_calibrations(out)
        existing = json.loads(out.read_text())
        if element in existing and not args.replace:
            raise CalibrationError(f"{out} already calibrates {element}; give --replace")
    standards = _standards(args, lambda f, ll: quantify_file(f, [element], roi=roi, lowloss=ll))
    existing[element] = calibration_entry(element, standards, args.citation)
    entry = existing[element]
    write_text_atomic(out, json.dumps(existing, indent=1))
    if args.json:
        print(json.dumps(entry, indent=1))
    else:
        points = ", ".join(f"{v:g}+ → {r:.3f} ± {s:.3f}" for v, r, s in
                           zip(entry["valences"], entry["ratios"], entry["ratio_stds"]))
        print(f"{element} L3/L2: {points}\nwritten to {out}")
    return 0
