"""Choosing the parallel or the serial build of a :class:`~..numba_dispatch.DualKernel` by workload.

Every parallel region ends at a barrier that waits for the slowest worker thread. On a
busy machine (a few cores shared with other processes) a worker can lose its core and
the barrier then waits for a scheduler time slice, several milliseconds, whatever the
work: measured on 2 shared cores, a tiled sweep of 19 columns took 31 ms in parallel
and ~1 ms serially. Kernels are therefore run in parallel only when their work is large
enough to gain from it, and only where :func:`~..numba_dispatch.parallel_allowed` says
the threading layer is thread-safe; both builds compute the same result.
"""
from __future__ import annotations

from ..numba_dispatch import DualKernel, parallel_allowed


def pick(kernel: DualKernel, work: int, min_work: int):
    """``kernel.parallel`` if ``work >= min_work`` and parallel kernels are safe, else ``kernel.serial``."""
    return kernel.parallel if (work >= min_work and parallel_allowed()) else kernel.serial
