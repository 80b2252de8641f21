"""PyInstaller hook for exspy (EELS/EDS signals for HyperSpy).

exspy registers itself with HyperSpy through the ``hyperspy.extensions`` entry point and
a ``hyperspy_extension.yaml`` next to its ``__init__``; HyperSpy imports the signal and
component modules that YAML names by string. The element database and default settings
are Python modules, the example spectra are data files (not needed by BatteryScope).
"""
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata


def _wanted(name: str) -> bool:
    parts = name.split(".")
    return "tests" not in parts and "conftest" not in parts


datas = collect_data_files("exspy", excludes=["**/tests/**", "**/conftest.py",
                                              "data/*.hspy"])
datas += copy_metadata("exspy")  # entry_points.txt: how HyperSpy finds exspy
hiddenimports = collect_submodules("exspy", filter=_wanted)
excludedimports = ["IPython", "ipywidgets", "traitsui", "pytest"]
