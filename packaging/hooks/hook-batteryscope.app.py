"""PyInstaller hook for BatteryScope itself (``batteryscope.app``, imported by packaging/launcher.py).

The CLI imports its plugged subcommands (``smoke-test``, ``columns``, ``acquire`` …) with
importlib from strings, and hardware drivers are found through the ``batteryscope.hardware``
entry point: all submodules are hidden imports and the distribution metadata
(``entry_points.txt``) is collected. Package data (icons, style sheets, the EELS GOS tables)
is collected from every sub-package, so new data files need only be declared in
pyproject.toml's ``[tool.setuptools.package-data]``.
"""
from PyInstaller.utils.hooks import (collect_data_files, collect_entry_point,
                                     collect_submodules, copy_metadata)

hiddenimports = collect_submodules("batteryscope.app") + collect_submodules("batteryscope.widgets")
hiddenimports += collect_submodules("batteryscope.analysis")
#: Sub-packages of the ``batteryscope`` distribution; any package data they ship (icons and
#: style sheets in resources, GOS tables in analysis.eels.gos_data …) is collected.
SUBPACKAGES = ("batteryscope.app", "batteryscope.widgets", "batteryscope.analysis",
               "batteryscope.resources")

datas = copy_metadata("batteryscope")
for _package in SUBPACKAGES:
    datas += collect_data_files(_package, excludes=["**/__pycache__/**"])
_driver_datas, _driver_modules = collect_entry_point("batteryscope.hardware")
datas += _driver_datas
hiddenimports += _driver_modules
