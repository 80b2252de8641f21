"""Valence from white lines: calibrate on standards, then measure the demo's surface layer.

The standards are single spectra of MnO, Mn2O3 and MnO2 (and CoO, LiCoO2) built here
with the same physics as the demo SI (white lines on a shifted hydrogenic continuum, O K
fine structure, plural scattering at t/λ 0.5, Poisson noise) but none of its geometry: a lab
measuring its standards on the instrument it measures the unknowns on.
"""
import json

import numpy as np
import pytest

from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.eels_edge_references import (WHITE_LINE_AREA_PER_HOLE,
                                                                  WHITE_LINE_REFERENCES)
from batteryscope.analysis.specimens.eels_low_loss import (low_loss_single_scattering,
                                                           low_loss_spectrum)
from batteryscope.analysis.specimens.eels_spectra import (continuum_integral,
                                                          convolve_with_low_loss,
                                                          o_k_fine_structure, shift_spectra,
                                                          white_lines)
from batteryscope.app import cli
from batteryscope.app.eels_cross_sections import hydrogenic_cross_sections
from batteryscope.app.hyperspy_adapter import signal_from_array

ACQ = DualEELSAcquisition()
STANDARDS = {"Mn": [("MnO", 2, 1.0), ("Mn2O3", 3, 1.5), ("MnO2", 4, 2.0)],
             "Co": [("CoO", 2, 1.0), ("LiCoO2", 3, 2.0)]}


def _standard(element, valence, o_per_tm, rng, tau=0.5):
    core_axis, low_axis = ACQ.core_loss_axis(), ACQ.low_loss_axis()
    e = core_axis.values()
    edge = f"{element}_L3"
    xs = hydrogenic_cross_sections(["O_K", edge], e, **ACQ.microscope_parameters())
    ref = WHITE_LINE_REFERENCES[element]
    c50_tm = continuum_integral(xs[edge], e, onset_eV=ref.onset_eV)
    c50_o = continuum_integral(xs["O_K"], e, onset_eV=532.0)
    shift = float(ref.chemical_shift(valence))
    l3 = float(ref.l3_peak_eV(valence))
    tm = (shift_spectra(xs[edge], shift / ACQ.dispersion_eV) * ACQ.dispersion_eV
          + white_lines(e, l3_eV=l3, l2_eV=l3 + ref.spin_orbit_eV,
                        area=WHITE_LINE_AREA_PER_HOLE * float(ref.d_holes(valence)) * c50_tm,
                        l3_l2_ratio=float(ref.l3_l2_ratio(valence)), l3_fwhm_eV=ref.l3_fwhm_eV,
                        l2_fwhm_eV=ref.l2_fwhm_eV, lorentz_fraction=ref.lorentz_fraction))
    oxygen = o_per_tm * (xs["O_K"] * ACQ.dispersion_eV
                         + o_k_fine_structure(e, continuum_area=c50_o, pre_peak_strength=0.7))
    ssd = 4e5 * (tm + oxygen)
    loss = ACQ.dispersion_eV * np.arange(ACQ.n_channels)
    low = low_loss_spectrum(low_axis.values(), low_loss_single_scattering(loss),
                            t_over_lambda=tau)
    zero = int(round(-low_axis.offset / low_axis.scale))
    core = convolve_with_low_loss(ssd, low, zero_loss_index=zero)
    core = core + 3e6 * (e / 520.0) ** -3.0
    return rng.poisson(core).astype(np.float32), rng.poisson(1e8 * low).astype(np.float32)


def _write(tmp_path, name, core, low):
    scope = {"beam_energy_keV": ACQ.beam_energy_keV, "convergence_angle_mrad": ACQ.convergence_mrad,
             "collection_angle_mrad": ACQ.collection_mrad}
    paths = []
    for suffix, data, axis in (("core", core, ACQ.core_loss_axis()),
                               ("low", low, ACQ.low_loss_axis())):
        s = signal_from_array(data, (axis,), title=f"{name} {suffix}", signal_type="EELS",
                              acquisition=scope)
        path = tmp_path / f"{name}_{suffix}.hspy"
        s.save(str(path))
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standards")
    rng = np.random.default_rng(11)
    out = folder / "valence.json"
    for element, standards in STANDARDS.items():
        argv = ["eels-calibrate", "--element", element, "--citation",
                "synthetic oxide standards (test)", "--out", str(out)]
        for name, valence, o_per_tm in standards:
            core, low = _standard(element, valence, o_per_tm, rng)
            core_path, low_path = _write(folder, name, core, low)
            argv += ["--standard", core_path, str(valence), low_path]
        assert cli.main(argv) == 0
    return out


