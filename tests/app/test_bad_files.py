"""Corrupt, truncated, bit-flipped and mislabelled files: one clear line, never a crash or hang.

Valid files come from independent writers (the test DM/SER writers, mrcfile, HyperSpy);
the damage is done here. Each damaged file must either open (a flipped data byte only
changes a value) or raise FileLoadError with a one-line reason naming the file. Loading
runs in a worker thread with a deadline, so a hang fails the test instead of CI.
"""
import concurrent.futures
import struct

import numpy as np
import pytest

from batteryscope.app import cli
from batteryscope.app.errors import FileLoadError
from batteryscope.app.hyperspy_adapter import import_hyperspy, load_signals
from batteryscope.app.signal_description import describe
from tests.fixtures.dm_writer import write_dm
from tests.fixtures.ser_writer import write_ser

hs = import_hyperspy()
DEADLINE_S = 60
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def _si():
    return (np.arange(16 * 12 * 64) % 997).reshape(16, 12, 64).astype(np.float32)


def make_dm3(path):
    return write_dm(path, _si(), version=3, signal="EELS",
                    calibrations=[(0, 0.2, "nm"), (0, 0.2, "nm"), (-800, 0.5, "eV")])


def make_dm4(path):
    img = (np.arange(64 * 80) % 251).reshape(64, 80).astype(np.uint16)
    return write_dm(path, img, version=4, calibrations=[(0, 0.1, "nm"), (0, 0.1, "nm")])


def make_ser(path):
    return write_ser(path, (np.arange(3 * 32 * 32) % 97).reshape(3, 32, 32).astype(np.int32), kind="image")


def make_mrc(path):
    mrcfile = pytest.importorskip("mrcfile")
    with mrcfile.new(str(path), overwrite=True) as m:
        m.set_data((np.arange(4 * 32 * 32) % 89).reshape(4, 32, 32).astype(np.float32))
        m.voxel_size = 1.5
    return path


def make_hspy(path):
    hs.signals.Signal1D(_si()).save(str(path))
    return path


def make_tif(path):
    s = hs.signals.Signal2D((np.arange(64 * 64) % 200).reshape(64, 64).astype(np.float32))
    for ax in s.axes_manager.signal_axes:
        ax.scale, ax.units = 0.05, "nm"
    s.save(str(path))
    return path


def make_msa(path):
    hs.signals.Signal1D(np.arange(1, 129, dtype=np.float32)).save(str(path))
    return path


MAKERS = {"dm3": make_dm3, "dm4": make_dm4, "ser": make_ser, "mrc": make_mrc,
          "hspy": make_hspy, "tif": make_tif, "msa": make_msa}


def _outcome(path):
    """'ok' or the FileLoadError; anything else (other exception, hang) fails the test."""
    future = _pool.submit(lambda: [describe(s) for s in load_signals(path, lazy=True)])
    try:
        future.result(timeout=DEADLINE_S)
        future = _pool.submit(lambda: [np.asarray(s.data).sum() for s in load_signals(path)])
        future.result(timeout=DEADLINE_S)
        return "ok"
    except FileLoadError as exc:
        return exc
    except concurrent.futures.TimeoutError:
        pytest.fail(f"loading {path.name} hung for more than {DEADLINE_S} s")


def _assert_clear(exc, path):
    message = str(exc)
    assert path.name in message and "\n" not in message and len(message) < 400
    assert exc.reason


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_valid_file_opens(tmp_path, fmt):
    path = MAKERS[fmt](tmp_path / f"good.{fmt}")
    assert _outcome(path) == "ok"


