"""The zspy recording: HyperSpy opens it while written, after finish, and after a crash."""
import numpy as np
import pytest

from batteryscope.app.acquisition.zspy_store import Axis, DatasetSpec, ZspyRecording, recover
from batteryscope.app.errors import FileSaveError
from batteryscope.app.hyperspy_adapter import import_hyperspy


def _recording(path, capacity=6, chunk=4):
    spec = DatasetSpec("frame", (5, 7), np.uint16,
                       [Axis("time", "s", 0.01, 0.0, navigate=True), Axis("y", "nm", 0.2), Axis("x", "nm", 0.2)],
                       title="movie", metadata={"Acquisition": {"note": "test"}})
    return ZspyRecording(path, [spec], per_frame={"index": np.int64, "timestamp_s": np.float64},
                         capacity=capacity, chunk_frames=chunk, meta_flush_s=0.0,
                         metadata={"Acquisition_instrument": {"TEM": {"beam_energy": 300.0}}})


def _frames(n):
    return np.random.default_rng(1).integers(0, 65535, (n, 5, 7), dtype=np.uint16)


def _meta(a, b):
    return {"index": np.arange(a, b), "timestamp_s": np.arange(a, b) * 0.5}


def test_progressive_write_opens_while_written_and_after_finish(tmp_path):
    hs = import_hyperspy()
    path = tmp_path / "m.zspy"
    rec, data = _recording(path), _frames(11)
    rec.write_chunk(0, [data[0:4]], _meta(0, 4))
    rec.write_chunk(1, [data[4:6]], _meta(4, 6))          # partial chunk, flushed early
    s = hs.load(path)                                        # the viewer, while recording
    flags = s.metadata.Acquisition.Frames.recorded
    assert flags[:6].all() and not flags[6:].any()
    np.testing.assert_array_equal(s.data[:6], data[:6])
    rec.write_chunk(1, [data[4:8]], _meta(4, 8))          # the same chunk, now whole
    rec.write_chunk(2, [data[8:11]], _meta(8, 11))        # beyond the capacity: grows
    rec.finish("complete")
    s = hs.load(path)
    np.testing.assert_array_equal(s.data, data)
    t, y, x = s.axes_manager[0], s.axes_manager["y"], s.axes_manager["x"]
    assert (t.name, t.units, t.scale, t.size, t.navigate) == ("time", "s", 0.01, 11, True)
    assert (y.units, y.scale, x.size) == ("nm", 0.2, 7)
    frames = s.metadata.Acquisition.Frames
    np.testing.assert_array_equal(frames.index, np.arange(11))
    np.testing.assert_allclose(frames.timestamp_s, np.arange(11) * 0.5)
    assert s.metadata.Acquisition.frames_recorded == 11 and s.metadata.Acquisition.status == "complete"
    assert s.metadata.Acquisition.note == "test"
    assert s.metadata.Acquisition_instrument.TEM.beam_energy == 300.0
    assert s.metadata.General.title == "movie"


def test_recover_trims_an_unfinished_recording_to_its_recorded_frames(tmp_path):
    hs = import_hyperspy()
    path = tmp_path / "m.zspy"
    rec, data = _recording(path, capacity=16), _frames(7)
    rec.write_chunk(0, [data[0:4]], _meta(0, 4))
    rec.write_chunk(1, [data[4:7]], _meta(4, 7))
    del rec                                                  # as if the writer were killed
    assert hs.load(path).data.shape[0] == 16                 # preallocated, zeros after frame 7
    assert recover(path) == 7
    s = hs.load(path)
    np.testing.assert_array_equal(s.data, data)
    assert s.axes_manager[0].size == 7 and len(s.metadata.Acquisition.Frames.index) == 7


def test_an_existing_path_or_missing_folder_is_refused(tmp_path):
    (tmp_path / "x.zspy").mkdir()
    with pytest.raises(FileSaveError, match="already exists"):
        _recording(tmp_path / "x.zspy")
    with pytest.raises(FileSaveError, match="does not exist"):
        _recording(tmp_path / "nope" / "x.zspy")


def test_a_write_error_leaves_no_partial_chunk_file(tmp_path, monkeypatch):
    path = tmp_path / "m.zspy"
    rec, data = _recording(path), _frames(4)
    real_open = open

    def failing_open(file, mode="r", *a, **k):
        fh = real_open(file, mode, *a, **k)
        if "w" in mode and str(file).endswith(".partial"):
            fh.close()
            raise OSError(28, "No space left on device")
        return fh

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(OSError, match="No space"):
        rec.write_chunk(0, [data], _meta(0, 4))
    monkeypatch.undo()
    assert not list(path.rglob("*.partial"))
    assert not [p for p in (path / "Experiments" / "frame" / "data").rglob("*")
                if p.is_file() and p.name != ".zarray"]
