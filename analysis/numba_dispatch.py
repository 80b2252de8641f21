"""When numba may run parallel kernels, and kernels compiled both ways.

numba's default ``workqueue`` threading layer aborts the process when two Python threads
launch parallel kernels at once (the GUI runs analyses in worker threads), so parallel
kernels are used only with a thread-safe layer (OpenMP or TBB); otherwise the same code
runs compiled serially (``prange`` is then a plain ``range``).
"""
from __future__ import annotations

import functools
import importlib
import types

import numba
from numba import njit


@functools.cache
def parallel_allowed() -> bool:
    """True when numba can run parallel kernels from several threads safely."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        return False
    layer = str(numba.config.THREADING_LAYER).lower()
    if layer == "workqueue":
        return False
    candidates = {"tbb": ("tbbpool",), "omp": ("omppool",), "forksafe": ("tbbpool",)}
    for name in candidates.get(layer, ("tbbpool", "omppool")):
        try:
            importlib.import_module(f"numba.np.ufunc.{name}")
            return True
        except ImportError:
            continue
    return False


class DualKernel:
    """A numba kernel compiled ``parallel=True`` and serially; calls pick the safe one."""

    def __init__(self, func, **options):
        functools.update_wrapper(self, func)
        # a copy under another name: numba's on-disk cache is keyed by the qualified name
        twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                                  func.__defaults__, func.__closure__)
        twin.__qualname__ = func.__qualname__ + "_serial"
        twin.__module__ = func.__module__
        self.parallel = njit(cache=True, parallel=True, **options)(func)
        self.serial = njit(cache=True, **options)(twin)

    def __call__(self, *args):
        return (self.parallel if parallel_allowed() else self.serial)(*args)


def dual_kernel(func=None, **options):
    """Decorator: ``@dual_kernel`` or ``@dual_kernel(nogil=True)`` → :class:`DualKernel`."""
    if func is None:
        return lambda f: DualKernel(f, **options)
    return DualKernel(func, **options)
