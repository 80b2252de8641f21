"""``batteryscope smoke-test``: the same end-to-end check the frozen build runs, here on
the dev install in a subprocess (offscreen), plus the rule that one failed step fails it."""
import json
import os
import subprocess
import sys

import pytest

from batteryscope.app import smoke_test


@pytest.mark.slow
def test_smoke_test_passes_on_the_installed_package(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CACHE_HOME=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-m", "batteryscope.app", "smoke-test",
                          "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary == json.loads((tmp_path / "out" / "smoke-test.json").read_text())
    steps = summary["steps"]
    assert list(steps) == [name for name, _ in smoke_test.STEPS]
    assert all(s["status"] in ("passed", "skipped") for s in steps.values())
    assert steps["launch"]["launch_to_window_s"] > 0
    assert steps["eels_quantification"]["atomic_percent"]["O"] > 50
    assert len(steps["open_documents"]["documents"]) == len(steps["demo_files"]["files"])
    assert (tmp_path / "out" / "screenshot.png").stat().st_size > 1000
    # the user's settings were not touched: the run kept its own config folder
    assert (tmp_path / "out" / "config").is_dir()


def test_one_failed_step_fails_the_run_and_stops_it(tmp_path, monkeypatch, capsys):
    ran = []

    def ok(state):
        ran.append("ok")
        return {"value": 1}

    def broken(state):
        ran.append("broken")
        raise smoke_test.StepFailed("wrong answer")

    def never(state):
        ran.append("never")
        return {}

    monkeypatch.setattr(smoke_test, "STEPS", [("ok", ok), ("broken", broken), ("never", never)])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "keep"))
    args = smoke_test.build_parser().parse_args(["--out", str(tmp_path)])
    assert smoke_test.run(args) == 1
    assert ran == ["ok", "broken"]
    summary = json.loads(capsys.readouterr().out)
    assert summary["passed"] is False
    assert summary["steps"]["broken"]["status"] == "failed"
    assert "wrong answer" in summary["steps"]["broken"]["error"]


def test_skipped_step_still_passes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(smoke_test, "STEPS", [("a", lambda s: {}), ("b", lambda s: {"skipped": "absent"})])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "keep"))
    assert smoke_test.run(smoke_test.build_parser().parse_args(["--out", str(tmp_path)])) == 0
    assert json.loads(capsys.readouterr().out)["steps"]["b"]["status"] == "skipped"


def test_process_start_time_is_measured():
    seconds, source = smoke_test.seconds_since_process_start()
    assert seconds > 0
    if sys.platform.startswith("linux"):
        assert source == "process start"
