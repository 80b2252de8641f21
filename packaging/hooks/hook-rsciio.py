"""PyInstaller hook for RosettaSciIO (distribution ``rosettasciio``, import name ``rsciio``).

``rsciio/__init__`` walks its own folder for ``specifications.yaml`` (one per file-format
plugin) and imports each plugin's ``api`` module by name when a file of that format is
read, so the YAML files are data and the plugin modules hidden imports. Its version comes
from the ``rosettasciio`` distribution metadata.
"""
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata


def _wanted(name: str) -> bool:
    parts = name.split(".")
    return "tests" not in parts and "conftest" not in parts


datas = collect_data_files("rsciio", excludes=["**/tests/**", "**/conftest.py"])
datas += copy_metadata("rosettasciio")
hiddenimports = collect_submodules("rsciio", filter=_wanted)
excludedimports = ["pytest"]
