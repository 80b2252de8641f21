"""The ``batteryscope`` command as a user runs it: info, errors, no display."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from batteryscope.app import cli
from batteryscope.app.gui_launch import NoDisplayError, check_display
from batteryscope.app.hyperspy_adapter import signal_from_array
from batteryscope.analysis.calibration import AxisCalibration


@pytest.fixture
def eels_si(tmp_path):
    axes = (AxisCalibration("y", "nm", 0.25, 0.0, 6, True), AxisCalibration("x", "nm", 0.25, 1.0, 7, True),
            AxisCalibration("Energy loss", "eV", 0.5, 400.0, 64, False))
    s = signal_from_array(np.ones((6, 7, 64), np.float32), axes, title="core-loss", signal_type="EELS",
                          acquisition={"beam_energy_keV": 300.0, "convergence_angle_mrad": 21.0,
                                       "collection_angle_mrad": 30.0, "dwell_time_s": 0.01,
                                       "instrument": "Test STEM", "date": "2026-11-27"})
    path = tmp_path / "si.hspy"
    s.save(str(path))
    return path


def test_info_json_reports_axes_and_metadata(eels_si, capsys):
    assert cli.main(["info", str(eels_si), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"file", "signal_type", "shape", "dtype", "axes", "metadata"}
    assert out["signal_type"] == "EELS spectrum image"
    assert out["shape"] == [6, 7, 64] and out["dtype"] == "float32"
    assert [a["name"] for a in out["axes"]] == ["y", "x", "Energy loss"]
    assert [a["navigate"] for a in out["axes"]] == [True, True, False]
    assert out["axes"][1] == {"name": "x", "units": "nm", "scale": 0.25, "offset": 1.0,
                              "size": 7, "navigate": True}
    md = out["metadata"]
    assert md["beam_energy_keV"] == 300.0 and md["convergence_angle_mrad"] == 21.0
    assert md["collection_angle_mrad"] == 30.0 and md["dwell_time_s"] == 0.01
    assert md["instrument"] == "Test STEM" and md["date"] == "2026-11-27"
    assert md["pixel_size"] == {"value": 0.25, "units": "nm"}


def test_info_text_is_readable(eels_si, capsys):
    assert cli.main(["info", str(eels_si)]) == 0
    text = capsys.readouterr().out
    assert "EELS spectrum image" in text and "Energy loss" in text and "300" in text


@pytest.mark.parametrize("content,name,needle", [
    (b"", "empty.dm3", "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "fake.dm4", "PNG"),
    (b"hello world\n" * 10, "notes.ser", "text"),
    (b"whatever", "data.xyz", "unsupported file type"),
])
def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys, content, name, needle):
    path = tmp_path / name
    path.write_bytes(content)
    assert cli.main(["info", str(path)]) == cli.EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and needle in lines[0]


def test_missing_file(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "nope.dm3")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_real_process_bad_file_no_traceback(tmp_path):
    bad = tmp_path / "truncated.hspy"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    run = subprocess.run([sys.executable, "-m", "batteryscope.app", "info", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "truncated.hspy" in run.stderr
    debug = subprocess.run([sys.executable, "-m", "batteryscope.app", "info", str(bad), "--debug"],
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_no_display_is_one_line_not_a_qt_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    run = subprocess.run([sys.executable, "-m", "batteryscope.app"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1 and "no display" in run.stderr and "batteryscope info" in run.stderr


def test_check_display_variants(tmp_path):
    check_display({"QT_QPA_PLATFORM": "offscreen"})  # fine
    with pytest.raises(NoDisplayError, match="DISPLAY is not set"):
        check_display({})
    with pytest.raises(NoDisplayError, match="cannot connect"):
        check_display({"DISPLAY": ":987"})


@pytest.mark.parametrize("panel", [None, "fft"])
def test_screenshot_renders_the_window_with_a_file(tmp_path, eels_si, panel):
    import imageio.v3 as iio

    out = tmp_path / "shot.png"
    command = [sys.executable, "-m", "batteryscope.app", "--screenshot", str(out), str(eels_si)]
    if panel:
        command += ["--panel", panel]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert done.returncode == 0, done.stderr
    image = iio.imread(out)
    assert image.shape[0] > 400 and image.shape[1] > 600
    assert image[..., :3].std() > 10  # a rendered window, not a blank canvas


def test_screenshot_with_a_bad_file_exits_2_and_still_writes(tmp_path):
    bad = tmp_path / "bad.dm4"
    bad.write_bytes(b"not a dm4 file at all")
    out = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, "-m", "batteryscope.app", "--screenshot", str(out), str(bad)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert done.returncode == 2 and "bad.dm4" in done.stderr
    assert out.is_file()
