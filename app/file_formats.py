"""Which microscope file formats BatteryScope opens, and what a file's bytes really are.

Pure Python (no HyperSpy import): the CLI and the GUI use this to refuse an empty,
unsupported or mislabelled file with a clear reason *before* a reader is started,
because a reader fed the wrong bytes fails with messages such as
``unpack requires a buffer of 4 bytes`` that tell a user nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileFormat:
    """One readable format: its name, extensions and the content kinds it may hold."""

    name: str
    extensions: tuple[str, ...]
    contents: tuple[str, ...]  # content kinds from :func:`sniff_content` that are valid
    writable: bool = False


#: Formats a microscopist meets, in the order the file dialog lists them.
#: ``contents`` uses the kinds returned by :func:`sniff_content`; ``"any"`` skips the check.
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("DigitalMicrograph 3", (".dm3",), ("dm3",)),
    FileFormat("DigitalMicrograph 4", (".dm4",), ("dm4",)),
    FileFormat("HyperSpy HDF5", (".hspy", ".hdf5"), ("hdf5",), writable=True),
    FileFormat("HyperSpy Zarr", (".zspy",), ("zarr-directory", "zip"), writable=True),
    FileFormat("Electron Microscopy Dataset (EMD)", (".emd",), ("hdf5",), writable=True),
    FileFormat("FEI/TIA series", (".ser",), ("ser",)),
    FileFormat("FEI/TIA metadata", (".emi",), ("ole", "emi-xml", "any")),
    FileFormat("MRC", (".mrc", ".mrcs", ".ali", ".st", ".rec"), ("mrc", "unknown")),  # pre-2014 MRC has no "MAP " stamp
    FileFormat("TIFF", (".tif", ".tiff"), ("tiff",), writable=True),
    FileFormat("EMSA/MSA spectrum", (".msa", ".ems", ".emsa", ".mas"), ("emsa-text",), writable=True),
    FileFormat("NumPy array", (".npy",), ("npy",), writable=True),
    FileFormat("PNG image", (".png",), ("png",), writable=True),
    FileFormat("JPEG image", (".jpg", ".jpeg"), ("jpeg",), writable=True),
    FileFormat("Bruker", (".bcf", ".spx"), ("any",)),
    FileFormat("Gatan/Velox/USID/other HDF5", (".h5",), ("hdf5",)),
    FileFormat("MRCZ (compressed MRC)", (".mrcz",), ("any",), writable=True),
    FileFormat("Quantum Detectors Merlin", (".mib",), ("any",)),
    FileFormat("EDAX", (".spd", ".spc"), ("any",)),
    FileFormat("NeXus", (".nxs",), ("hdf5",), writable=True),
    FileFormat("ASTAR blockfile", (".blo",), ("any",), writable=True),
    FileFormat("Ripple", (".rpl",), ("text", "any"), writable=True),
    FileFormat("SEMPER", (".unf",), ("any",), writable=True),
    FileFormat("PantaRhei", (".prz",), ("zip", "any"), writable=True),
    FileFormat("DigitalSurf", (".sur", ".pro"), ("any",), writable=True),
    FileFormat("TVIPS", (".tvips",), ("any",), writable=True),
    FileFormat("Bitmap image", (".bmp", ".gif"), ("any",), writable=True),
)

#: Human names of content kinds, for messages ("looks like a TIFF image").
CONTENT_NAMES = {
    "dm3": "a DigitalMicrograph 3 file", "dm4": "a DigitalMicrograph 4 file",
    "hdf5": "an HDF5 file (HyperSpy/EMD/Velox)", "tiff": "a TIFF image", "png": "a PNG image",
    "jpeg": "a JPEG image", "ser": "an FEI/TIA series file", "mrc": "an MRC file",
    "npy": "a NumPy array file", "zip": "a ZIP archive", "emsa-text": "an EMSA/MSA text spectrum",
    "zarr-directory": "a Zarr directory store", "ole": "an OLE compound document",
    "text": "a text file", "pdf": "a PDF document", "gzip": "a gzip archive",
    "unknown": "data of an unknown kind",
}


def format_for(path: Path) -> FileFormat | None:
    """The format registered for ``path``'s extension (case-insensitive), or None."""
    ext = path.suffix.lower()
    for fmt in FORMATS:
        if ext in fmt.extensions:
            return fmt
    return None


def supported_extensions() -> list[str]:
    """All extensions BatteryScope opens, lower case with the dot."""
    return [e for fmt in FORMATS for e in fmt.extensions]


def file_dialog_filter() -> str:
    """A Qt file-dialog filter string listing every format."""
    all_ext = " ".join("*" + e for e in supported_extensions())
    parts = [f"Microscopy data ({all_ext})"]
    parts += [f"{f.name} ({' '.join('*' + e for e in f.extensions)})" for f in FORMATS]
    return ";;".join(parts + ["All files (*)"])


def _sniff_bytes(head: bytes) -> str:
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head[:4] in (b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"):
        return "dm3" if head[3] == 3 else "dm4"
    # TIA: ByteOrder 0x4949, SeriesID 0x0197, SeriesVersion 0x0210/0x0220 (little-endian)
    if head[:4] == b"II\x97\x01" and head[4:6] in (b"\x10\x02", b"\x20\x02"):
        return "ser"
    if len(head) >= 212 and head[208:212] in (b"MAP ", b"MAP\x00"):
        return "mrc"
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str:
    text = head.decode("latin-1")  # decodes any bytes; UTF-8 text keeps its ASCII markers
    if any(ord(c) < 9 or 14 <= ord(c) < 32 for c in text[:1024]):
        return "unknown"
    stripped = text.lstrip()
    if stripped.upper().startswith("#FORMAT"):
        return "emsa-text"
    if stripped.startswith("<?xml") and "ObjectInfo" in text:
        return "emi-xml"
    return "text"


def sniff_content(path: Path) -> str:
    """What ``path`` actually holds, judged from its first bytes (or directory layout).

    Returns one of the keys of :data:`CONTENT_NAMES`. Reads at most 4 kB.
    """
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        return "zarr-directory" if names & {".zgroup", "zarr.json", ".zattrs"} else "unknown"
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return _sniff_bytes(head)
