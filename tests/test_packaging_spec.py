"""Fast checks of packaging/: the PyInstaller spec, hooks, runtime hooks, desktop entry
and icon refer to things that exist, so a broken build is caught before a 10-minute build."""
import ast
import configparser
import importlib.util
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "batteryscope.spec"


def _spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(), filename=str(SPEC))


def _spec_list(name: str) -> list:
    for node in _spec_tree().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not assigned in the spec")


def _analysis_keyword(name: str):
    for node in ast.walk(_spec_tree()):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Analysis":
            for kw in node.keywords:
                if kw.arg == name:
                    return kw.value
    raise AssertionError(f"Analysis(...) has no {name}=")


def test_spec_and_scripts_exist_and_parse():
    for path in (SPEC, PACKAGING / "launcher.py", PACKAGING / "make_icons.py"):
        ast.parse(path.read_text(), filename=str(path))
    for script in ("build.sh", "smoke.sh"):
        path = PACKAGING / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        run = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_launcher_calls_the_cli_entry_point():
    tree = ast.parse((PACKAGING / "launcher.py").read_text())
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("batteryscope.app.cli", "main") in imports
    assert importlib.util.find_spec("batteryscope.app.cli") is not None


@pytest.mark.parametrize("hook", sorted((PACKAGING / "hooks").glob("hook-*.py")), ids=lambda p: p.name)
def test_each_hook_is_for_an_installed_module(hook):
    ast.parse(hook.read_text(), filename=str(hook))
    module = hook.name[len("hook-"):-len(".py")]
    assert importlib.util.find_spec(module) is not None, f"{hook.name}: no module {module}"


def test_hooks_cover_the_plugin_packages():
    names = {p.name for p in (PACKAGING / "hooks").glob("hook-*.py")}
    assert {"hook-hyperspy.py", "hook-exspy.py", "hook-rsciio.py", "hook-batteryscope.app.py"} <= names
    # the distributions whose metadata the hooks copy must be installed under those names
    from importlib.metadata import distribution, entry_points

    for dist in ("hyperspy", "exspy", "rosettasciio", "batteryscope"):
        distribution(dist)
    assert "exspy" in {ep.name for ep in entry_points(group="hyperspy.extensions")}


def test_runtime_hooks_and_hidden_imports_exist():
    assert len(_analysis_keyword("runtime_hooks").elts) == 2
    runtime = sorted((PACKAGING / "runtime_hooks").glob("*.py"))
    assert {p.name for p in runtime} == {"rthook_numba_cache.py", "rthook_qt_defaults.py"}
    spec_text = SPEC.read_text()
    for p in runtime:
        ast.parse(p.read_text())
        assert p.name in spec_text
    for name in ast.literal_eval(_analysis_keyword("hiddenimports")):
        assert importlib.util.find_spec(name) is not None, name
    for package in ast.literal_eval(_analysis_keyword("module_collection_mode")):
        assert importlib.util.find_spec(package) is not None, package


def _imported_modules(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def test_excludes_leave_out_nothing_batteryscope_imports():
    excluded = _spec_list("EXCLUDES")
    used = set()
    for folder in ("app", "widgets", "analysis"):
        used |= _imported_modules(ROOT / folder)
    clash = sorted(m for m in used for ex in excluded if m == ex or m.startswith(ex + "."))
    assert not clash, f"the spec excludes modules BatteryScope imports: {clash}"
    # and the size targets: the big optional stacks are excluded
    for name in ("tkinter", "IPython", "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick"):
        assert name in excluded


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_icons_exist_at_every_size():
    resources = ROOT / "resources"
    svg = ET.parse(resources / "batteryscope.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    for name, size in (("batteryscope.png", 256), ("batteryscope-128.png", 128),
                       ("batteryscope-48.png", 48)):
        assert _png_size(resources / name) == (size, size), name
    assert "batteryscope.png" in SPEC.read_text()


def test_desktop_entry_is_valid():
    path = PACKAGING / "batteryscope.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "batteryscope"
    assert entry["Icon"] == "batteryscope"
    assert entry["Categories"].endswith(";") and entry["Terminal"] == "false"
    validate = shutil.which("desktop-file-validate")
    if validate:
        run = subprocess.run([validate, str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_no_module_is_both_hidden_import_and_excluded():
    excluded = set(_spec_list("EXCLUDES"))
    hidden = set(ast.literal_eval(_analysis_keyword("hiddenimports")))
    assert not hidden & excluded
    # pyqtgraph >= 0.14 imports QtOpenGL/QtOpenGLWidgets unconditionally (by computed name)
    assert {"PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets"} <= hidden


def test_hook_collects_every_declared_package_data():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    hook = ast.parse((PACKAGING / "hooks" / "hook-batteryscope.app.py").read_text())
    collected = next(ast.literal_eval(n.value) for n in hook.body if isinstance(n, ast.Assign)
                     and getattr(n.targets[0], "id", None) == "SUBPACKAGES")
    for package in config.get("package-data", {}):
        assert any(package == c or package.startswith(c + ".") for c in collected), package
