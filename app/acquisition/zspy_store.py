"""A zspy store (HyperSpy's zarr layout, read by ``hyperspy.api.load``) written frame by frame.

Layout: ``Experiments/<name>/{data, axis-i, metadata, original_metadata, attributes,
learning_results}`` as rosettasciio's zspy reader expects; ``data`` is an uncompressed
zarr v2 array chunked along the first (frame / scan-row) axis. Per-frame values
(timestamps, dose, bias, stage …) are 1-D arrays in ``metadata/Acquisition/Frames`` of
the first experiment, with ``recorded`` (1 for every frame on disk).

Crash safety (kill -9, power cut aside): every file is written under a temporary name and
renamed into place, so each file on disk is either complete or absent. The arrays are
preallocated (unwritten chunks read as zeros, and take no disk space), so a frame's data
chunk is renamed into place *before* its ``recorded`` flag: a reader that sees
``recorded == 1`` sees the whole frame, whenever the writer was killed. The array shapes
and axis sizes change only when the capacity grows (doubling) and when the recording is
finished (trimmed to the frames recorded); :func:`recover` trims a killed recording.
"""
from __future__ import annotations

import datetime
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import FileSaveError

META_CHUNK = 1024
BALLAST = ".space-reserved-for-finishing"
BALLAST_BYTES = 1 << 20
FRAMES_GROUP = "metadata/Acquisition/Frames"


@dataclass(frozen=True)
class Axis:
    """One axis of a recorded dataset (HyperSpy UniformDataAxis)."""

    name: str
    units: str = ""
    scale: float = 1.0
    offset: float = 0.0
    navigate: bool = False

    def attrs(self, size: int) -> dict:
        return {"_type": "UniformDataAxis", "is_binned": False, "name": self.name or "_None_",
                "navigate": bool(self.navigate), "offset": float(self.offset),
                "scale": float(self.scale), "size": int(size), "units": self.units or "_None_"}


@dataclass(frozen=True)
class DatasetSpec:
    """One HyperSpy signal of the recording: ``item_shape`` is one frame (or scan row)."""

    name: str
    item_shape: tuple[int, ...]
    dtype: Any
    axes: Sequence[Axis]          # first the frame (row) axis, then one per item axis
    signal_type: str = ""
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)   # extra nested metadata

    def __post_init__(self):
        if len(self.axes) != 1 + len(self.item_shape):
            raise ValueError(f"{self.name}: {len(self.axes)} axes for {1 + len(self.item_shape)} dimensions")


def _set_nested(group, tree: Mapping[str, Any]) -> None:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            _set_nested(group.require_group(key), value)
        else:
            group.attrs[key] = value


