"""Deterministic synthetic battery specimens with ground truth.

The demo, the tests, the benchmarks and the simulated microscope all draw on these
generators. Every generator is seeded, states its physics in its module docstring,
and returns a :class:`~batteryscope.analysis.specimens.specimen.Specimen` whose
``truth`` is JSON-serialisable.
"""
from .specimen import Specimen, SyntheticSignal

__all__ = ["Specimen", "SyntheticSignal"]
