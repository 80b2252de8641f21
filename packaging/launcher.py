"""Entry script of the frozen BatteryScope executable (PyInstaller analyses this file).

The installed console script calls the same function, so the frozen and the pip-installed
program parse the same command line.
"""
import multiprocessing
import sys

from batteryscope.app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # dask/concurrent process pools re-enter here when frozen
    sys.exit(main())
