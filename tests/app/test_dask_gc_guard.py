"""dask must not switch automatic garbage collection back on (GUI deadlock guard)."""
import gc

import numpy as np

from batteryscope.app.dask_gc_guard import install


def test_dask_slicing_leaves_collection_as_it_found_it():
    import dask.array as da

    install()
    x = da.from_array(np.arange(1000.0).reshape(10, 100), chunks=(5, 50))
    was = gc.isenabled()
    try:
        gc.disable()
        x[2:7, 10:90].sum().compute()
        x[::2].compute()
        assert not gc.isenabled()          # unpatched dask 2026.8 turns it back on here
        gc.enable()
        x[1:3].compute()
        assert gc.isenabled()              # and a process that had it on keeps it on
    finally:
        gc.enable() if was else gc.disable()


def test_nested_and_repeated_entries_restore_the_state_found():
    install()
    install()                               # idempotent
    import dask.utils

    guard = dask.utils.disable_gc()         # one instance, entered twice (as a decorator is)
    was = gc.isenabled()
    try:
        gc.enable()
        with guard:
            assert not gc.isenabled()
            with guard:
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.enable() if was else gc.disable()
