"""Pure numerical code for BatteryScope.

Everything here works on numpy arrays plus explicit calibrations: no Qt, no HyperSpy
objects, no file I/O, no global state. Functions can be called from a script, a
notebook, a dask worker or a test.
"""
