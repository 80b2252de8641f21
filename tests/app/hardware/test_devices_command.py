"""``batteryscope devices``: human and JSON listing of the installed drivers."""
import json
import subprocess
import sys

from batteryscope.app.cli import main


def test_devices_lists_the_built_in_drivers(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in ("simulated", "keithley2450", "merlin"):
        assert name in out
    assert "(default)" in out.splitlines()[0]
    assert "option resource:" in out


def test_devices_json(capsys):
    assert main(["devices", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["simulated"]["ok"] and listed["simulated"]["error"] is None
    assert "seed" in listed["simulated"]["options"]
    assert listed["merlin"]["target"] == "batteryscope.app.hardware.merlin:MerlinDriver"


def test_devices_as_a_separate_process():
    run = subprocess.run([sys.executable, "-m", "batteryscope.app", "devices", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert {"simulated", "keithley2450", "merlin"} <= {d["name"] for d in json.loads(run.stdout)}
