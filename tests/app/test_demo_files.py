"""``batteryscope demo --out DIR`` and ``--demo``: files, truth, calibrations, the GUI."""
import json

import numpy as np
import pytest

from batteryscope.app import cli
from batteryscope.app.demo_files import write_specimen
from batteryscope.app.demo_specimens import lfp_antisite, lithiation_movie
from batteryscope.app.hyperspy_adapter import load_signals
from batteryscope.app.signal_description import describe


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--out", str(out)]) == 0
    return out


def test_demo_writes_every_specimen_with_truth(demo_dir):
    hspy = sorted(p.name for p in demo_dir.glob("*.hspy"))
    assert hspy == sorted([
        "lfp_antisite_haadf.hspy", "lfp_antisite_abf.hspy", "lfp_staging_abf.hspy",
        "lfp_staging_haadf.hspy", "layered_oxide_low_loss.hspy", "layered_oxide_core_loss.hspy",
        "sno2_nanowire_lithiation_movie.hspy"])
    for name in hspy:
        truth = json.loads((demo_dir / name.replace(".hspy", ".truth.json")).read_text())
        assert truth["physics"] and truth["truth"] and truth["seed"] == 0
    log = (demo_dir / "sno2_nanowire_lithiation_electrochemistry.csv").read_text().splitlines()
    header = [ln for ln in log if not ln.startswith("#")][0]
    assert "time_s" in header and "current_A" in header and "charge_C" in header


@pytest.mark.parametrize("name,kind,units,nav", [
    ("lfp_antisite_haadf", "image", ["Å", "Å"], [False, False]),
    ("layered_oxide_core_loss", "EELS spectrum image", ["nm", "nm", "eV"], [True, True, False]),
    ("layered_oxide_low_loss", "EELS spectrum image", ["nm", "nm", "eV"], [True, True, False]),
    ("sno2_nanowire_lithiation_movie", "image stack", ["s", "nm", "nm"], [True, False, False]),
])
def test_info_reports_demo_axes(demo_dir, capsys, name, kind, units, nav):
    assert cli.main(["info", str(demo_dir / f"{name}.hspy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["signal_type"] == kind
    assert [a["units"] for a in out["axes"]] == units
    assert [a["navigate"] for a in out["axes"]] == nav
    assert out["metadata"]["beam_energy_keV"] == 300.0


def test_files_match_the_generator_exactly(tmp_path):
    specimen = lfp_antisite(seed=3)
    write_specimen(specimen, tmp_path)
    for sig in specimen.signals:
        loaded = load_signals(tmp_path / f"{sig.name}.hspy")[0]
        np.testing.assert_array_equal(np.asarray(loaded.data), sig.data)
        axes = describe(loaded)["axes"]
        assert [a["scale"] for a in axes] == pytest.approx([a.scale for a in sig.axes])
        assert [a["name"] for a in axes] == [a.name for a in sig.axes]


def test_generators_are_deterministic():
    a, b = lithiation_movie(seed=1), lithiation_movie(seed=1)
    np.testing.assert_array_equal(a.signals[0].data, b.signals[0].data)
    assert json.dumps(a.truth) == json.dumps(b.truth)


def test_gui_opens_the_demo(qtbot, demo_cache, no_leaked_windows):
    from batteryscope.app.main_window import MainWindow

    window = MainWindow(show_dialogs=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.documentsOpened, timeout=180000) as opened:
        window.open_demo()
    assert len(opened.args[0]) == 7
    kinds = [d.kind for d in window.documents]
    assert kinds.count("image") == 4 and kinds.count("EELS spectrum image") == 2
    assert "image stack" in kinds
    window.document_list.setCurrentRow(5)  # core-loss SI: navigator + mean spectrum
    navigator = window.navigator
    assert navigator is not None and navigator.isVisibleTo(window)
    assert navigator.image_view.image_item.image.shape == (48, 64)
    assert "Mean spectrum" in navigator.spectrum_view.traces
    window.document_list.setCurrentRow(0)  # an image: the image page with its tools
    assert window.navigator is None and window.image_view.isVisibleTo(window)
    window.close()
