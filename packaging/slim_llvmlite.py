"""Rebuild llvmlite (numba's LLVM binding) for this machine's CPU family only.

llvmlite's wheel links LLVM with *every* target LLVM has (AMDGPU, NVPTX, Hexagon, ARM,
RISC-V … 22 of them): libllvmlite.so is 160 MB stripped, a third of the bundle. numba
compiles for the CPU it runs on and needs one target: this script builds the same llvmlite
version from its source distribution against the system's LLVM of the major version that
llvmlite requires, linking that one target (x86_64 → X86, aarch64 → AArch64), and installs
the wheel into the build venv (53 MB stripped). Nothing else changes: same llvmlite code,
same LLVM major version, same numba.

Run by ``build.sh`` with the build venv's Python (``SLIM_LLVMLITE=auto``, the default: done
when the prerequisites are there, else the PyPI wheel stays and a line says why;
``SLIM_LLVMLITE=1``: required; ``0``: off). Prerequisites (Debian/Ubuntu, LLVM 22 for
llvmlite 0.50): ``apt-get install llvm-22-dev libzstd-dev cmake g++`` — the static LLVM
libraries (``libLLVM<Target>CodeGen.a``) and LLVM's CMake package.

How the one target is chosen: llvmlite's CMakeLists links the pseudo-components
``AllTargetsCodeGens``/``AllTargetsAsmParsers``; they are replaced by the host target's
CodeGen/AsmParser/Desc/Info libraries, and LLVM's generated ``llvm/Config/*.def`` lists
(which ``LLVMInitializeAllTargets()`` and friends expand) are shadowed by copies naming only
that target. The built wheel is kept in ``<workdir>/wheels`` and reused.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

TARGETS = {"x86_64": "X86", "amd64": "X86", "aarch64": "AArch64", "arm64": "AArch64"}
CONFIG_LISTS = ("Targets", "AsmPrinters", "AsmParsers", "Disassemblers", "TargetMCAs",
                "TargetExegesis")


class Skip(Exception):
    """A prerequisite is missing: keep the PyPI wheel."""


def _llvmlite_state() -> tuple[str, int, bool]:
    """Installed llvmlite version, the LLVM major version it is built on, and whether it
    still carries more than the host target."""
    import llvmlite
    import llvmlite.binding as ll

    ll.initialize_all_targets()
    found = 0
    for foreign in ("nvptx64-nvidia-cuda", "amdgcn-amd-amdhsa", "hexagon-unknown-linux"):
        try:
            ll.Target.from_triple(foreign)
            found += 1
        except RuntimeError:
            pass
    return llvmlite.__version__, ll.llvm_version_info[0], found > 0


def _llvm_cmake_dir(major: int, target: str) -> Path:
    candidates = []
    tool = shutil.which(f"llvm-config-{major}") or shutil.which("llvm-config")
    if tool:
        out = subprocess.run([tool, "--cmakedir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates.append(Path(f"/usr/lib/llvm-{major}/lib/cmake/llvm"))
    for cmake_dir in candidates:
        config = cmake_dir / "LLVMConfig.cmake"
        if not config.is_file():
            continue
        if f"set(LLVM_VERSION_MAJOR {major})" not in config.read_text():
            continue
        libdir = cmake_dir.parent.parent
        if (libdir / f"libLLVM{target}CodeGen.a").is_file():
            return cmake_dir
    raise Skip(f"no LLVM {major} with static libraries found (Debian/Ubuntu: "
               f"apt-get install llvm-{major}-dev libzstd-dev cmake g++)")


def _patch_source(source: Path, cmake_dir: Path, target: str) -> None:
    ffi = source / "ffi"
    cmake = (ffi / "CMakeLists.txt").read_text()
    old = "AllTargetsCodeGens\n                        AllTargetsAsmParsers)"
    if old not in cmake or "include_directories(${LLVM_INCLUDE_DIRS})" not in cmake:
        raise Skip("llvmlite's ffi/CMakeLists.txt has changed; update packaging/slim_llvmlite.py")
    cmake = cmake.replace(old, f"{target}CodeGen {target}AsmParser {target}Desc {target}Info)")
    cmake = cmake.replace("include_directories(${LLVM_INCLUDE_DIRS})",
                          "include_directories(${LLVM_INCLUDE_DIRS})\n"
                          "include_directories(BEFORE ${CMAKE_CURRENT_SOURCE_DIR}/one_target)", 1)
    (ffi / "CMakeLists.txt").write_text(cmake)
    include = cmake_dir.parents[2] / "include"   # <prefix>/lib/cmake/llvm -> <prefix>/include
    if not (include / "llvm" / "Config" / "Targets.def").is_file():
        raise Skip(f"LLVM headers not found in {include}")
    out = ffi / "one_target" / "llvm" / "Config"
    out.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_LISTS:
        original = include / "llvm" / "Config" / f"{name}.def"
        if not original.is_file():
            continue
        kept = [line for line in original.read_text().splitlines()
                if not re.match(r"^LLVM_[A-Z_]+\((\w+)\)", line)
                or re.match(rf"^LLVM_[A-Z_]+\({target}\)", line)]
        (out / f"{name}.def").write_text("\n".join(kept) + "\n")


def build(workdir: Path, required: bool) -> int:
    version, major, all_targets = _llvmlite_state()
    if not all_targets:
        print(f"slim_llvmlite: llvmlite {version} in the venv already has one target")
        return 0
    target = TARGETS.get(platform.machine().lower())
    try:
        if target is None or not sys.platform.startswith("linux"):
            raise Skip(f"only for Linux x86_64/aarch64 (this is {sys.platform} {platform.machine()})")
        for tool in ("cmake", "c++"):
            if shutil.which(tool) is None:
                raise Skip(f"{tool} not found")
        cmake_dir = _llvm_cmake_dir(major, target)
        wheels = workdir / "wheels"
        wheel = next(iter(sorted(wheels.glob(f"llvmlite-{version}-*.whl"))), None)
        if wheel is None:
            source_root = workdir / "source"
            shutil.rmtree(source_root, ignore_errors=True)
            source_root.mkdir(parents=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--no-binary", ":all:", f"llvmlite=={version}", "-d", str(source_root)],
                           check=True)
            archive = next(source_root.glob("llvmlite-*.tar.gz"))
            with tarfile.open(archive) as tar:
                tar.extractall(source_root, filter="data")
            source = next(p for p in source_root.iterdir() if p.is_dir())
            _patch_source(source, cmake_dir, target)
            env = dict(os.environ, CMAKE_ARGS=f"-DLLVM_DIR={cmake_dir}", LLVMLITE_LTO="OFF",
                       LLVMLITE_PACKAGE_FORMAT="wheel",
                       CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
            print(f"slim_llvmlite: building llvmlite {version} against {cmake_dir} ({target} only)")
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(wheels), str(source)], check=True, env=env)
            wheel = next(iter(sorted(wheels.glob(f"llvmlite-{version}-*.whl"))))
    except Skip as why:
        print(f"slim_llvmlite: keeping llvmlite {version} from PyPI (all LLVM targets, 160 MB): {why}")
        return 1 if required else 0
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--force-reinstall", str(wheel)], check=True)
    check = subprocess.run([sys.executable, "-c", (
        "import numba, numpy as np\n"
        "f = numba.njit(lambda a: (a * 2.0).sum())\n"
        "assert f(np.arange(10.0)) == 90.0\n"
        "print(numba.__version__)")], capture_output=True, text=True)
    if check.returncode != 0:
        print(check.stderr, file=sys.stderr)
        raise SystemExit("slim_llvmlite: numba does not work with the rebuilt llvmlite")
    print(f"slim_llvmlite: installed {wheel.name} ({target} only); numba {check.stdout.strip()} compiles")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True, type=Path)
    p.add_argument("--required", action="store_true", help="fail if it cannot be built")
    args = p.parse_args(argv)
    return build(args.workdir.resolve(), args.required)


if __name__ == "__main__":
    sys.exit(main())
