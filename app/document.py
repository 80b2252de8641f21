"""The document model: one loaded dataset with its ROIs, results and provenance.

A :class:`Document` owns a HyperSpy signal it never modifies in place. Every processing
step returns new data and appends a :class:`ProvenanceStep`, so a result can be
re-derived from the raw file. Qt-free: the GUI observes documents through its own bridge.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .signal_description import acquisition_of, axes_of, kind_of


@dataclass(frozen=True)
class ProvenanceStep:
    """One processing step: what was done, with which parameters, when, by which version."""

    operation: str
    parameters: dict = field(default_factory=dict)
    timestamp: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))
    software: str = f"BatteryScope {__version__}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Result:
    """A named result of a document: a derived signal or a table/number, with its provenance."""

    name: str
    value: object
    provenance: list[ProvenanceStep]


@dataclass(frozen=True)
class ArrayResult:
    """A derived array with its calibrations, kept as plain numpy until it is saved.

    ``axes`` are in array order; ``signal_type`` is "EELS" for spectra, "image" for maps.
    """

    data: object
    axes: tuple
    title: str
    signal_type: str = ""
    quantity: str = ""


class Document:
    """A dataset opened in BatteryScope.

    Parameters
    ----------
    signal : hyperspy signal
        The data as loaded (possibly lazy). Treated as read-only.
    source_path : path-like or None
        The file it came from (None for generated data such as the demo).
    name : str, optional
        Display name; defaults to the file name plus the dataset title.
    """

    def __init__(self, signal, source_path=None, name: str | None = None,
                 provenance: list[ProvenanceStep] | None = None):
        self.signal = signal
        self.source_path = Path(source_path) if source_path is not None else None
        title = signal.metadata.get_item("General.title", "") or ""
        default = self.source_path.name if self.source_path else (title or "untitled")
        if self.source_path and title and title not in self.source_path.stem:
            default = f"{self.source_path.name} — {title}"
        self.name = name or default
        self.rois: list = []
        #: The whole dataset as a numpy array once a lazily opened file has been read
        #: into memory in the background (see block_reading); None until then.
        self.in_memory = None
        self.results: dict[str, Result] = {}
        self.provenance: list[ProvenanceStep] = list(provenance or [])
        if not self.provenance:
            origin = str(self.source_path) if self.source_path else "generated"
            self.provenance.append(ProvenanceStep("load", {"source": origin}))

    # -- description -------------------------------------------------------------
    @property
    def axes(self):
        """Calibrations of every array axis (array order)."""
        return axes_of(self.signal)

    @property
    def kind(self) -> str:
        """"image", "image stack", "EELS spectrum image" …"""
        return kind_of(self.signal)

    @property
    def is_lazy(self) -> bool:
        return bool(getattr(self.signal, "_lazy", False))

    @property
    def data(self):
        """The array to compute on: in memory when available, else the (lazy) signal data."""
        return self.in_memory if self.in_memory is not None else self.signal.data

    @property
    def acquisition(self) -> dict:
        return acquisition_of(self.signal)

    # -- results -----------------------------------------------------------------
    def add_result(self, name: str, value, step: ProvenanceStep) -> Result:
        """Store a derived result; its provenance is this document's plus ``step``."""
        result = Result(name, value, self.provenance + [step])
        if hasattr(value, "metadata"):
            value.metadata.set_item("BatteryScope.provenance",
                                    json.dumps([s.to_dict() for s in result.provenance]))
        self.results[name] = result
        return result

    def provenance_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.provenance], indent=1)

    def __repr__(self) -> str:
        shape = "×".join(str(a.size) for a in self.axes)
        return f"<Document {self.name!r}: {self.kind} {shape}{' lazy' if self.is_lazy else ''}>"


def open_documents(path, **load_options) -> list[Document]:
    """Load every dataset in ``path`` as a :class:`Document` (raises FileLoadError)."""
    from .hyperspy_adapter import load_signals

    return [Document(s, path) for s in load_signals(path, **load_options)]
