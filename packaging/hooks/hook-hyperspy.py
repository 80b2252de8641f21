"""PyInstaller hook for HyperSpy 2.x.

HyperSpy finds its signal classes, components and GUI keys through YAML registries
(``hyperspy_extension.yaml``) and imports the modules they name with importlib, so
PyInstaller's import analysis cannot see them: the YAML files are data, the modules are
hidden imports. Its version comes from ``importlib.metadata`` (package metadata), and
extensions such as exspy register through the ``hyperspy.extensions`` entry point, whose
``entry_points.txt`` must be in the bundle for them to be found.
"""
from PyInstaller.utils.hooks import (collect_data_files, collect_entry_point,
                                     collect_submodules, copy_metadata)


def _wanted(name: str) -> bool:
    parts = name.split(".")
    return "tests" not in parts and "conftest" not in parts


datas = collect_data_files("hyperspy", excludes=["**/tests/**", "**/conftest.py"])
datas += copy_metadata("hyperspy")
hiddenimports = collect_submodules("hyperspy", filter=_wanted)

# Extensions (exspy, …): their distribution metadata (entry_points.txt) and top-level module.
_extension_datas, _extension_modules = collect_entry_point("hyperspy.extensions")
datas += _extension_datas
hiddenimports += _extension_modules

# Interactive-notebook helpers HyperSpy imports only when they are installed.
excludedimports = ["IPython", "ipywidgets", "ipykernel", "ipympl", "traitsui",
                   "hyperspy_gui_ipywidgets", "hyperspy_gui_traitsui", "pytest"]