def test_calibration_file_holds_monotonic_points_with_errors(calibration):
    cal = json.loads(calibration.read_text())
    assert set(cal) == {"Mn", "Co"}
    mn = cal["Mn"]
    assert mn["valences"] == [2.0, 3.0, 4.0]
    assert mn["ratios"][0] > mn["ratios"][1] > mn["ratios"][2]       # d5 maximum at Mn2+
    assert all(0 < s < 0.1 for s in mn["ratio_stds"])
    assert mn["windows_eV"]["l3_window"] and "Pearson" in mn["method"]
    # the generator's ratios (3.6, 2.5, 2.0) come back within ~0.2 (plural scattering removed)
    np.testing.assert_allclose(mn["ratios"], [3.6, 2.5, 2.0], atol=0.25)


def test_demo_surface_layer_is_reduced_and_bulk_is_mn4(calibration, tmp_path, capsys):
    from batteryscope.analysis.specimens.eels_layered_oxide_truth import (
        BULK_MIN_DISTANCE_NM, SURFACE_WINDOW_NM)
    from batteryscope.app.demo_files import write_specimen
    from batteryscope.app.demo_specimens import layered_oxide_eels

    specimen = layered_oxide_eels(seed=3)
    paths = write_specimen(specimen, tmp_path)
    low = next(p for p in paths if "low_loss" in p.name and p.suffix == ".hspy")
    core = next(p for p in paths if "core_loss" in p.name and p.suffix == ".hspy")
    truth = specimen.truth
    dist = np.asarray(truth["maps"]["distance_from_surface_nm"])
    for mask in ((dist >= SURFACE_WINDOW_NM[0]) & (dist <= SURFACE_WINDOW_NM[1]),
                 dist > BULK_MIN_DISTANCE_NM):
        rows, cols = np.nonzero(mask)
        y0, x0, y1, x1 = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
        code = cli.main(["eels", str(core), "--elements", "O,Mn,Co,Ni", "--lowloss", str(low),
                         "--roi", f"{x0},{y0},{x1},{y1}", "--cross-sections", "hydrogenic",
                         "--valence-calibration", str(calibration), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        rows_ = {r["element"]: r for r in json.loads(out)["elements"]}
        valence = np.asarray(truth["maps"]["valence"]["Mn"])[y0:y1, x0:x1]
        density = np.asarray(truth["maps"]["areal_density_atoms_per_nm2"]["Mn"])[y0:y1, x0:x1]
        want = float(np.sum(valence * density) / np.sum(density))
        mn = rows_["Mn"]
        assert mn["valence"] == pytest.approx(want, abs=max(0.25, 3 * mn["valence_err"]))
        assert mn["valence_citation"] == "synthetic oxide standards (test)"
        assert "valence" not in rows_["Ni"]          # not calibrated: no number made up
    # text output names the valence too
    cli.main(["eels", str(core), "--elements", "Mn", "--valence-calibration", str(calibration),
              "--cross-sections", "hydrogenic"])
    assert "Mn valence" in capsys.readouterr().out


def test_out_of_range_and_mismatched_windows_are_reported_not_extrapolated(calibration, tmp_path):
    from batteryscope.app.eels_valence import load_calibrations, valence_fields

    cal, windows = load_calibrations(calibration)["Mn"]
    row = {"white_line_ratio": 5.0, "white_line_ratio_err": 0.1,
           "white_line_windows_eV": windows}
    fields = valence_fields(row, cal, windows)
    assert fields["valence"] is None and "outside the calibrated range" in fields["valence_note"]
    other = {k: [v[0] + 1, v[1] + 1] for k, v in windows.items()}
    fields = valence_fields({**row, "white_line_ratio": 2.7, "white_line_windows_eV": other},
                            cal, windows)
    assert fields["valence"] is None and "differ" in fields["valence_note"]


@pytest.mark.parametrize("content, words", [
    ("not json", "not valid JSON"),
    ('{"Mn": {"valences": [2, 3], "ratios": [2.0, 3.0]}}', "missing field"),
    ('{"Mn": {"valences": [2, 3, 4], "ratios": [3, 2, 2.5], "method": "m", "citation": "c"}}',
     "monotonic"),
])
def test_bad_calibration_files_fail_with_one_line(tmp_path, capsys, content, words):
    path = tmp_path / "cal.json"
    path.write_text(content)
    spectrum = tmp_path / "s.hspy"
    core, _ = _standard("Mn", 3, 1.5, np.random.default_rng(0))
    signal_from_array(core, (ACQ.core_loss_axis(),), title="s", signal_type="EELS",
                      acquisition={"beam_energy_keV": 300.0, "convergence_angle_mrad": 20.0,
                                   "collection_angle_mrad": 30.0}).save(str(spectrum))
    code = cli.main(["eels", str(spectrum), "--elements", "Mn", "--valence-calibration",
                     str(path)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_calibrate_refuses_one_standard_and_existing_element(calibration, tmp_path, capsys):
    core, low = _standard("Mn", 2, 1.0, np.random.default_rng(1))
    core_path, low_path = _write(tmp_path, "MnO", core, low)
    code = cli.main(["eels-calibrate", "--element", "Mn", "--citation", "x", "--out",
                     str(tmp_path / "c.json"), "--standard", core_path, "2", low_path])
    assert code == 2 and "at least two" in capsys.readouterr().err
    code = cli.main(["eels-calibrate", "--element", "Mn", "--citation", "x", "--out",
                     str(calibration), "--standard", core_path, "2", low_path,
                     "--standard", core_path, "3", low_path])
    assert code == 2 and "--replace" in capsys.readouterr().err


def test_valence_maps_from_surface_to_bulk(calibration, tmp_path, capsys):
    """``--out`` with a calibration: per-pixel L3/L2 on each pixel's Fourier-ratio single
    scattering, and Mn valence maps; the median over the surface layer and over the bulk
    follows the generator's valence (2.8+ at the surface, 4+ inside)."""
    import hyperspy.api as hs

    from batteryscope.analysis.specimens.eels_layered_oxide_truth import (
        BULK_MIN_DISTANCE_NM, SURFACE_WINDOW_NM)
    from batteryscope.app.demo_files import write_specimen
    from batteryscope.app.demo_specimens import layered_oxide_eels

    specimen = layered_oxide_eels(seed=5)
    (tmp_path / "demo").mkdir()
    paths = write_specimen(specimen, tmp_path / "demo")
    low = next(p for p in paths if "low_loss" in p.name and p.suffix == ".hspy")
    core = next(p for p in paths if "core_loss" in p.name and p.suffix == ".hspy")
    out_dir = tmp_path / "maps"
    code = cli.main(["eels", str(core), "--elements", "O,Mn,Co,Ni", "--lowloss", str(low),
                     "--cross-sections", "hydrogenic", "--valence-calibration", str(calibration),
                     "--out", str(out_dir)])
    capsys.readouterr()
    assert code == 0
    valence = hs.load(str(out_dir / "Mn_valence.hspy")).data
    valence_err = hs.load(str(out_dir / "Mn_valence_err.hspy")).data
    ratio = hs.load(str(out_dir / "Mn_white_line_ratio.hspy")).data
    assert not (out_dir / "Ni_valence.hspy").exists()      # Ni was not calibrated
    truth = specimen.truth["maps"]
    dist = np.asarray(truth["distance_from_surface_nm"])
    true_valence = np.asarray(truth["valence"]["Mn"])
    true_ratio = np.asarray(truth["l3_l2_ratio"]["Mn"])
    vacuum = dist < -1.0
    assert np.isnan(ratio[vacuum]).mean() > 0.9              # no edge: NaN, not a number
    for mask in ((dist >= SURFACE_WINDOW_NM[0]) & (dist <= SURFACE_WINDOW_NM[1]),
                 dist > BULK_MIN_DISTANCE_NM):
        ok = mask & np.isfinite(valence)
        # bulk Mn4+ sits at the calibration's end: pixels more than 2σ past it are NaN
        # (about 15 % at t/λ 0.93, where the deconvolved per-pixel errors are ~1.7x small)
        assert ok.sum() > 0.8 * mask.sum()
        assert np.median(valence[ok]) == pytest.approx(np.median(true_valence[ok]), abs=0.2)
        assert np.median(ratio[ok]) == pytest.approx(np.median(true_ratio[ok]), abs=0.25)
        pulls = (valence[ok] - true_valence[ok]) / valence_err[ok]
        assert 0.5 < np.std(pulls) < 2.0                     # per-pixel errors mean something
