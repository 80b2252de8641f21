"""Every package folder is listed in pyproject.toml: a forgotten one installs without it
(the editable dev install would hide that; a user's `pip install .` would not)."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert found <= listed, f"not listed in [tool.setuptools] packages: {sorted(found - listed)}"
