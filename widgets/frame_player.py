"""Frame player for image stacks and movies: slider, frame number, play/pause, fps, loop."""
from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QWidget)

from batteryscope.analysis.calibration import AxisCalibration


class FramePlayer(QWidget):
    """Chooses the frame of a stack, by hand or by playing it in real time.

    Playback follows the wall clock: at every timer tick the frame is
    ``start + elapsed × fps``. A consumer slower than the frame rate therefore sees
    frames skipped, never a backlog; no tick is delivered while the previous
    ``frameChanged`` is still being handled.

    Signals
    -------
    frameChanged(int)
        The 0-based index of the frame to show (user action, playback or code).
    playingChanged(bool)
    """

    frameChanged = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._count, self._index = 0, 0
        self._time_axis: AxisCalibration | None = None
        self._emitting = False
        self._anchor = 0
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_spin = QSpinBox()
        self.frame_spin.setPrefix("frame ")
        self.frame_spin.setKeyboardTracking(False)
        self.time_label = QLabel("")
        self.fps_spin = QSpinBox()
        self.fps_spin.setRange(1, 100)
        self.fps_spin.setValue(20)
        self.fps_spin.setSuffix(" fps")
        self.loop_check = QCheckBox("loop")
        self.loop_check.setChecked(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in ((self.play_button, 0), (self.slider, 1), (self.frame_spin, 0),
                                (self.time_label, 0), (self.fps_spin, 0), (self.loop_check, 0)):
            layout.addWidget(widget, stretch)
        self.play_button.toggled.connect(self._play_toggled)
        self.slider.valueChanged.connect(self._user_moved)
        self.frame_spin.valueChanged.connect(lambda v: self._user_moved(v - 1))
        self.fps_spin.valueChanged.connect(self._fps_changed)
        self.set_frame_count(0)

    # ---- model ----------------------------------------------------------------------
    def set_frame_count(self, n: int) -> None:
        """Number of frames (0 disables the controls); the index is clamped."""
        if n < 0:
            raise ValueError(f"frame count must be >= 0, got {n}")
        self._count = int(n)
        for widget, lo, hi in ((self.slider, 0, max(n - 1, 0)), (self.frame_spin, min(n, 1), n)):
            blocked = widget.blockSignals(True)
            widget.setRange(lo, hi)
            widget.blockSignals(blocked)
        self.frame_spin.setSuffix(f" / {n}")
        self.setEnabled(n > 0)
        if n <= 1:
            self.pause()
        self._index = min(self._index, max(n - 1, 0))
        self._show_index()

    def frame_count(self) -> int:
        return self._count

    def set_time_axis(self, axis: AxisCalibration | None) -> None:
        """Calibration of the frame axis, to show "t = 12.5 s" (None hides it)."""
        self._time_axis = axis
        self._show_index()

    def index(self) -> int:
        """The current 0-based frame."""
        return self._index

    def set_index(self, index: int) -> None:
        """Go to frame ``index`` (0-based, clamped); emits frameChanged if it changed."""
        index = min(max(int(index), 0), max(self._count - 1, 0))
        if self._timer.isActive():
            self._restart_clock(index)
        self._go(index)

    # ---- playback -------------------------------------------------------------------
    @property
    def is_playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        """Start playback from the current frame (from the start if at the end and not looping)."""
        if self._count <= 1 or self.is_playing:
            return
        if self._index >= self._count - 1 and not self.loop_check.isChecked():
            self._go(0)
        self._restart_clock(self._index)
        self._timer.start(max(1, round(1000 / self.fps_spin.value())))
        self._set_button(True)
        self.playingChanged.emit(True)

    def pause(self) -> None:
        """Stop playback, staying on the current frame."""
        if not self._timer.isActive():
            return
        self._timer.stop()
        self._set_button(False)
        self.playingChanged.emit(False)

    def _tick(self) -> None:
        if self._emitting or self._count == 0:
            return  # the consumer is still busy with the last frame: skip, never queue
        target = self._anchor + int(self._clock.elapsed() * self.fps_spin.value() / 1000)
        if target >= self._count and not self.loop_check.isChecked():
            self._go(self._count - 1)
            self.pause()
            return
        target %= self._count
        if target != self._index:
            self._go(target)

    def _restart_clock(self, index: int) -> None:
        self._anchor = index
        self._clock.start()

    def _fps_changed(self, fps: int) -> None:
        if self._timer.isActive():
            self._restart_clock(self._index)
            self._timer.setInterval(max(1, round(1000 / fps)))

    def _play_toggled(self, checked: bool) -> None:
        self.play() if checked else self.pause()

    def _set_button(self, playing: bool) -> None:
        blocked = self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.blockSignals(blocked)

    # ---- view -----------------------------------------------------------------------
    def _user_moved(self, index: int) -> None:
        self.set_index(index)

    def _go(self, index: int) -> None:
        if index == self._index:
            return
        self._index = index
        self._show_index()
        self._emitting = True
        try:
            self.frameChanged.emit(index)
        finally:
            self._emitting = False

    def _show_index(self) -> None:
        for widget, value in ((self.slider, self._index), (self.frame_spin, self._index + 1)):
            blocked = widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(blocked)
        axis = self._time_axis
        if axis is None or self._count == 0:
            self.time_label.setText("")
        else:
            t = axis.offset + axis.scale * self._index
            self.time_label.setText(f"t = {t:.4g} {axis.units}".rstrip())
