"""Write the demo specimens as files: one ``.hspy`` per signal with a truth ``.json`` beside it.

``batteryscope demo --out DIR`` and ``batteryscope --demo`` both come here; the GUI keeps
a generated copy in the user's cache folder so the demo opens through the same loader
as any user file.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from . import __version__
from .atomic_write import write_text_atomic
from .document import ProvenanceStep
from .export import spectra_to_csv
from .hyperspy_adapter import save_signal, signal_from_array

#: Bump when a generator's output changes, so cached demo files are regenerated.
DEMO_FORMAT = 1
MANIFEST = "manifest.json"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_specimen(specimen, out_dir) -> list[Path]:
    """Write every signal of ``specimen`` (and its tables) into ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    written = []
    step = ProvenanceStep("generate synthetic specimen",
                          {"specimen": specimen.name, "seed": specimen.seed})
    for sig in specimen.signals:
        s = signal_from_array(sig.data, sig.axes, title=sig.title, signal_type=sig.signal_type,
                              quantity=sig.quantity, acquisition=sig.acquisition)
        s.metadata.set_item("BatteryScope.specimen", specimen.name)
        s.metadata.set_item("BatteryScope.provenance", json.dumps([step.to_dict()]))
        path = save_signal(s, out_dir / f"{sig.name}.hspy", overwrite=True)
        truth = {"specimen": specimen.name, "title": specimen.title, "signal": sig.name,
                 "signal_title": sig.title, "seed": specimen.seed, "physics": specimen.physics,
                 "tables": sorted(specimen.tables), "truth": _jsonable(specimen.truth)}
        write_text_atomic(out_dir / f"{sig.name}.truth.json", json.dumps(truth, indent=1))
        written.append(path)
    for name, columns in specimen.tables.items():
        keys = list(columns)
        text = spectra_to_csv(columns[keys[0]], {k: columns[k] for k in keys[1:]},
                              x_name=keys[0], x_units="", header={"specimen": specimen.name})
        table_path = out_dir / f"{specimen.name}_{name}.csv"
        write_text_atomic(table_path, text)
        written.append(table_path)
    return written


def write_demo(out_dir, *, seed: int = 0, progress=None) -> list[Path]:
    """Generate every demo specimen and write it to ``out_dir`` (created if needed)."""
    from .demo_specimens import DEMO_SPECIMENS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (name, build) in enumerate(DEMO_SPECIMENS.items()):
        if progress:
            progress(i / len(DEMO_SPECIMENS), f"Generating demo specimen {name}…")
        written += write_specimen(build(seed=seed), out_dir)
    return written


def demo_cache_dir() -> Path:
    """Where the GUI keeps its generated demo files."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "batteryscope" / f"demo-{__version__}-f{DEMO_FORMAT}"


def ensure_demo_files(*, progress=None) -> list[Path]:
    """The demo ``.hspy`` files in the cache, generating them on first use."""
    target = demo_cache_dir()
    manifest = target / MANIFEST
    if manifest.is_file():
        names = json.loads(manifest.read_text())["signals"]
        paths = [target / n for n in names]
        if all(p.exists() for p in paths):
            return paths
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        written = write_demo(staging, progress=progress)
        names = [p.name for p in written if p.suffix == ".hspy"]
        write_text_atomic(staging / MANIFEST, json.dumps({"signals": names}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [target / n for n in names]
