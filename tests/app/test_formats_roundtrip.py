"""Files written by rosettasciio's writers (through HyperSpy) open with correct data and axes.

Each case writes a signal with HyperSpy — an independent writer — then opens it through
BatteryScope's loader and checks the data and, where the format stores them, the
calibrations. No Qt here.
"""
import warnings

import numpy as np
import pytest

from batteryscope.app.hyperspy_adapter import import_hyperspy, load_signals
from batteryscope.app.signal_description import describe

hs = import_hyperspy()


def _calibrate(s, names, scales, offsets, units):
    for ax, n, sc, off, u in zip(s.axes_manager._axes, names, scales, offsets, units):
        ax.name, ax.scale, ax.offset, ax.units = n, sc, off, u
    return s


def image(dtype=np.float32):
    data = (np.arange(48 * 64) % 251).reshape(48, 64).astype(dtype)
    return _calibrate(hs.signals.Signal2D(data), ["y", "x"], [0.05, 0.05], [1.0, 2.0], ["nm", "nm"])


def spectrum():
    data = np.arange(1, 257, dtype=np.float32)  # integer counts: exact in text formats (MSA)
    return _calibrate(hs.signals.Signal1D(data), ["Energy loss"], [0.5], [400.0], ["eV"])


def spectrum_image():
    data = np.arange(4 * 5 * 32, dtype=np.float32).reshape(4, 5, 32)
    return _calibrate(hs.signals.Signal1D(data), ["y", "x", "Energy loss"], [0.2, 0.2, 0.5],
                      [0.0, 0.0, 400.0], ["nm", "nm", "eV"])


def stack():
    data = np.arange(3 * 16 * 20, dtype=np.float32).reshape(3, 16, 20)
    return _calibrate(hs.signals.Signal2D(data), ["Time", "y", "x"], [0.5, 0.1, 0.1],
                      [0.0, 0.0, 0.0], ["s", "nm", "nm"])


# (extension, maker, calibration stored?) — every format rosettasciio writes, with a
# signal kind that format accepts.
CASES = [
    ("hspy", image, True), ("hspy", spectrum_image, True), ("hspy", stack, True),
    ("zspy", image, True), ("zspy", spectrum_image, True),
    ("emd", image, True), ("emd", spectrum_image, True),
    ("tif", image, True), ("tif", stack, False),
    ("msa", spectrum, True),
    ("npy", spectrum_image, False),
    ("png", lambda: image(np.uint8), False),
    ("rpl", spectrum_image, True),
    ("unf", spectrum_image, False),   # SEMPER keeps one unit for all axes
    ("nxs", spectrum_image, True),
    ("prz", spectrum, False),         # PantaRhei writer drops a 1-D calibration
    # DigitalSurf quantises floats to int32 and maps the float maximum to 0 (rosettasciio
    # 0.15); integer data round-trips exactly.
    ("sur", lambda: image(np.int32), True),
    ("blo", lambda: _calibrate(hs.signals.Signal2D(np.arange(2 * 3 * 8 * 8, dtype=np.uint8)
                                                   .reshape(2, 3, 8, 8)),
                               ["y", "x", "ky", "kx"], [1.0, 1.0, 0.1, 0.1], [0, 0, 0, 0],
                               ["nm", "nm", "1/nm", "1/nm"]), False),
    ("tvips", lambda: hs.signals.Signal2D(np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)),
     False),
]


@pytest.mark.parametrize("ext,make,calibrated", CASES,
                         ids=[f"{c[0]}-{getattr(c[1], '__name__', 'custom')}" for c in CASES])
def test_written_by_rosettasciio_opens_with_same_data(tmp_path, ext, make, calibrated):
    original = make()
    path = tmp_path / f"data.{ext}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            original.save(str(path), overwrite=True)
        except ImportError as exc:  # an optional writer dependency
            pytest.skip(f"writer for .{ext} needs {exc.name}")
    if not path.exists():  # TVIPS appends a file index: data_000.tvips
        path = next(tmp_path.glob(f"data*.{ext}"))
    loaded = load_signals(path)[0]
    got = np.asarray(loaded.data)
    assert got.size == original.data.size
    np.testing.assert_array_equal(got.reshape(original.data.shape), original.data)
    desc = describe(loaded, path)
    assert desc["shape"] == list(got.shape)
    lazy_desc = describe(load_signals(path, lazy=True)[0], path)  # as `batteryscope info` opens it
    assert lazy_desc["shape"] == desc["shape"] and lazy_desc["axes"] == desc["axes"]
    if calibrated:
        want = [(a.scale, a.offset, a.units) for a in original.axes_manager._axes]
        have = [(ax["scale"], ax["offset"], ax["units"]) for ax in desc["axes"]]
        for (ws, wo, wu), (hs_, ho, hu) in zip(want, have):
            assert hs_ == pytest.approx(ws, rel=1e-5)
            assert ho == pytest.approx(wo, rel=1e-5, abs=1e-6)
            assert hu == wu


def test_lazy_loading_by_size_fraction(tmp_path):
    path = tmp_path / "si.hspy"
    spectrum_image().save(str(path))
    assert load_signals(path, lazy_fraction=1e-12)[0]._lazy
    assert not load_signals(path, lazy_fraction=0.5)[0]._lazy


def test_describe_kinds(tmp_path):
    kinds = {}
    for name, make in (("img", image), ("spec", spectrum), ("si", spectrum_image), ("stack", stack)):
        path = tmp_path / f"{name}.hspy"
        make().save(str(path))
        kinds[name] = describe(load_signals(path)[0])["signal_type"]
    assert kinds == {"img": "image", "spec": "spectrum", "si": "spectrum image", "stack": "image stack"}
