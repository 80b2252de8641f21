"""``batteryscope columns``: find, index and measure atom columns; antisites and Li staging.

    batteryscope columns FILE [--abf FILE2] [--structure lfp-010|layered-r3m|layered-c2m|
                              spinel|rock-salt|CIF:ZONE] [--pixel-size Å] [--json | --csv OUT]

``--structure`` also takes a CIF file with a zone axis, ``path/to/file.cif:1,0,0``.
The pixel size comes from the file's calibration unless ``--pixel-size`` is given.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .errors import UserFacingError


class ColumnsError(UserFacingError):
    """Bad input to ``batteryscope columns`` (one-line message)."""


def build_parser() -> argparse.ArgumentParser:
    from batteryscope.analysis.columns.structures import PRESETS

    p = argparse.ArgumentParser(prog="batteryscope columns",
                                description="Find and measure atom columns: sublattices, per-column "
                                            "intensities, Fe-on-Li antisites (HAADF), Li staging (ABF).")
    p.add_argument("file", metavar="FILE", help="HAADF (or ABF) atomic-resolution image")
    p.add_argument("--abf", metavar="FILE2", help="simultaneously recorded ABF image (Li columns)")
    p.add_argument("--structure", default="lfp-010",
                   help=f"projected structure: {', '.join(PRESETS)}, or FILE.cif:u,v,w "
                        "(default lfp-010)")
    p.add_argument("--pixel-size", type=float, metavar="Å", help="pixel size in Å (overrides the file)")
    p.add_argument("--fdr", type=float, default=0.01, help="false-discovery rate of antisite calls")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    out.add_argument("--csv", metavar="OUT", help="write one row per column to OUT (CSV)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def parse_structure(text: str):
    """A preset name or ``path.cif:u,v,w`` → ProjectedStructure (ColumnsError if bad)."""
    from batteryscope.analysis.columns.structures import PRESETS, preset

    if text in PRESETS:
        return preset(text)
    path, _, zone = text.rpartition(":")
    if text.lower().endswith(".cif"):
        raise ColumnsError(f"--structure {text}: give the zone axis, e.g. {text}:1,0,0")
    if path.lower().endswith(".cif"):
        from pathlib import Path

        from batteryscope.analysis.columns.cif import read_cif_projection

        try:
            uvw = tuple(int(v) for v in zone.replace(" ", "").split(","))
            if len(uvw) != 3:
                raise ValueError
        except ValueError:
            raise ColumnsError(f"--structure {text}: zone axis must be three integers u,v,w") from None
        try:
            return read_cif_projection(Path(path).read_text(errors="replace"), uvw, name=Path(path).stem)
        except OSError as exc:
            raise ColumnsError(f"{path}: cannot read CIF ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ColumnsError(f"{Path(path).name}: {exc}") from None
    raise ColumnsError(f"unknown --structure {text!r}; use one of {', '.join(PRESETS)} or FILE.cif:u,v,w")


def _load_image(path):
    from .hyperspy_adapter import load_signals
    from .signal_description import acquisition_of, axes_of

    signals = load_signals(path)
    images = [s for s in signals if s.axes_manager.signal_dimension == 2
              and s.axes_manager.navigation_dimension == 0]
    if not images:
        raise ColumnsError(f"{path}: no single 2-D image in the file (columns needs an "
                           "atomic-resolution image)")
    s = images[0]
    data = np.asarray(s.data, dtype=float)
    if not np.all(np.isfinite(data)):
        raise ColumnsError(f"{path}: the image contains NaN or infinite values")
    from batteryscope.analysis.length_units import nm_per_unit

    x_axis = axes_of(s)[-1]
    factor = nm_per_unit(x_axis.units)
    pixel_A = abs(x_axis.scale) * factor * 10.0 if factor else None
    detector = str(acquisition_of(s).get("detector", "") or "").upper()
    return data, pixel_A, detector


def run(args) -> int:
    structure = parse_structure(args.structure)
    image, pixel_A, detector = _load_image(args.file)
    abf = None
    if args.abf:
        abf, _, _ = _load_image(args.abf)
    if args.pixel_size is not None:
        if not (np.isfinite(args.pixel_size) and 0 < args.pixel_size <= 5):
            raise ColumnsError(f"--pixel-size must be in (0, 5] Å, got {args.pixel_size}")
        pixel_A = args.pixel_size
    if pixel_A is not None and not 0.005 <= pixel_A <= 5:
        raise ColumnsError(f"{args.file}: pixel size {pixel_A:.4g} Å is not atomic resolution; "
                           "give --pixel-size if the calibration is wrong")
    is_abf = "ABF" in detector or "BF" == detector
    from .columns_pipeline import analyse_columns, columns_csv

    try:
        result = analyse_columns(image, structure, pixel_size_A=pixel_A, abf=abf,
                                 image_is_abf=is_abf, fdr=args.fdr)
    except ValueError as exc:
        raise ColumnsError(f"{args.file}: {exc}") from None
    result = {"file": str(args.file), "abf_file": str(args.abf) if args.abf else None, **result}
    if args.csv:
        from pathlib import Path

        from .atomic_write import write_text_atomic
        from .errors import FileSaveError

        try:
            write_text_atomic(Path(args.csv), columns_csv(result))
        except OSError as exc:
            raise FileSaveError(args.csv, exc.strerror or str(exc)) from None
        print(f"{len(result['columns'])} columns written to {args.csv}")
    elif args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_summary(result))
    return 0


def format_summary(result: dict) -> str:
    lat = result["lattice"]
    lines = [f"file: {result['file']}  structure: {result['structure']} "
             f"[{' '.join(map(str, result['zone_axis']))}]",
             f"columns: {result['n_columns']} sites ({result['n_found']} found as peaks), "
             f"column sigma {result['sigma_px']:.2f} px"]
    if "a_A" in lat:
        lines.append(f"lattice: {lat['a_A']:.3f} Å × {lat['b_A']:.3f} Å, {lat['angle_deg']:.1f}°")
    if "antisite_concentration" in result:
        a, c = result["antisites"], result["antisite_concentration"]
        lines.append(f"antisites: {a['n_antisite']} of {a['n_host_columns']} {a['host_site']} columns "
                     f"(FDR {a['false_discovery_rate']:g}); {a['reference_site']} on {a['host_site']} "
                     f"sites: {100 * c['value']:.2f} ± {100 * c['err']:.2f} %")
    if "superstructure" in result and "c2m_fraction" in result["superstructure"]:
        sup = result["superstructure"]
        lines.append(f"C2/m three-fold order: {100 * sup['c2m_fraction']:.0f} % of {sup['n_columns']} "
                     f"TM-row columns (variants {sup['variant_counts']})")
    if "staging" in result:
        s = result["staging"]
        if s["detected"]:
            pa = f" ({s['period_A']:.2f} Å)" if s.get("period_A") else ""
            lines.append(f"Li staging: period {s['period']} planes{pa} in planes {s['planes']}, "
                         f"contrast {s['amplitude']:.2f} (measured on {s.get('measured_on')})")
        else:
            lines.append("Li staging: none")
    return "\n".join(lines)
