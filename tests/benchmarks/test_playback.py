"""Stack playback: frames/s of 2048 × 2048 frames on screen, against what people use today.

Three ways to show a movie frame after frame, each on the same frames in memory, each
rendered and painted in an offscreen-shown window (the paint event delivered by
``processEvents``; a wrapped ``ImageItem.render`` counts that every frame was really
converted) or drawn on an Agg canvas, before the next:

* BatteryScope ``ImageView.set_frame`` with fixed levels (no rescans, histogram coalesced);
* pyqtgraph's ``pg.ImageView.setImage(frame)`` with its defaults (auto-levels and auto-range
  on every frame), what a pyqtgraph script does;
* matplotlib ``imshow`` + ``set_data`` + ``canvas.draw()`` on the Agg backend, the way
  HyperSpy's ``plot()`` redraws a navigated image.

Run with ``python -m pytest tests/benchmarks/test_playback.py -s``. It prints medians and
ratios; it asserts only that every frame was really rendered, never a time.
"""
import gc
import statistics
import time

import numpy as np
import pytest

from batteryscope.analysis.calibration import AxisCalibration

SIZE = 2048
N_FRAMES = 64          # distinct frames held in memory (uint16: 512 MiB, float32: 1 GiB)
N_FRAMES_MPL = 16      # matplotlib is slow; fewer frames give the same median
WARMUP = 3
WINDOW = (1024, 900)   # widget size in pixels, and the matplotlib figure's


def _stack(dtype) -> list[np.ndarray]:
    """N_FRAMES distinct C-contiguous frames: a noisy lattice drifting by 3 px a frame."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    base = 1000 + 600 * np.cos(x * 0.7) * np.cos(y * 0.7) + rng.normal(0, 80, (SIZE, SIZE)).astype(np.float32)
    base = base.astype(dtype)
    return [np.ascontiguousarray(np.roll(base, 3 * i, axis=1)) for i in range(N_FRAMES)]


def _count_renders(image_item) -> list:
    """Wrap ``image_item.render`` to count the frames really converted for the screen."""
    calls = []
    original = image_item.render

    def render():
        calls.append(1)
        return original()

    image_item.render = render
    return calls


def _time_frames(frames, show) -> list[float]:
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        show(frame)
        times.append(time.perf_counter() - t0)
    return times[WARMUP:]


def _ours(qapp, qtbot, frames, axes) -> tuple[list[float], int]:
    from batteryscope.widgets.image_view import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(*WINDOW)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(frames[0], axes, levels=(500.0, 1800.0))
    qapp.processEvents()
    renders = _count_renders(view.image_item)

    def show(frame):
        view.set_frame(frame)
        qapp.processEvents()          # delivers the paint event: render + draw

    times = _time_frames(frames, show)
    assert view.levels() == (500.0, 1800.0)
    assert np.shares_memory(view.image_item.image, frames[-1])   # no copy on the way
    view.close()
    return times, len(renders)


def _pyqtgraph_default(qapp, qtbot, frames) -> tuple[list[float], int]:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major")
    iv = pg.ImageView()
    qtbot.addWidget(iv)
    iv.resize(*WINDOW)
    iv.show()
    qtbot.waitExposed(iv)
    iv.setImage(frames[0])
    qapp.processEvents()
    renders = _count_renders(iv.getImageItem())

    def show(frame):
        iv.setImage(frame)            # defaults: autoLevels, autoRange, autoHistogramRange
        qapp.processEvents()

    times = _time_frames(frames, show)
    iv.close()
    return times, len(renders)


def _matplotlib(frames) -> tuple[list[float], int]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WINDOW[0] / 100, WINDOW[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(frames[0], cmap="gray", vmin=500, vmax=1800)
    fig.colorbar(im, ax=ax)
    canvas.draw()
    draws = []

    def show(frame):
        im.set_data(frame)
        canvas.draw()
        draws.append(1)

    times = _time_frames(frames[:N_FRAMES_MPL], show)
    return times, len(draws)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32], ids=["uint16", "float32"])
def test_stack_playback_frames_per_second(qapp, qtbot, dtype):
    frames = _stack(dtype)
    axes = (AxisCalibration("y", "nm", 0.05, 0.0, SIZE), AxisCalibration("x", "nm", 0.05, 0.0, SIZE))
    results = {}
    results["BatteryScope ImageView.set_frame (fixed levels)"] = _ours(qapp, qtbot, frames, axes)
    results["pyqtgraph ImageView.setImage (defaults)"] = _pyqtgraph_default(qapp, qtbot, frames)
    results["matplotlib imshow set_data + draw (Agg)"] = _matplotlib(frames)
    for name, (times, rendered) in results.items():
        expected = N_FRAMES_MPL if name.startswith("matplotlib") else N_FRAMES
        assert rendered >= expected, f"{name}: only {rendered} of {expected} frames were rendered"
    ours = statistics.median(results["BatteryScope ImageView.set_frame (fixed levels)"][0])
    name = np.dtype(dtype).name
    print(f"\n{SIZE}×{SIZE} {name} frames, {N_FRAMES} distinct in memory, window {WINDOW[0]}×{WINDOW[1]}")
    print(f"{'method':<50} {'median ms/frame':>16} {'frames/s':>9} {'vs ours':>9}")
    for method, (times, _) in results.items():
        median = statistics.median(times)
        print(f"{method:<50} {1e3 * median:>16.1f} {1 / median:>9.1f} {median / ours:>8.1f}×")
    del frames, results
    gc.collect()
