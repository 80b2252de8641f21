"""The ``batteryscope`` command.

    batteryscope [--demo] [FILE ...]          start the GUI (optionally on the demo data)
    batteryscope --screenshot OUT.png [...]   render the main window offscreen and exit
    batteryscope info FILE [--json]           describe a file without starting Qt
    batteryscope demo --out DIR               write the demo specimens (.hspy + truth .json)
    batteryscope eels FILE --elements O,Mn,Ni quantify an EELS spectrum (image) [--roi, --json]
    batteryscope columns FILE [...]           find and measure atom columns
    batteryscope devices                      list the installed hardware drivers
    batteryscope acquire [...] --out FILE     record frames headless (simulated microscope by default)
    batteryscope acquire-si [...] --out FILE  record a spectrum image headless

Subcommands other than the first four live in their own modules (``PLUGGED_COMMANDS``),
each with ``build_parser()`` and ``run(args) -> int``, imported only when used.

Errors the user can act on (bad files, no display) print one line on stderr and exit
with status 2 (bad input) or 3 (no usable display); ``--debug`` adds the traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback

from . import __version__
from .errors import UserFacingError

EXIT_BAD_INPUT = 2
EXIT_NO_DISPLAY = 3
SUBCOMMANDS = ("info", "demo", "eels")
# name -> module (relative to this package) with build_parser() and run(args)
PLUGGED_COMMANDS = {
    "columns": ".columns_command",
    "devices": ".hardware.devices_command",
    "acquire": ".acquisition.acquire_command",
    "acquire-si": ".acquisition.acquire_si_command",
    "smoke-test": ".smoke_test",
    "eels-calibrate": ".eels_calibrate_command",
}


def _gui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="batteryscope",
        description="Analytical electron microscopy of Li-ion battery materials. "
                    "Headless commands: 'batteryscope info FILE', 'batteryscope demo --out DIR'.")
    p.add_argument("files", nargs="*", metavar="FILE", help="microscope files to open")
    p.add_argument("--demo", action="store_true", help="open the built-in demo specimens")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the main window offscreen to OUT.png and exit")
    p.add_argument("--panel", metavar="NAME", help="with --screenshot: open this dock panel")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"BatteryScope {__version__}")
    return p


def _info_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope info",
                                description="Describe what a microscope file holds (no GUI).")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _demo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope demo",
                                description="Write the demo specimens as .hspy files with truth .json.")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _eels_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="batteryscope eels",
        description="Atomic % from the core-loss edges of an EELS spectrum (image): Poisson "
                    "maximum-likelihood power-law background, offline Hartree-Slater or "
                    "hydrogenic cross-sections, Poisson + background errors.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--elements", required=True, metavar="O,Mn,Ni", help="elements to quantify")
    p.add_argument("--roi", metavar="x0,y0,x1,y1",
                   help="pixels to sum (x1, y1 exclusive); the whole scan by default")
    p.add_argument("--lowloss", metavar="FILE",
                   help="the paired low-loss SI: aligns the energy per pixel (zero-loss "
                        "position) and reports t/λ")
    p.add_argument("--method", choices=("window", "model"), default="window",
                   help="window integration (default) or a model fit with the background "
                        "exponent free and free fine structure (for overlapping edges)")
    p.add_argument("--cross-sections", dest="cross_sections", default="auto",
                   choices=("auto", "hartree-slater", "hydrogenic"),
                   help="auto: the shipped Hartree-Slater tables where they exist, else "
                        "exspy's hydrogenic model")
    p.add_argument("--beam-energy", type=float, metavar="KEV", help="override E0 (keV)")
    p.add_argument("--alpha", type=float, metavar="MRAD", help="override convergence semi-angle")
    p.add_argument("--beta", type=float, metavar="MRAD", help="override collection semi-angle")
    p.add_argument("--valence-calibration", dest="valence_calibration", metavar="FILE.json",
                   help="turn L3/L2 ratios into valences with a calibration made from "
                        "standards (batteryscope eels-calibrate)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p.add_argument("--out", metavar="DIR",
                   help="also quantify every pixel and write the maps (.hspy) and "
                        "quantification.json to DIR")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run_eels(args) -> int:
    from .eels_quantify import format_table, parse_elements, parse_roi, quantify_file

    result = quantify_file(args.file, parse_elements(args.elements), roi=parse_roi(args.roi),
                           beam_energy_keV=args.beam_energy, convergence_mrad=args.alpha,
                           collection_mrad=args.beta, source=args.cross_sections,
                           method=args.method, lowloss=args.lowloss, out_dir=args.out,
                           valence_calibration=args.valence_calibration)
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


def _format_axis(ax: dict) -> str:
    role = "navigation" if ax["navigate"] else "signal"
    units = ax["units"] or "px"
    return (f"  {ax['name']:<14} {ax['size']:>6} × {ax['scale']:.6g} {units:<4} "
            f"from {ax['offset']:.6g} {units}  ({role})")


def format_info(descriptions: list[dict]) -> str:
    """Human-readable text for ``batteryscope info``."""
    lines = []
    for i, d in enumerate(descriptions):
        if len(descriptions) > 1:
            lines.append(f"[dataset {i + 1} of {len(descriptions)}]")
        lines.append(f"file:        {d['file']}")
        if d.get("title"):
            lines.append(f"title:       {d['title']}")
        lines.append(f"kind:        {d['signal_type']}")
        lines.append(f"shape:       {' × '.join(map(str, d['shape']))}  ({d['dtype']}"
                     f"{', opened lazily' if d['lazy'] else ''})")
        lines.append("axes:")
        lines.extend(_format_axis(ax) for ax in d["axes"])
        if d["metadata"]:
            lines.append("acquisition:")
            for k, v in d["metadata"].items():
                if isinstance(v, dict):
                    v = f"{v['value']:.6g} {v['units']}"
                lines.append(f"  {k:<28} {v}")
    return "\n".join(lines)


def run_info(args) -> int:
    from .hyperspy_adapter import load_signals
    from .signal_description import describe

    signals = load_signals(args.file, lazy=True)
    descs = [describe(s, args.file) for s in signals]
    if args.json:
        out = descs[0] if len(descs) == 1 else {"file": args.file, "datasets": descs}
        print(json.dumps(out, indent=1))
    else:
        print(format_info(descs))
    return 0


def run_demo(args) -> int:
    from .demo_files import write_demo

    for path in write_demo(args.out, seed=args.seed):
        print(path)
    return 0


def run_gui(args) -> int:
    from .gui_launch import launch

    return launch(files=args.files, demo=args.demo, screenshot=args.screenshot, panel=args.panel)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``batteryscope`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PLUGGED_COMMANDS:
        import importlib

        module = importlib.import_module(PLUGGED_COMMANDS[argv[0]], __package__)
        args = module.build_parser().parse_args(argv[1:])
        runner = module.run
    elif argv and argv[0] in SUBCOMMANDS:
        parser = {"info": _info_parser, "demo": _demo_parser, "eels": _eels_parser}[argv[0]]()
        runner = {"info": run_info, "demo": run_demo, "eels": run_eels}[argv[0]]
        args = parser.parse_args(argv[1:])
    else:
        args = _gui_parser().parse_args(argv)
        runner = run_gui
    try:
        return runner(args)
    except UserFacingError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"batteryscope: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if args.debug:
            raise
        print(f"batteryscope: internal error: {type(exc).__name__}: {exc} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
