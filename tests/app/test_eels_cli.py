"""``batteryscope eels``: quantification of a synthetic spectrum image of known composition."""
import json

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.app import cli
from batteryscope.app.eels_cross_sections import hydrogenic_cross_sections
from batteryscope.app.hyperspy_adapter import signal_from_array

E_AXIS = AxisCalibration("Energy loss", "eV", 0.5, 400.25, 1300)  # 400–1050 eV
SCOPE = {"beam_energy_keV": 300.0, "convergence_angle_mrad": 20.0, "collection_angle_mrad": 30.0}
EDGES = {"O": "O_K", "Mn": "Mn_L3", "Ni": "Ni_L3"}
# areal densities per pixel (arbitrary units): columns 0–2 are O:Mn:Ni = 4:1:1, 3–5 are 2:1:1
LEFT, RIGHT = {"O": 4, "Mn": 1, "Ni": 1}, {"O": 2, "Mn": 1, "Ni": 1}
NY, NX = 4, 6
DOSE = 2e3 / (NY * NX)          # per-pixel scale: the summed O K edge is ~1e5 counts/channel
BACKGROUND = 1e5 / (NY * NX)    # summed background at 500 eV, counts/channel


@pytest.fixture(scope="module")
def cross_sections():
    return hydrogenic_cross_sections(EDGES.values(), E_AXIS.values(), beam_energy_keV=300.0,
                                     convergence_mrad=20.0, collection_mrad=30.0)


def _spectrum(density, xs):
    e = E_AXIS.values()
    return BACKGROUND * (e / 500.0) ** -3.0 + sum(
        DOSE * density[el] * xs[EDGES[el]] * E_AXIS.scale for el in EDGES)


def _write(tmp_path, data, *, name="si.hspy", acquisition=SCOPE, axes=None):
    axes = axes or (AxisCalibration("y", "nm", 1.0, 0.0, NY, True),
                    AxisCalibration("x", "nm", 1.0, 0.0, NX, True), E_AXIS)
    s = signal_from_array(data, axes, title="NMC core loss", signal_type="EELS",
                          acquisition=acquisition)
    path = tmp_path / name
    s.save(str(path))
    return path


@pytest.fixture(scope="module")
def ideal(cross_sections):
    out = np.empty((NY, NX, E_AXIS.size))
    out[:, :3] = _spectrum(LEFT, cross_sections)
    out[:, 3:] = _spectrum(RIGHT, cross_sections)
    return out


@pytest.fixture
def si_path(tmp_path, ideal):
    data = np.random.default_rng(7).poisson(ideal).astype(np.float32)
    return _write(tmp_path, data)


def _run(argv, capsys):
    if argv[0] == "eels" and "--cross-sections" not in argv:
        argv = [*argv, "--cross-sections", "hydrogenic"]   # the data were made with these
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _truth(density):
    total = sum(density.values())
    return {el: 100.0 * n / total for el, n in density.items()}


def _check_against_truth(result, truth):
    assert result["cross_sections"] == "hydrogenic"
    for row in result["elements"]:
        assert row["cross_section_source"] == "hydrogenic (exspy)"
        assert not row["failed"]
        dev = row["atomic_percent"] - truth[row["element"]]
        assert abs(dev) < 3 * row["atomic_percent_err"], (row, truth)
        assert abs(dev) < 0.03 * truth[row["element"]]
    assert sum(r["atomic_percent"] for r in result["elements"]) == pytest.approx(100.0)


