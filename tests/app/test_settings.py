"""Settings persist between runs, survive corruption, and are written atomically."""
import json
import os

from batteryscope.app.settings import MAX_RECENT_FILES, Settings


def test_recent_files_most_recent_first_unique_and_bounded(tmp_path, isolated_settings):
    files = []
    for i in range(MAX_RECENT_FILES + 3):
        f = tmp_path / f"f{i}.dm4"
        f.write_bytes(b"x")
        files.append(f)
    s = Settings()
    for f in files:
        s.add_recent_file(f)
    s.add_recent_file(files[2])  # re-opened: moves to the top, not duplicated
    s.save()
    again = Settings()
    recent = again.recent_files()
    assert recent[0] == str(files[2].resolve())
    assert len(recent) == MAX_RECENT_FILES and len(set(recent)) == len(recent)
    files[-1].unlink()
    assert str(files[-1].resolve()) not in Settings().recent_files()
    assert isolated_settings.is_file()


def test_corrupt_settings_file_is_set_aside_and_defaults_used(isolated_settings):
    isolated_settings.parent.mkdir(parents=True, exist_ok=True)
    isolated_settings.write_text('{"recent_files": ["/a", ', encoding="utf-8")
    s = Settings()
    assert s.recent_files() == [] and "unreadable" in s.problem
    assert isolated_settings.with_name("settings.json.corrupt").is_file()
    s.set("colormap", "inferno")
    s.save()
    assert json.loads(isolated_settings.read_text())["colormap"] == "inferno"


def test_bytes_round_trip_and_bad_values_ignored(isolated_settings):
    s = Settings()
    s.set_bytes("window_state", b"\x00\x01\xffQt")
    s.set("window_geometry", "not base64 !!")
    s.save()
    again = Settings()
    assert again.get_bytes("window_state") == b"\x00\x01\xffQt"
    assert again.get_bytes("window_geometry") is None


def test_unwritable_location_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    s = Settings(blocker / "batteryscope" / "settings.json")
    s.set("x", 1)
    s.save()
    assert "cannot save settings" in s.problem
    assert not any(p.name.startswith(".settings") for p in tmp_path.rglob("*"))
    assert os.path.isfile(blocker)