@pytest.mark.parametrize("fmt", sorted(MAKERS))
@pytest.mark.parametrize("keep", [0, 1, 16, 100, 0.1, 0.5, 0.9, 0.99])
def test_truncated_file_gives_clear_error(tmp_path, fmt, keep):
    good = MAKERS[fmt](tmp_path / f"good.{fmt}")
    raw = good.read_bytes()
    n = keep if isinstance(keep, int) else int(len(raw) * keep)
    bad = tmp_path / f"truncated.{fmt}"
    bad.write_bytes(raw[:n])
    result = _outcome(bad)
    if fmt == "msa" and result == "ok":  # only the #ENDOFDATA line was cut: all data present
        assert load_signals(bad)[0].data.shape == (128,)
        return
    assert isinstance(result, FileLoadError), f"{bad.name} truncated to {n} of {len(raw)} bytes opened"
    _assert_clear(result, bad)


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_random_byte_corruption_never_crashes(tmp_path, fmt):
    good = MAKERS[fmt](tmp_path / f"good.{fmt}")
    raw = bytearray(good.read_bytes())
    rng = np.random.default_rng(7)
    header = min(len(raw), 4096)
    errors = 0
    for i in range(25):
        damaged = bytearray(raw)
        pos = int(rng.integers(0, header if i % 2 == 0 else len(raw)))
        if i % 3 == 0:
            damaged[pos] ^= 1 << int(rng.integers(0, 8))  # one bit flip
        else:
            damaged[pos] = int(rng.integers(0, 256))
        bad = tmp_path / f"corrupt{i}.{fmt}"
        bad.write_bytes(bytes(damaged))
        result = _outcome(bad)
        if result != "ok":
            _assert_clear(result, bad)
            errors += 1
    assert errors < 25 or fmt in ("msa",), "every corruption failed: suspicious"


def test_dm_dimension_claiming_terabytes(tmp_path):
    good = make_dm3(tmp_path / "good.dm3")
    raw = good.read_bytes()
    # the energy dimension (64) is stored in the Dimensions tag group as a 4-byte integer
    start = raw.rindex(b"Dimensions")
    pos = raw.index(struct.pack("<l", 64), start)  # tag data are little-endian
    bad_raw = raw[:pos] + struct.pack("<l", (1 << 30) + 64) + raw[pos + 4:]
    bad = tmp_path / "huge.dm3"
    bad.write_bytes(bad_raw)
    result = _outcome(bad)
    assert isinstance(result, FileLoadError)
    _assert_clear(result, bad)


@pytest.mark.parametrize("src,dst", [("tif", "dm3"), ("hspy", "tif"), ("dm3", "ser"), ("mrc", "emd"),
                                     ("msa", "dm4"), ("dm4", "hspy")])
def test_mislabelled_file(tmp_path, src, dst, capsys):
    good = MAKERS[src](tmp_path / f"good.{src}")
    bad = tmp_path / f"mislabelled.{dst}"
    bad.write_bytes(good.read_bytes())
    assert cli.main(["info", str(bad)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr()
    assert err.out == "" and err.err.count("\n") == 1 and "mislabelled" in err.err


def test_directory_and_unreadable(tmp_path):
    d = tmp_path / "folder.dm3"
    d.mkdir()
    with pytest.raises(FileLoadError, match="is a directory"):
        load_signals(d)


def test_zspy_array_header_claiming_terabytes(tmp_path):
    import json

    path = tmp_path / "huge.zspy"
    hs.signals.Signal1D(_si()).save(str(path))
    zarray = next(p for p in path.rglob(".zarray") if p.parent.name == "data")
    meta = json.loads(zarray.read_text())
    meta["shape"] = [1_000_000, 1_000_000, 64]
    zarray.write_text(json.dumps(meta))
    result = _outcome(path)
    assert isinstance(result, FileLoadError)
    _assert_clear(result, path)


@pytest.mark.parametrize("nx", [(1 << 30) + 32, -1])
def test_mrc_header_with_impossible_size(tmp_path, nx):
    good = make_mrc(tmp_path / "good.mrc")
    raw = bytearray(good.read_bytes())
    raw[0:4] = struct.pack("<i", nx)  # NX: the survey saw rosettasciio hang on these
    bad = tmp_path / "huge.mrc"
    bad.write_bytes(bytes(raw))
    result = _outcome(bad)
    assert isinstance(result, FileLoadError)
    _assert_clear(result, bad)
