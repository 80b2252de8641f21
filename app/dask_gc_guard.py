"""Keep dask from switching Python's automatic garbage collection back on.

The GUI runs with automatic collection off and collects on the GUI thread only
(pyqtgraph's ``GarbageCollector``, see :mod:`.gui_app`): a collection that runs in a worker
thread can destroy Qt objects there and deadlock against the GUI thread (seen: a worker
reading a spectrum image with dask collected a cycle holding a QMenu while the GUI thread
was deleting widgets; both waited for ever).

dask (2026.8) decorates ``dask.array.slicing.slice_array`` with ``@disable_gc()``, an
instance made at import time that remembers whether collection was on *then* and, after
every call, turns it back on if so. Any dask slicing therefore re-enables automatic
collection for the whole process. :func:`install` makes the context remember the state at
each entry instead, so it restores what it found.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch ``dask.utils.disable_gc`` (idempotent; a no-op if dask has no such class)."""
    global _installed
    with _lock:
        if _installed:
            return
        try:
            from dask import utils
        except ImportError:
            _installed = True
            return
        cls = getattr(utils, "disable_gc", None)
        if cls is None:
            _installed = True
            return
        local = threading.local()

        def __enter__(self):
            stack = getattr(local, "stack", None)
            if stack is None:
                stack = local.stack = []
            stack.append(gc.isenabled())
            gc.disable()
            return self

        def __exit__(self, exc_type, exc_value, traceback):
            stack = getattr(local, "stack", None)
            if stack and stack.pop():
                gc.enable()
            return False

        cls.__enter__ = __enter__
        cls.__exit__ = __exit__
        _installed = True
