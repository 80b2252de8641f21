"""Make the bundle's shared libraries smaller without changing what they do (Linux).

- :func:`strip_binaries`: ``strip --strip-unneeded`` every ELF binary (symbol tables and
  debug info; 105 MB here: libpython 17 MB, numcodecs' Blosc/Zstd 24 MB, python-box
  9 MB, kiwisolver 5 MB …). The dynamic symbols that loading and ``ctypes`` need stay.
  GNU strip corrupts binaries that auditwheel's patchelf rewrote (their ``PT_LOAD``
  segments end up with offsets the loader refuses: "ELF load command address/offset not
  page-aligned"; seen on numpy's and scipy's OpenBLAS and libgfortran and numba's
  ``omppool``), so each stripped copy is checked (:func:`loadable_segments`) and the
  original kept where the check fails.
- :func:`link_duplicates`: files that are byte-identical in two wheels' ``*.libs`` folders
  (numpy's and scipy's libgfortran/libquadmath) become one file and a relative symlink.
"""
from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path


def is_elf(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def loadable_segments(path) -> bool:
    """True if every ``PT_LOAD`` segment satisfies ``vaddr ≡ offset (mod align)`` (the
    dynamic loader's condition). Non-ELF64-LE files are not judged (True)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return True
        (phoff,) = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, _, _, p_align = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        if p_type == 1 and p_align > 1 and (p_vaddr - p_offset) % p_align:
            return False
    return True


def strip_binaries(binaries, workdir: Path, log=print):
    """PyInstaller TOC entries with every ELF stripped into ``workdir`` where that is safe.

    Returns the new TOC list (same destinations; sources point at the stripped copies).
    No-op without GNU strip.
    """
    tool = shutil.which("strip")
    if tool is None:
        log("strip not found: binaries kept as they are")
        return list(binaries)
    out, saved, refused = [], 0, []
    for dest, src, kind in binaries:
        if not is_elf(src):
            out.append((dest, src, kind))
            continue
        target = workdir / "stripped" / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([tool, "--strip-unneeded", "-o", str(target), src],
                              capture_output=True).returncode == 0
        if done and loadable_segments(target) and target.stat().st_size < os.path.getsize(src):
            saved += os.path.getsize(src) - target.stat().st_size
            shutil.copymode(src, target)
            src = str(target)
        elif done and not loadable_segments(target):
            refused.append(dest)
        out.append((dest, src, kind))
    log(f"stripped binaries: {saved / 1e6:.1f} MB saved; kept unstripped (patchelf'd): "
        f"{', '.join(sorted(refused)) or 'none'}")
    return out


def link_duplicates(folder: Path, log=print) -> int:
    """Replace byte-identical files in ``*.libs`` folders by relative symlinks; bytes saved."""
    by_digest: dict[tuple[int, str], Path] = {}
    saved = 0
    for path in sorted(folder.glob("*.libs/*")):
        if path.is_symlink() or not path.is_file():
            continue
        key = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        first = by_digest.setdefault(key, path)
        if first is path or not filecmp.cmp(first, path, shallow=False):
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(first, path.parent))
        saved += key[0]
        log(f"linked duplicate {path.relative_to(folder)} -> {first.relative_to(folder)}")
    return saved
