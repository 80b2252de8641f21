"""Acquisition ingest: 1024 × 1024 uint16 frames through the ring buffer and the recorder.

Measured side by side in one run, each a median of ``REPEATS`` short runs:

* the bounds of this machine: memcpy of 2 MiB frames into a 128-slot ring (``np.copyto``,
  the least any camera path must do), and the disk's own sequential write speed (plain
  ``write`` of 32 MiB files into the folder the recordings go to, as fast as it goes);
* ring ingest without recording: the simulated camera (B1's, a numba window copy) asked
  for 10,000 frames/s, and a memcpy camera (``np.copyto`` of prepared frames), so the
  engine's own overhead shows against the memcpy bound;
* ingest while the display polls at 30 Hz and a deliberately slow live processor
  (0.2 s per result) runs: must equal the ingest without them;
* ring + recorder: a memcpy camera, unpaced (the producer waits for the disk): frames/s
  recorded next to the disk's write speed; then the simulated camera at rates around
  the disk's speed: the highest rate recorded with zero drops;
* back-pressure: the camera asked for 1000 frames/s while recording (``overflow="block"``):
  what is recorded (= the disk's speed), what the camera lost (counted, never silent).

Run with ``python -m pytest tests/benchmarks/test_acquisition_ingest.py -s``. The machine
is small (2 cores, shared) and noisy: medians are printed, only results are asserted.
"""
import os
import statistics
import time

import numpy as np
import pytest

from batteryscope.app.acquisition.engine import AcquisitionEngine, RunState
from batteryscope.app.acquisition.live_processors import LiveProcessor
from batteryscope.app.acquisition.recording_layouts import movie_recording
from batteryscope.app.acquisition.sources import CameraSource
from batteryscope.app.hardware.interfaces import Camera, CameraSettings, DeviceState, FrameMeta
from batteryscope.app.hardware.simulated import SimulatedDriver

SIZE = 1024
FRAME_BYTES = SIZE * SIZE * 2
RUN_S = 2.0
REPEATS = 3
RING = 128
CHUNK = 16


def _median(values):
    return statistics.median(values)


def memcpy_fps() -> float:
    src = np.random.default_rng(0).integers(0, 4000, (8, SIZE, SIZE), dtype=np.uint16)
    ring = np.zeros((RING, SIZE, SIZE), np.uint16)
    ring[...] = 1                       # touch every page first
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < RUN_S:
        np.copyto(ring[n % RING], src[n % 8])
        n += 1
    return n / (time.perf_counter() - t0)


def disk_write_MBps(folder) -> float:
    block = np.ones((CHUNK, SIZE, SIZE), np.uint16)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < RUN_S:
        with open(os.path.join(folder, f"seq{n}.bin"), "wb") as fh:
            fh.write(block)
        n += 1
    elapsed = time.perf_counter() - t0
    for i in range(n):
        os.remove(os.path.join(folder, f"seq{i}.bin"))
    return n * block.nbytes / elapsed / 1e6


class MemcpyCamera(Camera):
    """A camera whose only work is one np.copyto of a prepared frame (no pacing)."""

    def __init__(self):
        super().__init__("memcpy")
        self._frames = np.random.default_rng(1).integers(0, 4000, (8, SIZE, SIZE), dtype=np.uint16)
        self._n = 0
        self._settings = CameraSettings(exposure_s=1e-4, size=(SIZE, SIZE))

    frame_shape = property(lambda self: (SIZE, SIZE))
    dtype = property(lambda self: np.dtype(np.uint16))
    settings = property(lambda self: self._settings)

    def configure(self, settings):
        self._settings = settings

    def start(self):
        self._n = 0
        self._state = DeviceState.RUNNING

    def stop(self):
        self._state = DeviceState.IDLE

    copy = True

    def read_frame(self, out, timeout_s=1.0):
        if self.copy:
            np.copyto(out, self._frames[self._n % 8])
        self._n += 1
        return FrameMeta(self._n - 1, time.time(), time.monotonic(), 1e-4)

    def _reconnect(self):
        pass

    def _close(self):
        pass


class SlowProcessor(LiveProcessor):
    name = "slow"

    def process(self, data, meta):
        time.sleep(0.2)
        return float(data[::64, ::64].mean())


