"""``batteryscope columns``: demo files written to disk, results checked against their truth."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair
from batteryscope.analysis.specimens.lfp_li_staging import lfp_li_staging_abf
from batteryscope.app import cli
from batteryscope.app.demo_files import write_specimen


@pytest.fixture(scope="module")
def antisite_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("columns-antisite")
    spec = lfp_antisite_pair(seed=11, shape=(320, 320), antisite_fraction=0.1, antisite_occupancy=0.25)
    write_specimen(spec, out)
    return out, spec.truth


def _run(capsys, *argv):
    code = cli.main(["columns", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_rows_match_the_truth(antisite_files, capsys):
    folder, truth = antisite_files
    code, out, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["pixel_size_A"] == pytest.approx(0.12)               # from the file's calibration
    rows = res["columns"]
    xy = np.array([[r["x_px"], r["y_px"]] for r in rows])
    assert all(r["x_A"] == pytest.approx(r["x_px"] * 0.12) for r in rows)
    c = truth["columns"]
    d, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(xy)
    assert np.mean(np.array(c["site"])[i] == np.array([r["sublattice"] for r in rows])) > 0.99
    assert np.percentile(d, 95) * 0.12 < 0.15
    called = np.array([r["antisite"] for r in rows])
    true_anti = np.array(c["antisite"])[i] & (d < 2)
    tp = np.sum(called & true_anti)
    assert tp / called.sum() >= 0.9 and tp / true_anti.sum() >= 0.9
    fe = np.array([r["fe_fraction"] for r in rows if r["antisite"]])
    assert np.median(fe) == pytest.approx(0.25, abs=0.05)
    conc = res["antisite_concentration"]
    li_sites = [k for k, s in enumerate(c["site"]) if s == "Li"]
    fe_on_li = sum(c["n_atoms"]["Fe"][k] for k in li_sites)
    all_li_sites = sum(c["n_atoms"]["Fe"][k] + c["n_atoms"]["Li"][k] for k in li_sites)
    assert conc["value"] == pytest.approx(fe_on_li / all_li_sites, abs=3 * conc["err"] + 0.002)
    assert res["staging"]["detected"] is False


def test_csv_has_one_row_per_column(antisite_files, capsys, tmp_path):
    folder, _ = antisite_files
    out_csv = tmp_path / "cols.csv"
    code, out, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--csv", out_csv,
                          "--pixel-size", "0.12")
    assert code == 0, err
    lines = [ln for ln in out_csv.read_text().splitlines() if not ln.startswith("#")]
    header = lines[0].split(",")
    for field in ("x_px", "y_px", "x_A", "y_A", "sublattice", "intensity", "sigma_px", "antisite",
                  "fe_fraction"):
        assert field in header
    n = int(out.split()[0])
    assert len(lines) - 1 == n > 500
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:]]
    assert {r["antisite"] for r in rows} == {"True", "False"}


def test_staging_found_with_the_abf_image(tmp_path, capsys):
    spec = lfp_li_staging_abf(seed=2, shape=(320, 320))
    write_specimen(spec, tmp_path)
    code, out, err = _run(capsys, tmp_path / "lfp_staging_haadf.hspy", "--abf",
                          tmp_path / "lfp_staging_abf.hspy", "--json")
    assert code == 0, err
    st = json.loads(out)["staging"]
    assert st["detected"] and st["period"] == 2 and st["measured_on"] == "ABF"
    assert st["period_A"] == pytest.approx(spec.truth["regions"][1]["staging_period_A"], rel=0.03)
    code, out, err = _run(capsys, tmp_path / "lfp_staging_haadf.hspy", "--abf",
                          tmp_path / "lfp_staging_abf.hspy")
    assert code == 0 and "Li staging: period 2 planes" in out


def test_corrupt_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.hspy"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 50)
    code, out, err = _run(capsys, bad)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("batteryscope: error:") and "broken.hspy" in err


def test_bad_options_exit_2(antisite_files, capsys, tmp_path):
    folder, _ = antisite_files
    code, _, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--structure", "perovskite")
    assert code == 2 and "unknown --structure" in err and err.count("\n") == 1
    code, _, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--structure",
                        tmp_path / "missing.cif:0,1,0")
    assert code == 2 and "missing.cif" in err
    code, _, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--structure", "rock-salt")
    assert code == 2 and "does not match" in err


def test_layered_oxide_superstructure_fraction(tmp_path, capsys):
    from batteryscope.analysis.specimens.layered_oxide_columns import layered_oxide_haadf

    spec = layered_oxide_haadf(seed=8, shape=(256, 256), c2m_region=(0.5, 1.0), tm_rich_depth_A=0.0)
    write_specimen(spec, tmp_path)
    code, out, err = _run(capsys, tmp_path / "layered_oxide_haadf.hspy", "--structure", "layered-r3m",
                          "--json")
    assert code == 0, err
    res = json.loads(out)
    c = spec.truth["columns"]
    # the map needs a window of 7 columns along the row: columns within 3 of an edge are R-3m
    edge = 3 * 14.22
    tm = [d for s, d, x in zip(c["site"], c["domain"], c["x_px"]) if s == "TM" and edge < x < 255 - edge]
    true_fraction = tm.count("C2/m") / len(tm)
    assert res["superstructure"]["c2m_fraction"] == pytest.approx(true_fraction, abs=0.12)
    assert max(res["superstructure"]["variant_counts"].values()) >= 0.9 * res["superstructure"]["n_c2m"]


def test_structure_from_a_cif_with_a_zone_axis(antisite_files, capsys):
    from pathlib import Path

    folder, truth = antisite_files
    cif = Path(__file__).resolve().parents[1] / "fixtures" / "cif" / "LiFePO4_Pnma.cif"
    code, out, err = _run(capsys, folder / "lfp_antisite_haadf.hspy", "--structure", f"{cif}:0,1,0",
                          "--json")
    assert code == 0, err
    res = json.loads(out)
    c = truth["columns"]
    xy = np.array([[r["x_px"], r["y_px"]] for r in res["columns"]])
    _, i = cKDTree(np.column_stack([c["x_px"], c["y_px"]])).query(xy)
    assert np.mean(np.array(c["site"])[i] == np.array([r["sublattice"] for r in res["columns"]])) > 0.99
    assert abs(res["antisites"]["n_antisite"] - sum(c["antisite"][k] for k in set(i.tolist()))) <= 1


@pytest.mark.parametrize("kind", ["noise", "flat", "spectrum_image"])
def test_files_without_a_lattice_exit_2(kind, tmp_path, capsys):
    from batteryscope.analysis.calibration import AxisCalibration
    from batteryscope.app.hyperspy_adapter import save_signal, signal_from_array

    img_axes = (AxisCalibration("y", "Å", 0.1, 0.0, 96), AxisCalibration("x", "Å", 0.1, 0.0, 96))
    if kind == "noise":
        s = signal_from_array(np.random.default_rng(0).poisson(50, (96, 96)).astype("f4"), img_axes)
    elif kind == "flat":
        s = signal_from_array(np.ones((96, 96), "f4"), img_axes)
    else:
        axes = (AxisCalibration("y", "nm", 1, 0, 4, True), AxisCalibration("x", "nm", 1, 0, 4, True),
                AxisCalibration("Energy loss", "eV", 1, 400, 50))
        s = signal_from_array(np.ones((4, 4, 50), "f4"), axes, signal_type="EELS")
    path = save_signal(s, tmp_path / f"{kind}.hspy")
    code, out, err = _run(capsys, path)
    assert code == 2 and err.count("\n") == 1 and f"{kind}.hspy" in err and not out
