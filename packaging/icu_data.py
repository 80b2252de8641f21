"""A smaller ICU data library for the bundle: only the data Qt can reach.

Qt's ICU data library (``libicudata.so.NN``, 32 MB) is one ICU *common data package*
(``icudtNNl.dat``) exported as the symbol ``icudtNN_dat``. In the bundle only QtCore calls
ICU, and only these APIs (``readelf --dyn-syms libQt6Core.so.6``): converters (``ucnv_*``:
QStringConverter), collation (``ucol_*``: QCollator, e.g. the file dialog's sorting),
calendar/time zones (``ucal_open``, ``ucal_getCanonicalTimeZoneID``,
``ucal_getTimeZoneDisplayName``: QTimeZone) and case mapping (``u_strToUpper/Lower``).
The data trees only other ICU APIs read are dropped: ``brkitr`` (break iterators),
``lang``, ``region``, ``curr``, ``unit`` (display names for languages, regions,
currencies and units), ``translit`` (transliterators) and ``rbnf`` (spelled-out numbers);
that is about 15 MB. Locale data, converters, collation and time-zone data stay.
:func:`check_icu_callers` fails the build if a Qt library starts importing an ICU API
outside that list.

The package format (ICU ``ucmndata.h``): a data header (``headerSize``, magic ``0xda27``,
``UDataInfo`` with data format ``CmnD``), then a table of contents relative to its own
start: ``count``, ``count`` pairs (name offset, data offset), the names (NUL-terminated,
sorted), then the items, each 16-byte aligned. The new library is assembled with the C
compiler (``.incbin``); where there is none, the original library is kept.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

#: Data trees that only ICU APIs Qt does not call read.
DROPPED_TREES = ("brkitr", "lang", "region", "curr", "unit", "translit", "rbnf")
#: ICU API families Qt may call with the data above removed.
ALLOWED_API = re.compile(r"^(ucnv_|UCNV_|ucol_|ucal_|u_strToUpper|u_strToLower)")


def _read_package(blob: bytes):
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[8] != 0:
        raise ValueError("not a little-endian ICU common data package")
    toc = header_size
    (count,) = struct.unpack_from("<I", blob, toc)
    entries = [struct.unpack_from("<II", blob, toc + 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_off, data_off) in enumerate(entries):
        end = blob.index(b"\0", toc + name_off)
        name = blob[toc + name_off:end].decode("ascii")
        data_end = toc + entries[i + 1][1] if i + 1 < count else len(blob)
        items.append((name, blob[toc + data_off:data_end]))
    return blob[:header_size], items


def _write_package(header: bytes, items) -> bytes:
    count = len(items)
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in items)
    names_start = 4 + 8 * count
    first_data = (names_start + len(names) + 15) & ~15
    toc = bytearray(struct.pack("<I", count))
    body = bytearray()
    name_off = names_start
    data_off = first_data
    for name, data in items:
        toc += struct.pack("<II", name_off, data_off)
        name_off += len(name) + 1
        padded = data + b"\xaa" * (-len(data) % 16)
        body += padded
        data_off += len(padded)
    toc += names
    toc += b"\xaa" * (first_data - len(toc))   # ICU pads with 0xaa
    return bytes(header) + bytes(toc) + bytes(body)


def trim_package(blob: bytes, dropped=DROPPED_TREES) -> tuple[bytes, int]:
    """The package without the items under ``dropped`` trees; and how many were dropped."""
    header, items = _read_package(blob)
    keep = [(n, d) for n, d in items if n.split("/")[1] not in dropped]
    return _write_package(header, keep), len(items) - len(keep)


def _dynamic_symbols(path: Path, *, defined: bool) -> list[str]:
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[0].endswith(":"):
            if (cols[6] != "UND") == defined:
                names.append(cols[7].split("@")[0])
    return names


def check_icu_callers(icu_callers, version: str) -> None:
    """Raise if a binary in ``icu_callers`` calls an ICU API (a symbol ending in
    ``_<version>``) whose data may have been dropped."""
    for lib in icu_callers:
        used = [s for s in _dynamic_symbols(Path(lib), defined=False) if s.endswith(f"_{version}")]
        outside = sorted(s for s in used if not ALLOWED_API.match(s))
        if outside:
            raise RuntimeError(f"{lib} calls ICU APIs the trimmed ICU data may not serve: "
                               f"{outside}; extend icu_data.ALLOWED_API / DROPPED_TREES")


def build_trimmed_library(original: Path, workdir: Path, icu_callers=()) -> Path | None:
    """A trimmed copy of ``libicudata.so.NN`` in ``workdir``, or None (no C compiler, no
    readelf, or an unexpected layout: then the original is kept).

    ``icu_callers``: every other bundled binary; the build stops if one of them calls an ICU
    API outside :data:`ALLOWED_API` (ICU's own libraries are skipped).
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("readelf") is None:
        return None
    symbols = [s for s in _dynamic_symbols(original, defined=True) if re.fullmatch(r"icudt\d+_dat", s)]
    if len(symbols) != 1:
        return None
    symbol = symbols[0]
    check_icu_callers(icu_callers, version=symbol[len("icudt"):-len("_dat")])
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(original)], check=True,
                         capture_output=True, text=True).stdout
    value, size = next((int(c[1], 16), int(c[2], 0)) for c in map(str.split, out.splitlines())
                       if len(c) >= 8 and c[7] == symbol)
    sections = subprocess.run(["readelf", "-S", "-W", str(original)], check=True,
                              capture_output=True, text=True).stdout
    rodata = next(line.split() for line in sections.splitlines() if " .rodata " in line)
    # [Nr] Name Type Address Off Size ...: the symbol's file offset inside .rodata
    address, offset = int(rodata[-8], 16), int(rodata[-7], 16)
    blob = original.read_bytes()[value - address + offset:][:size]
    trimmed, dropped = trim_package(blob)
    if not dropped:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{symbol}.dat").write_bytes(trimmed)
    asm = workdir / "icudata.S"
    asm.write_text(f"""\
        .section .rodata
        .globl {symbol}
        .type {symbol}, @object
        .balign 16
{symbol}:
        .incbin "{symbol}.dat"
        .size {symbol}, . - {symbol}
        .section .note.GNU-stack,"",@progbits
""")
    lib = workdir / original.name
    subprocess.run([cc, "-shared", "-nostdlib", "-Wl,-soname," + original.name, "-Wl,-z,noexecstack",
                    "-o", str(lib), asm.name], check=True, cwd=workdir)
    return lib