def _run(engine, *, seconds=RUN_S, recording=None, display=False):
    """Run; returns (counters, seconds from the first frame to the last one on disk)."""
    engine.start(duration_s=seconds, recording=recording)
    t0 = None
    last = -1
    while engine.state is RunState.RUNNING:
        if t0 is None and engine.counters().acquired:
            t0 = time.monotonic()      # the source's start-up (pool building) left out
        if display:
            frame = engine.latest_frame(newer_than=last)
            last = frame.seq if frame is not None else last
            engine.wait(1 / 30)
        else:
            engine.wait(0.005 if t0 is None else 0.1)
    elapsed = time.monotonic() - t0
    status = engine.status()
    assert status.state is RunState.FINISHED, status.error
    return status.counters, elapsed


@pytest.fixture(scope="module")
def sim():
    driver = SimulatedDriver()
    devices = driver.open(seed=0)
    yield devices
    driver.close()


def _sim_engine(sim, fps, **kwargs):
    sim.camera.configure(CameraSettings(exposure_s=1 / fps, frame_rate_hz=fps, size=(SIZE, SIZE)))
    return AcquisitionEngine(CameraSource(sim.camera), ring_capacity=RING, **kwargs)


def test_acquisition_ingest(sim, tmp_path):
    memcpy = _median([memcpy_fps() for _ in range(REPEATS)])
    disk_MBps = _median([disk_write_MBps(tmp_path) for _ in range(REPEATS)])
    disk_fps = disk_MBps * 1e6 / FRAME_BYTES

    # ring ingest, no recording
    rows = []
    engine = AcquisitionEngine(CameraSource(MemcpyCamera()), ring_capacity=RING)
    runs = [_run(engine) for _ in range(REPEATS)]
    memcpy_cam = _median([c.acquired / t for c, t in runs])
    rows.append(("memcpy camera → ring", memcpy_cam, 0))
    null = MemcpyCamera()
    null.copy = False                                      # the engine's own bookkeeping only
    engine = AcquisitionEngine(CameraSource(null), ring_capacity=RING)
    runs = [_run(engine, seconds=0.5) for _ in range(REPEATS)]
    rows.append(("null camera (no copy) → ring", _median([c.acquired / t for c, t in runs]), 0))
    engine = _sim_engine(sim, 10_000)
    _run(engine, seconds=0.5)                              # numba warm-up, pool build
    runs = [_run(engine) for _ in range(REPEATS)]
    sim_ring = _median([c.acquired / t for c, t in runs])
    rows.append(("sim camera (asked 10k/s) → ring", sim_ring, _median([c.dropped for c, _ in runs])))

    # the same with the display at 30 Hz and a slow live processor
    engine = AcquisitionEngine(CameraSource(MemcpyCamera()), ring_capacity=RING)
    slow = SlowProcessor(max_rate_hz=50)
    engine.add_processor(slow)
    runs = [_run(engine, display=True) for _ in range(REPEATS)]
    engine.close()
    busy = _median([c.acquired / t for c, t in runs])
    displayed = _median([c.displayed for c, _ in runs])
    rows.append(("  + display 30 Hz + slow processor", busy, 0))

    # the recording path on its own: memcpy camera, unpaced, the producer waits for the disk
    engine = AcquisitionEngine(CameraSource(MemcpyCamera()), ring_capacity=RING)
    mc = []
    for r in range(REPEATS):
        rec = movie_recording(tmp_path / f"mc{r}.zspy", (SIZE, SIZE), np.uint16, frame_interval_s=1e-3,
                              expected_frames=2048, chunk_frames=CHUNK)
        c, t = _run(engine, recording=rec)
        assert c.recorded == c.acquired and c.dropped == 0
        mc.append((c.recorded / t, c.ring_waits))
        _remove_tree(tmp_path / f"mc{r}.zspy")
    memcpy_rec = _median([x[0] for x in mc])
    memcpy_waits = _median([x[1] for x in mc])

    # recording at rates around the disk's speed: the best with zero drops
    recorded_rows = []
    best_zero_drop = 0.0
    for factor in (0.25, 0.5, 0.75, 1.0):
        fps = max(10.0, round(disk_fps * factor))
        engine = _sim_engine(sim, fps)
        results = []
        for r in range(REPEATS):
            rec = movie_recording(tmp_path / f"r{fps:.0f}_{r}.zspy", (SIZE, SIZE), np.uint16,
                                  frame_interval_s=1 / fps, expected_frames=int(fps * RUN_S * 1.1) + CHUNK,
                                  chunk_frames=CHUNK)
            c, t = _run(engine, recording=rec)
            assert c.recorded == c.acquired
            results.append((c.recorded / t, c.dropped, c.ring_waits))
            _remove_tree(tmp_path / f"r{fps:.0f}_{r}.zspy")
        rate = _median([x[0] for x in results])
        dropped = max(x[1] for x in results)
        recorded_rows.append((fps, rate, dropped, _median([x[2] for x in results])))
        if dropped == 0:      # every frame the camera made is on disk: sustained at its rate
            best_zero_drop = max(best_zero_drop, fps)

    # back-pressure: the camera far faster than the disk
    engine = _sim_engine(sim, 1000)
    bp = []
    for r in range(REPEATS):
        rec = movie_recording(tmp_path / f"bp{r}.zspy", (SIZE, SIZE), np.uint16, frame_interval_s=1e-3,
                              expected_frames=int(1000 * RUN_S), chunk_frames=CHUNK)
        c, t = _run(engine, recording=rec)
        assert c.recorded == c.acquired
        bp.append((c.recorded / t, c.dropped / t, c.ring_waits))
        _remove_tree(tmp_path / f"bp{r}.zspy")

    print(f"\n1024 × 1024 uint16 frames ({FRAME_BYTES / 2**20:.0f} MiB), medians of {REPEATS} runs "
          f"of {RUN_S:g} s, ring of {RING} frames, chunks of {CHUNK} frames")
    print(f"memcpy bound (np.copyto into the ring): {memcpy:8.0f} frames/s "
          f"({memcpy * FRAME_BYTES / 1e9:.2f} GB/s)")
    print(f"disk sequential write ({tmp_path}): {disk_MBps:8.0f} MB/s = {disk_fps:.0f} frames/s")
    print(f"{'ring ingest':<36}{'frames/s':>10}{'x/memcpy':>10}{'dropped':>9}")
    for name, fps, dropped in rows:
        print(f"{name:<36}{fps:>10.0f}{fps / memcpy:>10.2f}{dropped:>9.0f}")
    print(f"  (display took {displayed:.0f} frames per run, slow processor {slow.processed} in all)")
    print(f"  ingest with display + slow processor / without: {busy / memcpy_cam:.2f}")
    print(f"recording, memcpy camera unpaced (block): {memcpy_rec:.1f} frames/s = "
          f"{memcpy_rec / disk_fps:.2f} × the disk's write speed, 0 dropped, the producer "
          f"waited for the recorder {memcpy_waits:.0f} times (back-pressure)")
    print("recording, simulated camera paced at a rate (recorded/s: wall clock from the first "
          "frame to the last one on disk, start-up and drain included)")
    print(f"{'camera asked':<24}{'recorded/s':>11}{'x/disk':>8}{'dropped':>9}{'waits':>7}")
    for fps, rate, dropped, waits in recorded_rows:
        print(f"{fps:>20.0f}/s {rate:>11.1f}{rate / disk_fps:>8.2f}{dropped:>9.0f}{waits:>7.0f}")
    print(f"best zero-drop recording (simulated camera): {best_zero_drop:.0f} frames/s = "
          f"{best_zero_drop / disk_fps:.2f} × the disk's write speed" if best_zero_drop else
          "no rate tried was recorded with zero drops (the camera lost frames: counted above)")
    rate, lost, waits = (_median([x[i] for x in bp]) for i in range(3))
    print(f"back-pressure, camera asked 1000/s: recorded {rate:.1f}/s ({rate / disk_fps:.2f} × disk), "
          f"camera lost {lost:.0f}/s (counted as dropped), producer waited {waits:.0f} times, "
          "no recorded frame lost")
    assert memcpy_cam > 0 and sim_ring > 0 and memcpy_rec > 0


def _remove_tree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)