class ZspyRecording:
    """Create ``path`` (a .zspy directory) and write frames into it as they come.

    Parameters
    ----------
    path : path-like
        The new store; an existing path is refused.
    datasets : sequence of DatasetSpec
        The signals, all sharing the first axis (frames or scan rows).
    per_frame : mapping of str to dtype
        Per-frame values stored beside the first dataset.
    capacity : int
        Frames preallocated (grown by doubling when exceeded).
    chunk_frames : int
        Frames per data chunk (one file per chunk).
    fsync : bool
        Also fsync each chunk (survives a power cut, not only a killed process).
    meta_flush_s : float
        Longest time between writes of the per-frame values and flags (each write
        rewrites a few small files, so they are batched over data chunks).
    """

    def __init__(self, path, datasets: Sequence[DatasetSpec], *, per_frame: Mapping[str, Any],
                 capacity: int, chunk_frames: int, metadata: Mapping[str, Any] | None = None,
                 fsync: bool = False, meta_flush_s: float = 0.25):
        import zarr

        self.path = Path(path)
        if self.path.exists():
            raise FileSaveError(self.path, "already exists (choose another name)")
        if not self.path.parent.is_dir():
            raise FileSaveError(self.path, f"folder {self.path.parent} does not exist")
        self.datasets = list(datasets)
        self.chunk_frames = int(chunk_frames)
        self.capacity = max(int(capacity), self.chunk_frames)
        self.fsync = fsync
        self.meta_flush_s = float(meta_flush_s)
        self.frames_written = 0       # frames flagged recorded on disk
        self._pad = b""
        try:
            self._store = zarr.DirectoryStore(str(self.path))
            root = zarr.group(store=self._store, overwrite=False)
            root.attrs.update({"file_format": "ZSpy", "file_format_version": "3.3"})
            exps = root.create_group("Experiments")
            self._data, self._axis_groups = [], []
            for spec in self.datasets:
                self._create_dataset(exps, spec, metadata or {})
            first = exps[self.datasets[0].name]
            frames = first.require_group(FRAMES_GROUP)
            # per-frame chunks hold whole data chunks; written from memory, never read back
            self.meta_chunk = self.chunk_frames * max(1, META_CHUNK // self.chunk_frames)
            fields = {**{n: np.dtype(d).newbyteorder("<") for n, d in dict(per_frame).items()},
                      "recorded": np.dtype(np.uint8)}
            self._frame_arrays = {
                name: frames.create(name, shape=(self.capacity,), chunks=(self.meta_chunk,),
                                   dtype=dtype, compressor=None,
                                   fill_value=np.nan if dtype.kind == "f" else 0)
                for name, dtype in fields.items()}
            self._frames_dir = self.path / "Experiments" / self.datasets[0].name / FRAMES_GROUP
            self._meta_buffers: dict[str, np.ndarray] = {}
            self._meta_buffer_index = -1
            self._staged_end = 0
            self._last_meta_flush = time.monotonic()
            # space kept for flagging the last frames and finishing when the disk fills up
            self._write_file(self.path / BALLAST, [bytes(BALLAST_BYTES)])
        except OSError as exc:
            raise FileSaveError(self.path, exc.strerror or str(exc)) from exc

    def _create_dataset(self, exps, spec: DatasetSpec, metadata: Mapping[str, Any]) -> None:
        g = exps.create_group(spec.name)
        g.attrs.update({"package": "hyperspy", "package_version": "2.5.0"})
        g.create_group("attributes").attrs.update({"_lazy": False, "ragged": False})
        g.create_group("learning_results")
        g.create_group("original_metadata")
        now = datetime.datetime.now()
        tree = {"General": {"title": spec.title or spec.name, "date": now.date().isoformat(),
                            "time": now.time().isoformat(timespec="seconds")},
                "Signal": {"signal_type": spec.signal_type},
                "_HyperSpy": {"Folding": {"original_axes_manager": "_None_",
                                          "original_shape": "_None_",
                                          "signal_unfolded": False, "unfolded": False}}}
        _set_nested(g.create_group("metadata"), tree)
        _set_nested(g["metadata"], metadata)
        _set_nested(g["metadata"], spec.metadata)
        self._data.append(g.create("data", shape=(self.capacity,) + tuple(spec.item_shape),
                                  chunks=(self.chunk_frames,) + tuple(spec.item_shape),
                                  dtype=np.dtype(spec.dtype).newbyteorder("<"), compressor=None,
                                  fill_value=0, dimension_separator="/"))
        axis_groups = []
        for i, axis in enumerate(spec.axes):
            ag = g.create_group(f"axis-{i}")
            ag.attrs.update(axis.attrs(self.capacity if i == 0 else spec.item_shape[i - 1]))
            axis_groups.append((ag, axis))
        self._axis_groups.append(axis_groups)

    # ------------------------------------------------------------------ writing
    def _chunk_path(self, k: int, chunk_index: int) -> Path:
        spec = self.datasets[k]
        return (self.path / "Experiments" / spec.name / "data" / str(chunk_index)
                / Path(*(["0"] * len(spec.item_shape))))

    def _write_file(self, path: Path, parts) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            with open(tmp, "wb") as fh:
                for part in parts:
                    fh.write(part)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write_chunk(self, chunk_index: int, arrays: Sequence[np.ndarray],
                    per_frame: Mapping[str, np.ndarray]) -> None:
        """Write frames ``chunk_index * chunk_frames …`` (up to a whole chunk).

        ``arrays`` holds, per dataset, a C-contiguous block of shape (n, *item_shape);
        a chunk written partly is rewritten whole later. The frames' per-frame values and
        ``recorded`` flags follow at most ``meta_flush_s`` later (:meth:`flush_frames`):
        only flagged frames count as recorded. Raises OSError (disk full …).
        """
        start = chunk_index * self.chunk_frames
        n = len(arrays[0])
        if not 0 < n <= self.chunk_frames:
            raise ValueError(f"a chunk holds 1 … {self.chunk_frames} frames, got {n}")
        while start + n > self.capacity:
            self._grow()
        for k, block in enumerate(arrays):
            block = np.ascontiguousarray(block)
            parts = [memoryview(block).cast("B")]
            missing = self.chunk_frames - n
            if missing:
                pad = missing * block[0].nbytes
                if len(self._pad) < pad:
                    self._pad = bytes(pad)
                parts.append(memoryview(self._pad)[:pad])
            self._write_file(self._chunk_path(k, chunk_index), parts)
        self._stage_per_frame(start, n, per_frame)
        if time.monotonic() - self._last_meta_flush >= self.meta_flush_s:
            self.flush_frames()

    def _stage_per_frame(self, start: int, n: int, per_frame: Mapping[str, np.ndarray]) -> None:
        index = start // self.meta_chunk
        if index != self._meta_buffer_index:
            self.flush_frames()                  # the previous per-frame chunk is complete
            self._meta_buffers = {
                name: np.full(self.meta_chunk, arr.fill_value, dtype=arr.dtype)
                for name, arr in self._frame_arrays.items()}
            self._meta_buffer_index = index
        offset = start - index * self.meta_chunk
        for name, buf in self._meta_buffers.items():
            buf[offset:offset + n] = 1 if name == "recorded" else per_frame[name][:n]
        self._staged_end = max(self._staged_end, start + n)

    def flush_frames(self) -> None:
        """Write the staged per-frame values, then their ``recorded`` flags (last).

        On a full disk the ballast file is given up first, so that the frames whose data
        is on disk can still be flagged.
        """
        try:
            self._flush_frames()
        except OSError:
            if not self.release_ballast():
                raise
            self._flush_frames()

    def release_ballast(self) -> bool:
        """Delete the space reserved for the last per-frame writes; False if already gone."""
        ballast = self.path / BALLAST
        if not ballast.exists():
            return False
        ballast.unlink()
        return True

    def _flush_frames(self) -> None:
        self._last_meta_flush = time.monotonic()
        if self._staged_end <= self.frames_written or self._meta_buffer_index < 0:
            return
        index = self._meta_buffer_index
        for name, buf in self._meta_buffers.items():
            if name != "recorded":
                self._write_file(self._frames_dir / name / str(index), [memoryview(buf).cast("B")])
        flags = self._meta_buffers["recorded"]
        self._write_file(self._frames_dir / "recorded" / str(index), [memoryview(flags).cast("B")])
        self.frames_written = self._staged_end

    def _set_frames(self, size: int) -> None:
        """Resize every frame-axis array and the axis-0 sizes to ``size`` frames."""
        for data in self._data:
            data.resize((size,) + data.shape[1:])
        for arr in self._frame_arrays.values():
            arr.resize((size,))
        for groups in self._axis_groups:
            ag, axis = groups[0]
            ag.attrs["size"] = int(size)

    def _grow(self) -> None:
        self.capacity *= 2
        self._set_frames(self.capacity)

    def finish(self, status: str, extra: Mapping[str, Any] | None = None) -> None:
        """Trim to the frames written and note how the recording ended (complete / error …)."""
        try:
            self.flush_frames()
        except OSError:
            pass                    # keep what is flagged; the trim below may still work
        try:
            self.release_ballast()
        except OSError:
            pass
        n = self.frames_written
        try:
            self._set_frames(max(n, 1))   # HyperSpy cannot open a 0-frame axis
            for k, spec in enumerate(self.datasets):
                acq = self._store_group(spec.name).require_group("metadata/Acquisition")
                acq.attrs.update({"frames_recorded": int(n), "status": status, **(extra or {})})
        except OSError as exc:
            raise FileSaveError(self.path, exc.strerror or str(exc)) from exc

    def add_arrays(self, group: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store whole arrays (e.g. the bias curve) under ``metadata/<group>`` of the first dataset."""
        g = self._store_group(self.datasets[0].name).require_group(f"metadata/{group}")
        for name, values in arrays.items():
            values = np.asarray(values)
            g.create(name, shape=values.shape, dtype=values.dtype, compressor=None,
                     overwrite=True)[...] = values

    def _store_group(self, name: str):
        import zarr

        return zarr.open_group(store=self._store, mode="r+", path=f"Experiments/{name}")


def recover(path) -> int:
    """Trim a recording that was killed to its recorded frames; return how many there are.

    Frames are kept up to the first one not flagged ``recorded``.
    """
    import zarr

    root = zarr.open_group(str(path), mode="r+")
    exps = root["Experiments"]
    names = list(exps.group_keys())
    first = exps[names[0]]
    flags = first[FRAMES_GROUP]["recorded"][:]
    missing = np.flatnonzero(flags == 0)
    n = int(missing[0]) if missing.size else int(flags.size)
    for name in names:
        g = exps[name]
        g["data"].resize((n,) + g["data"].shape[1:])
        g["axis-0"].attrs["size"] = n
        g.require_group("metadata/Acquisition").attrs.update(
            {"frames_recorded": n, "status": "recovered after the recording was interrupted"})
    for arr in first[FRAMES_GROUP].arrays():
        arr[1].resize((n,))
    (Path(path) / BALLAST).unlink(missing_ok=True)
    return n
