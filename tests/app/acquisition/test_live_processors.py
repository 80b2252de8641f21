"""Live processors: correct results, their own capped rate, never starving acquisition."""
import time

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import RectangleROI
from batteryscope.app.acquisition.engine import AcquisitionEngine, RunState
from batteryscope.app.acquisition.live_processors import (DriftEstimator, FrameAverager, LiveFFT,
                                                          LiveProcessor, RoiStatisticsProcessor,
                                                          phase_correlation_shift, windowed_rfft)
from batteryscope.app.acquisition.sources import CameraSource
from fake_devices import FakeCamera, expected_frame


def _lattice(shape, dy=0.0, dx=0.0):
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    rng = np.random.default_rng(0)
    blobs = np.zeros(shape)
    for cy, cx in rng.uniform(0, shape, (40, 2)):
        blobs += np.exp(-((y - cy - dy) ** 2 + (x - cx - dx) ** 2) / 18.0)
    return blobs


@pytest.mark.parametrize("shift", [(3.0, -5.0), (0.4, 1.7), (-7.25, 0.0)])
def test_phase_correlation_finds_the_shift_to_a_fraction_of_a_pixel(shift):
    ref, img = _lattice((96, 128)), _lattice((96, 128), *shift)
    dy, dx = phase_correlation_shift(windowed_rfft(ref), windowed_rfft(img))
    assert dy == pytest.approx(shift[0], abs=0.25) and dx == pytest.approx(shift[1], abs=0.25)


def test_processors_compute_on_the_newest_frames_at_their_capped_rate():
    camera = FakeCamera(shape=(64, 48), fps=400)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=8)
    ya, xa = AxisCalibration("y", "nm", 0.1, 0.0, 64), AxisCalibration("x", "nm", 0.1, 0.0, 48)
    roi = RoiStatisticsProcessor(RectangleROI(0.0, 0.0, 1.0, 2.0), ya, xa, max_rate_hz=20)
    fft = LiveFFT(ya, xa, crop=32, max_rate_hz=5)
    avg = FrameAverager(3, max_rate_hz=20)
    results = []
    unsubscribe = roi.subscribe(results.append)
    for p in (roi, fft, avg):
        engine.add_processor(p)
    t0 = time.monotonic()
    engine.start(frames=300)
    status = engine.wait(20)
    elapsed = time.monotonic() - t0
    engine.close()
    unsubscribe()
    assert status.counters.acquired == 300
    # capped: never more results than the rate allows (+1 for the first tick)
    assert 0 < roi.processed <= 20 * elapsed + 2 and roi.processed == len(results)
    assert 0 < fft.processed <= 5 * elapsed + 2
    stats = results[-1]
    rows, cols = roi.roi.pixel_slices(ya, xa)
    n = (rows.stop - rows.start) * (cols.stop - cols.start)
    assert stats.n_pixels == n and stats.area == pytest.approx(n * 0.01) and stats.area_units == "nm²"
    means = {float(expected_frame(i, (64, 48))[rows, cols].mean()) for i in range(300)}
    assert stats.mean in means                       # the statistics of one real frame
    assert fft.latest_result.log_power.shape == (32, 32)
    assert avg.latest_result.shape == (64, 48) and avg.latest_result.dtype == np.float32


def test_a_slow_processor_costs_itself_frames_never_the_acquisition():
    class Slow(LiveProcessor):
        name = "slow"

        def process(self, data, meta):
            time.sleep(0.2)                          # e.g. a heavy fit
            return meta["index"]

    camera = FakeCamera(shape=(64, 48), fps=500)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=4)
    slow = Slow(max_rate_hz=100)
    engine.add_processor(slow)
    t0 = time.monotonic()
    engine.start(frames=250)
    status = engine.wait(20)
    elapsed = time.monotonic() - t0
    engine.close()
    assert status.state is RunState.FINISHED and status.counters.acquired == 250
    assert status.counters.dropped == 0 and status.counters.ring_waits == 0
    # the processor took what it could at its own pace and skipped the rest
    assert 1 <= slow.processed <= elapsed / 0.2 + 1 and slow.processed < 250


def test_drift_estimator_follows_a_drifting_specimen():
    drift = DriftEstimator(binning=2, max_rate_hz=1000)
    frames = [_lattice((128, 128), 0.0, 0.0), _lattice((128, 128), 2.0, 4.0)]
    assert drift.process(frames[0], None) == (0.0, 0.0)     # reference
    dy, dx = drift.process(frames[1], None)
    assert dy == pytest.approx(2.0, abs=0.5) and dx == pytest.approx(4.0, abs=0.5)


def test_a_processor_error_is_counted_and_the_processor_keeps_running():
    camera = FakeCamera(shape=(16, 16), fps=300)
    engine = AcquisitionEngine(CameraSource(camera), ring_capacity=4)
    ya, xa = AxisCalibration("y", "", 1.0, 0.0, 99), AxisCalibration("x", "", 1.0, 0.0, 99)
    bad = RoiStatisticsProcessor(RectangleROI(0, 0, 5, 5), ya, xa, max_rate_hz=50)  # wrong axes
    engine.add_processor(bad)
    engine.start(frames=60)
    assert engine.wait(20).state is RunState.FINISHED
    engine.close()
    assert bad.errors >= 1 and "ValueError" in bad.last_error and bad.processed == 0
