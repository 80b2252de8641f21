"""FramePlayer: frame number both ways, time readout, real-time playback that skips frames."""
import time

import pytest
from PySide6.QtCore import Qt

from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.widgets.frame_player import FramePlayer


@pytest.fixture
def player(qtbot, no_leaked_windows):
    p = FramePlayer()
    qtbot.addWidget(p)
    p.set_frame_count(120)
    yield p
    p.pause()


def test_defaults_and_frame_readout(player):
    assert player.fps_spin.value() == 20
    assert (player.fps_spin.minimum(), player.fps_spin.maximum()) == (1, 100)
    assert player.loop_check.isChecked() and not player.is_playing
    assert player.frame_spin.text() == "frame 1 / 120"
    assert (player.slider.minimum(), player.slider.maximum()) == (0, 119)


def test_set_index_updates_controls_and_signals(player, qtbot):
    with qtbot.waitSignal(player.frameChanged, timeout=1000) as changed:
        player.set_index(11)
    assert changed.args == [11] and player.index() == 11
    assert player.frame_spin.text() == "frame 12 / 120" and player.slider.value() == 11
    player.set_index(500)
    assert player.index() == 119


def test_user_slider_and_spin_emit_zero_based_frames(player, qtbot):
    with qtbot.waitSignal(player.frameChanged, timeout=1000) as changed:
        player.slider.setValue(5)
    assert changed.args == [5] and player.frame_spin.value() == 6
    with qtbot.waitSignal(player.frameChanged, timeout=1000) as changed:
        player.frame_spin.setValue(10)
    assert changed.args == [9] and player.slider.value() == 9


def test_time_axis_readout(player):
    player.set_time_axis(AxisCalibration("Time", "s", 0.5, 0.0, 120, navigate=True))
    player.set_index(25)
    assert player.time_label.text() == "t = 12.5 s"
    player.set_time_axis(None)
    assert player.time_label.text() == ""


def test_frame_count_clamps_and_disables(player):
    player.set_index(100)
    player.set_frame_count(50)
    assert player.index() == 49 and player.frame_spin.text() == "frame 50 / 50"
    player.set_frame_count(0)
    assert not player.isEnabled()
    with pytest.raises(ValueError):
        player.set_frame_count(-1)


def test_play_button_plays_and_pauses(player, qtbot):
    with qtbot.waitSignal(player.playingChanged, timeout=1000) as started:
        qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    assert started.args == [True] and player.is_playing and player.play_button.text() == "Pause"
    with qtbot.waitSignal(player.frameChanged, timeout=2000):
        pass
    qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    assert not player.is_playing and player.play_button.text() == "Play"


def test_without_loop_playback_stops_on_the_last_frame(player, qtbot):
    player.set_frame_count(6)
    player.fps_spin.setValue(100)
    player.loop_check.setChecked(False)
    player.play()
    qtbot.waitUntil(lambda: not player.is_playing, timeout=3000)
    assert player.index() == 5
    player.play()                                        # at the end: starts over
    assert player.index() == 0 and player.is_playing


def test_loop_wraps_around(player, qtbot):
    player.set_frame_count(4)
    player.fps_spin.setValue(100)
    seen = []
    player.frameChanged.connect(seen.append)
    player.play()
    qtbot.waitUntil(lambda: 3 in seen and seen[-1] < 3 and len(seen) > 4, timeout=3000)
    assert player.is_playing


def test_slow_consumer_gets_skipped_frames_not_a_backlog(player, qtbot):
    player.fps_spin.setValue(50)                         # 20 ms per frame
    seen = []

    def slow_consumer(index):                            # takes 3 frame periods per frame
        seen.append((index, time.perf_counter()))
        end = time.perf_counter() + 0.060
        while time.perf_counter() < end:
            pass

    player.frameChanged.connect(slow_consumer)
    player.play()
    qtbot.waitUntil(lambda: len(seen) >= 8, timeout=5000)
    player.pause()
    indices = [i for i, _ in seen]
    steps = [b - a for a, b in zip(indices, indices[1:])]
    assert all(s >= 1 for s in steps) and max(steps) >= 2    # frames were skipped
    # playback position follows the wall clock at 50 fps, not the consumer's pace
    elapsed = seen[-1][1] - seen[0][1]
    assert indices[-1] - indices[0] >= 0.6 * 50 * elapsed
