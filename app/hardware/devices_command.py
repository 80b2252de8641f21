"""``batteryscope devices``: list the installed hardware drivers (entry-point group).

    batteryscope devices            one block per driver: name, status, description, options
    batteryscope devices --json     the same as a JSON list

A driver that cannot be loaded is listed with its error; the exit status is 0 as long
as the listing itself worked (a broken third-party driver is not the user's input error).
"""
from __future__ import annotations

import argparse
import json

from .discovery import GROUP, installed_drivers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope devices",
                                description=f"List the hardware drivers installed in the "
                                            f"'{GROUP}' entry-point group.")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def format_drivers(drivers) -> str:
    """Human-readable listing."""
    if not drivers:
        return f"no hardware drivers installed (entry-point group '{GROUP}')"
    lines = []
    for d in drivers:
        status = "ok" if d.ok else "BROKEN"
        default = "  (default)" if d.name == "simulated" else ""
        lines.append(f"{d.name:<14} {status:<7}{d.target}{default}")
        if d.ok:
            lines.append(f"    {d.description}")
            for opt, text in d.options.items():
                lines.append(f"    option {opt}: {text}")
        else:
            lines.append(f"    error: {d.error}")
        if d.distribution:
            lines.append(f"    from package: {d.distribution}")
    return "\n".join(lines)


def run(args) -> int:
    drivers = installed_drivers()
    if args.json:
        print(json.dumps([d.to_dict() for d in drivers], indent=1))
    else:
        print(format_drivers(drivers))
    return 0