def test_whole_image_matches_known_composition(si_path, capsys):
    code, out, err = _run(["eels", str(si_path), "--elements", "O,Mn,Ni", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    rows = {r["element"]: r for r in result["elements"]}
    assert list(rows) == ["O", "Mn", "Ni"]
    assert [rows[el]["edge"] for el in rows] == ["O_K", "Mn_L3", "Ni_L3"]
    assert rows["O"]["onset_eV"] == pytest.approx(532, abs=1)
    assert rows["Mn"]["integration_window_eV"] == [640.0, 690.0]
    assert rows["Mn"]["background_window_eV"] == [585.0, 635.0]
    for r in rows.values():
        assert r["counts"] > 0 and r["counts_err"] > 0 and r["sigma_barn"] > 0
    assert 500 < rows["O"]["sigma_barn"] < 2000  # ~20 barn/eV over 50 eV
    assert result["roi"] is None and result["beam_energy_keV"] == 300.0
    whole = {el: 3 * LEFT[el] + 3 * RIGHT[el] for el in EDGES}  # 18:6:6 = 60:20:20 %
    _check_against_truth(result, _truth(whole))


def test_roi_sums_only_the_chosen_pixels(si_path, capsys):
    code, out, err = _run(["eels", str(si_path), "--elements", "o, mn ,NI", "--roi", "0,0,3,4",
                           "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["roi"] == [0, 0, 3, 4]
    _check_against_truth(result, _truth(LEFT))


def test_noise_free_spectrum_is_accurate(tmp_path, ideal, capsys):
    """Systematic error of the method itself (power-law extrapolation over other edges' tails)."""
    path = _write(tmp_path, ideal.astype(np.float64))
    code, out, err = _run(["eels", str(path), "--elements", "O,Mn,Ni", "--json"], capsys)
    assert code == 0, err
    truth = _truth({el: 3 * LEFT[el] + 3 * RIGHT[el] for el in EDGES})
    for row in json.loads(out)["elements"]:
        assert row["atomic_percent"] == pytest.approx(truth[row["element"]], abs=0.5)


def test_text_output_is_a_table(si_path, capsys):
    code, out, err = _run(["eels", str(si_path), "--elements", "O,Mn,Ni"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "at. %" in lines[2] and "hydrogenic (exspy)" in out
    assert [ln.split()[0] for ln in lines[3:6]] == ["O_K", "Mn_L3", "Ni_L3"]
    # window integration over 3d-metal L2,3 edges: the white lines are named as a bias
    warnings = [ln for ln in lines[6:] if ln.startswith("warning:")]
    assert [w.split()[1] for w in warnings] == ["Mn_L3:", "Ni_L3:"]
    assert all("white lines" in w and "--method model" in w for w in warnings)


def test_failed_background_fit_is_reported_not_a_number(tmp_path, ideal, capsys):
    data = np.random.default_rng(1).poisson(ideal).astype(np.float32)
    e = E_AXIS.values()
    data[..., (e > 490) & (e < 500)] = 0.0  # inside the O K background window [482, 527] eV
    path = _write(tmp_path, data)
    code, out, err = _run(["eels", str(path), "--elements", "O,Mn,Ni", "--json"], capsys)
    assert code == 0, err
    rows = {r["element"]: r for r in json.loads(out)["elements"]}
    assert rows["O"]["failed"] is True and rows["O"]["counts"] is None
    assert rows["O"]["atomic_percent"] is None
    assert rows["Mn"]["failed"] is False and rows["Mn"]["counts"] > 0
    code, out, _ = _run(["eels", str(path), "--elements", "O,Mn,Ni"], capsys)
    assert code == 0 and "background fit failed" in out


def test_metadata_from_options_when_missing(tmp_path, ideal, capsys):
    path = _write(tmp_path, np.random.default_rng(2).poisson(ideal).astype(np.float32),
                  acquisition={})
    code, out, err = _run(["eels", str(path), "--elements", "O,Mn,Ni"], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "beam_energy_keV" in err and "--beta" in err
    code, out, err = _run(["eels", str(path), "--elements", "O,Mn,Ni", "--json",
                           "--beam-energy", "300", "--alpha", "20", "--beta", "30"], capsys)
    assert code == 0, err
    assert json.loads(out)["collection_mrad"] == 30.0


def _expect_one_line_error(argv, capsys, *words):
    code, out, err = _run(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_not_an_eels_spectrum(tmp_path, capsys):
    axes = (AxisCalibration("y", "nm", 1.0, 0.0, 8), AxisCalibration("x", "nm", 1.0, 0.0, 9))
    s = signal_from_array(np.ones((8, 9), np.float32), axes, title="HAADF")
    path = tmp_path / "image.hspy"
    s.save(str(path))
    _expect_one_line_error(["eels", str(path), "--elements", "O"], capsys, "not an EELS spectrum")


def test_edge_outside_the_spectrum_is_named(si_path, capsys):
    _expect_one_line_error(["eels", str(si_path), "--elements", "O,Zr"], capsys,
                           "Zr", "outside the spectrum")


@pytest.mark.parametrize("extra, words", [
    (["--elements", "O,Xx"], ["Xx"]),
    (["--elements", "O,O"], ["twice"]),
    (["--elements", "O,Mn", "--roi", "0,0,9,2"], ["--roi", "outside"]),
    (["--elements", "O,Mn", "--roi", "a,b"], ["--roi"]),
])
def test_bad_requests(si_path, capsys, extra, words):
    _expect_one_line_error(["eels", str(si_path), *extra], capsys, *words)


def test_other_elements_edges_inside_a_window_are_flagged():
    from batteryscope.analysis.eels import edges as eels_edges
    from batteryscope.app.eels_quantify import format_table, window_overlaps

    windows = {el: eels_edges.default_windows(eels_edges.edge(el, shell))
               for el, shell in (("Li", "K"), ("Mn", "L3"))}
    found = window_overlaps(windows)
    assert any("Mn" in f and "window" in f for f in found["Li"]), found  # Mn M₂,₃ under Li K
    assert found["Mn"] == []
    table = format_table({"file": "x", "beam_energy_keV": 300, "convergence_mrad": 20,
                          "collection_mrad": 30, "cross_sections": "hydrogenic",
                          "method": "window", "background_model": "power law",
                          "elements": [{"edge": "Li_K", "onset_eV": 55.0, "integration_window_eV": [55, 105],
                                        "failed": False, "counts": 1.0, "counts_err": 0.1,
                                        "sigma_barn": 1.0, "atomic_percent": 50.0,
                                        "atomic_percent_err": 1.0, "overlaps": found["Li"]}]})
    assert "warning: Li_K" in table and "not reliable" in table


def test_offline_hartree_slater_tables_by_default(si_path, capsys):
    code, out, err = _run(["eels", str(si_path), "--elements", "O,Mn,Ni", "--json",
                           "--cross-sections", "auto"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["cross_sections"] == "auto"
    hydro = json.loads(_run(["eels", str(si_path), "--elements", "O,Mn,Ni", "--json"],
                            capsys)[1])
    for row, h in zip(result["elements"], hydro["elements"]):
        assert row["cross_section_source"].startswith("hartree-slater")
        assert row["sigma_barn"] != pytest.approx(h["sigma_barn"], rel=0.05)
        assert row["counts"] == pytest.approx(h["counts"])       # same data, same windows


def test_model_fit_method_matches_known_composition(si_path, capsys):
    code, out, err = _run(["eels", str(si_path), "--elements", "O,Mn,Ni", "--json",
                           "--method", "model"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["method"] == "model"
    whole = {el: 3 * LEFT[el] + 3 * RIGHT[el] for el in EDGES}
    _check_against_truth(result, _truth(whole))


def test_out_writes_calibrated_maps_that_match_the_truth(si_path, tmp_path, capsys):
    import hyperspy.api as hs

    out_dir = tmp_path / "maps"
    code, out, err = _run(["eels", str(si_path), "--elements", "O,Mn,Ni", "--out",
                           str(out_dir)], capsys)
    assert code == 0, err
    assert "maps:" in out
    names = sorted(p.name for p in out_dir.iterdir())
    for el in EDGES:
        for q in ("atomic_percent", "atomic_percent_err", "counts", "background_failed"):
            assert f"{el}_{q}.hspy" in names
    for el in ("Mn", "Ni"):               # 3d metals also get their L3/L2 maps
        assert f"{el}_white_line_ratio.hspy" in names and f"{el}_white_line_ratio_err.hspy" in names
    summary = json.loads((out_dir / "quantification.json").read_text())
    assert len(summary["maps"]) == 16
    mn = hs.load(str(out_dir / "Mn_atomic_percent.hspy"))
    err_map = hs.load(str(out_dir / "Mn_atomic_percent_err.hspy")).data
    assert mn.data.shape == (NY, NX)
    assert mn.axes_manager[0].units == "nm"
    for cols, density in ((slice(0, 3), LEFT), (slice(3, 6), RIGHT)):
        truth = _truth(density)["Mn"]
        pull = (mn.data[:, cols] - truth) / err_map[:, cols]
        assert np.all(np.abs(pull) < 4)
    # never overwrite: a second run into the same folder is refused with one line
    _expect_one_line_error(["eels", str(si_path), "--elements", "O,Mn,Ni", "--out",
                            str(out_dir)], capsys, "exists")


def test_out_needs_a_spectrum_image(tmp_path, ideal, capsys):
    axes = (E_AXIS,)
    s = signal_from_array(ideal[0, 0].astype(np.float32), axes, title="one", signal_type="EELS",
                          acquisition=SCOPE)
    path = tmp_path / "one.hspy"
    s.save(str(path))
    _expect_one_line_error(["eels", str(path), "--elements", "O,Mn", "--out",
                            str(tmp_path / "m")], capsys, "spectrum image")


@pytest.fixture(scope="module")
def demo_dual_eels(tmp_path_factory):
    from batteryscope.app.demo_files import write_specimen
    from batteryscope.app.demo_specimens import layered_oxide_eels

    specimen = layered_oxide_eels(seed=0)
    paths = write_specimen(specimen, tmp_path_factory.mktemp("demo"))
    low = next(p for p in paths if "low_loss" in p.name and p.suffix == ".hspy")
    core = next(p for p in paths if "core_loss" in p.name and p.suffix == ".hspy")
    return core, low, specimen.truth


def test_lowloss_gives_thickness_drift_and_single_scattering(demo_dual_eels, capsys):
    core, low, truth = demo_dual_eels
    dist = np.asarray(truth["maps"]["distance_from_surface_nm"])
    rows, cols = np.nonzero(dist > 5.0)
    y0, x0 = rows.min(), cols.min()
    # the largest bulk rectangle anchored at the bulk's corner (bulk is one side)
    y1, x1 = rows.max() + 1, cols.max() + 1
    assert np.all(dist[y0:y1, x0:x1] > 4.0)
    code, out, err = _run(["eels", str(core), "--elements", "O,Mn,Co,Ni", "--lowloss", str(low),
                           "--roi", f"{x0},{y0},{x1},{y1}", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    t_true = np.asarray(truth["maps"]["t_over_lambda"])[y0:y1, x0:x1].mean()
    assert result["thickness_t_over_lambda"] == pytest.approx(t_true, abs=0.03)
    shift = np.asarray(truth["maps"]["zlp_shift_eV"])
    lo, hi = result["energy_drift_eV"]
    assert lo == pytest.approx(shift.min(), abs=0.1) and hi == pytest.approx(shift.max(), abs=0.1)
    rows = {r["element"]: r for r in result["elements"]}
    assert rows["Mn"]["thickness_t_over_lambda"] == result["thickness_t_over_lambda"]
    # white lines of the plural-scattering-free spectrum: the generator's bulk L3/L2
    # (Mn4+ 2.0, Co3+ 2.4, Ni2+ 3.0); without the deconvolution the plasmon replicas of
    # the white lines land in the continuum window and Mn comes out ~12
    bulk = truth["summary"]["bulk"]
    for el in ("Mn", "Co", "Ni"):
        assert rows[el]["white_line_ratio"] == pytest.approx(bulk[f"mean_l3_l2_ratio_{el}"],
                                                             abs=0.25), el


def _roi_of(mask):
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


@pytest.mark.parametrize("region", ["surface_layer", "bulk"])
def test_demo_surface_layer_and_bulk_ratios_match_the_generator(demo_dual_eels, capsys, region):
    """Model fit with the low loss convolved in, on the demo dual-EELS SI (white lines, O K
    pre-peak and fine structure, plural scattering at t/λ 0.4–0.95, energy drift, Poisson
    noise): Mn/O, Co/Mn and Ni/Mn of the surface layer and of the bulk within 5 % of the
    generator's areal densities and within 3σ of the reported error. (Before the free
    regions started below the onsets and covered the O K multiple-scattering peak, and
    before plural scattering was convolved into the model instead of deconvolved from the
    data, Mn/O was −9 % and Ni/Mn, 57 eV from the end of the axis, came out negative.)"""
    from batteryscope.analysis.specimens.eels_layered_oxide_truth import (
        BULK_MIN_DISTANCE_NM, SURFACE_WINDOW_NM)

    core, low, truth = demo_dual_eels
    dist = np.asarray(truth["maps"]["distance_from_surface_nm"])
    mask = (dist > BULK_MIN_DISTANCE_NM if region == "bulk"
            else (dist >= SURFACE_WINDOW_NM[0]) & (dist <= SURFACE_WINDOW_NM[1]))
    x0, y0, x1, y1 = _roi_of(mask)
    density = {el: np.asarray(v)[y0:y1, x0:x1].sum()
               for el, v in truth["maps"]["areal_density_atoms_per_nm2"].items()}
    code, out, err = _run(["eels", str(core), "--elements", "O,Mn,Co,Ni", "--lowloss", str(low),
                           "--roi", f"{x0},{y0},{x1},{y1}", "--method", "model", "--json"],
                          capsys)
    assert code == 0, err
    result = json.loads(out)
    assert "convolved with the low loss" in result["background_model"]
    rows = {r["element"]: r for r in result["elements"]}
    assert not any(r["failed"] for r in rows.values())
    amount = {el: r["counts"] / r["sigma_barn"] for el, r in rows.items()}
    rel_err = {el: r["counts_err"] / r["counts"] for el, r in rows.items()}
    for a, b in (("Mn", "O"), ("Co", "Mn"), ("Ni", "Mn")):
        got, want = amount[a] / amount[b], density[a] / density[b]
        dev = got / want - 1
        assert abs(dev) < 0.05, (region, a, b, got, want)
        assert abs(dev) < 3 * np.hypot(rel_err[a], rel_err[b]) + 0.01, (region, a, b, dev)
    summary = truth["summary"][region]
    assert result["thickness_t_over_lambda"] == pytest.approx(summary["mean_t_over_lambda"],
                                                              abs=0.08)
    # reduced Mn (2.8+) and Co (2.3+) of the surface layer show in their white lines (bulk:
    # Mn4+ 2.0, Co3+ 2.4); Ni sits 57 eV from the end of the axis, where the Fourier-ratio
    # deconvolution the white lines are measured on is least reliable (3.8 ± 0.4 vs 3.0)
    maps = truth["maps"]
    for el in ("Mn", "Co"):
        # the ROI's L3/L2 is the ratio of its summed L3 and L2 areas
        ratio = np.asarray(maps["l3_l2_ratio"][el])[y0:y1, x0:x1]
        area = (np.asarray(maps["white_line_area_per_atom_barn_eV"][el])
                * np.asarray(maps["areal_density_atoms_per_nm2"][el]))[y0:y1, x0:x1]
        want = np.sum(area * ratio / (1 + ratio)) / np.sum(area / (1 + ratio))
        assert rows[el]["white_line_ratio"] == pytest.approx(want, abs=0.25), el


def test_demo_model_maps_with_plural_scattering_convolved_in(demo_dual_eels, tmp_path, capsys):
    """``--out`` with ``--method model --lowloss``: pixels grouped by t/λ, each group fitted
    with its mean low loss convolved into the model. Summed over the surface layer and over
    the bulk, the maps give the generator's ratios within 5 % (Ni/Mn 8 %: Ni is 57 eV from
    the end of the axis, and per pixel its edge has ~100 counts/channel). Fitted without the
    low loss the bulk Co/Mn was −38 % (t/λ 0.95)."""
    import hyperspy.api as hs

    from batteryscope.analysis.specimens.eels_layered_oxide_truth import (
        BULK_MIN_DISTANCE_NM, SURFACE_WINDOW_NM)

    core, low, truth = demo_dual_eels
    out_dir = tmp_path / "maps"
    code, out, err = _run(["eels", str(core), "--elements", "O,Mn,Co,Ni", "--lowloss", str(low),
                           "--method", "model", "--out", str(out_dir)], capsys)
    assert code == 0, err
    pct = {el: hs.load(str(out_dir / f"{el}_atomic_percent.hspy")).data
           for el in ("O", "Mn", "Co", "Ni")}
    failed = hs.load(str(out_dir / "Mn_background_failed.hspy")).data.astype(bool)
    dist = np.asarray(truth["maps"]["distance_from_surface_nm"])
    density = {el: np.asarray(v) for el, v in truth["maps"]["areal_density_atoms_per_nm2"].items()}
    for mask in (dist > BULK_MIN_DISTANCE_NM,
                 (dist >= SURFACE_WINDOW_NM[0]) & (dist <= SURFACE_WINDOW_NM[1])):
        assert failed[mask].mean() < 0.02
        ok = mask & ~failed
        for (a, b), tol in ((("Mn", "O"), 0.05), (("Co", "Mn"), 0.05), (("Ni", "Mn"), 0.08)):
            got = pct[a][ok].sum() / pct[b][ok].sum()
            want = density[a][ok].sum() / density[b][ok].sum()
            assert got == pytest.approx(want, rel=tol), (a, b)
