"""Saving results and exporting images/spectra; atomic writes; the raw file is never touched."""
import errno
import json

import imageio.v3 as iio
import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app import export
from batteryscope.app.document import Document, ProvenanceStep, open_documents
from batteryscope.app.errors import FileSaveError
from batteryscope.app.hyperspy_adapter import import_hyperspy, signal_from_array

hs = import_hyperspy()
E_AXIS = AxisCalibration("Energy loss", "eV", 0.5, 400.0, 128)


def _image():
    axes = (AxisCalibration("y", "nm", 0.02, 0.0, 30), AxisCalibration("x", "nm", 0.02, 0.0, 40))
    data = np.random.default_rng(1).poisson(50, (30, 40)).astype(np.float32)
    return signal_from_array(data, axes, title="HAADF", signal_type="image")


def _spectrum():
    return signal_from_array(np.arange(128, dtype=np.float32), (E_AXIS,), title="sum", signal_type="EELS")


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_result_saved_opens_in_hyperspy_with_provenance(tmp_path, ext):
    raw = tmp_path / "raw.hspy"
    _image().save(str(raw))
    doc = open_documents(raw)[0]
    result = doc.signal.deepcopy()
    doc.add_result("copy", result, ProvenanceStep("copy", {"why": "test"}))
    out = export.save_result(result, tmp_path / f"result.{ext}", document=doc)
    back = hs.load(str(out))  # plain HyperSpy, no BatteryScope
    np.testing.assert_array_equal(back.data, doc.signal.data)
    assert back.axes_manager[0].scale == pytest.approx(0.02)
    steps = json.loads(back.metadata.BatteryScope.provenance)
    assert steps[0]["operation"] == "load" and steps[0]["parameters"]["source"] == str(raw)


def test_never_overwrites_the_raw_file(tmp_path):
    raw = tmp_path / "raw.hspy"
    _image().save(str(raw))
    before = raw.read_bytes()
    doc = open_documents(raw)[0]
    with pytest.raises(FileSaveError, match="original data file"):
        export.save_result(doc.signal, raw, document=doc, overwrite=True)
    assert raw.read_bytes() == before


def test_tiff_keeps_calibration(tmp_path):
    out = export.export_tiff(_image(), tmp_path / "img.tif")
    back = open_documents(out)[0]
    assert [a.scale for a in back.axes] == pytest.approx([0.02, 0.02])
    assert back.axes[0].units == "nm"


def test_png_rendering(tmp_path):
    img = np.linspace(0, 1, 20 * 30).reshape(20, 30)
    out = export.export_png(img, tmp_path / "img.png", levels=(0.0, 1.0))
    back = iio.imread(out)
    assert back.shape == (20, 30) and back.dtype == np.uint8
    assert back[0, 0] == 0 and back[-1, -1] == 255


def test_msa_and_csv_spectrum(tmp_path):
    s = _spectrum()
    msa = export.export_msa(s, tmp_path / "s.msa")
    back = open_documents(msa)[0]
    np.testing.assert_allclose(np.asarray(back.signal.data), np.arange(128))
    assert back.axes[0].offset == pytest.approx(400.0)
    csv_path = export.export_spectrum_csv(s, tmp_path / "s.csv")
    rows = [ln for ln in csv_path.read_text().splitlines() if not ln.startswith("#")]
    assert rows[0].startswith("Energy loss (eV)")
    table = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    np.testing.assert_allclose(table[:, 0], E_AXIS.values())
    np.testing.assert_allclose(table[:, 1], np.arange(128))


def test_full_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    s = _image()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(s), "save", no_space)
    with pytest.raises(FileSaveError, match="No space left on device"):
        export.save_result(s, tmp_path / "r.hspy")
    assert list(tmp_path.iterdir()) == []


def test_existing_target_kept_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "r.hspy"
    _image().save(str(target))
    before = target.read_bytes()
    s = _image()
    monkeypatch.setattr(type(s), "save", lambda *a, **k: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(FileSaveError, match="boom"):
        export.save_result(s, target, overwrite=True)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.hspy"]


def test_document_describes_itself(tmp_path):
    raw = tmp_path / "raw.hspy"
    _image().save(str(raw))
    doc = open_documents(raw)[0]
    assert isinstance(doc, Document) and doc.kind == "image"
    assert "raw.hspy" in doc.name and not doc.is_lazy
