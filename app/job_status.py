"""Status-bar progress for background jobs: a progress bar and a Cancel button that show
while any job runs, and one place that turns a job's failure into a message for the user."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QProgressBar, QPushButton

from .errors import UserFacingError


class JobStatus(QObject):
    """Starts jobs on ``runner`` with progress in ``status_bar``; failures go to ``report(title, msg)``."""

    def __init__(self, runner, status_bar, report, parent=None):
        super().__init__(parent)
        self.runner, self.status_bar, self.report = runner, status_bar, report
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.setRange(0, 100)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_all)
        status_bar.addPermanentWidget(self.progress_bar)
        status_bar.addPermanentWidget(self.cancel_button)
        self.set_busy(False)

    def start(self, function, *args, done=None, what: str = "working", partial=None, **kwargs):
        """Run ``function(context, *args, **kwargs)`` in a worker with progress and Cancel."""
        self.set_busy(True, f"{what[:1].upper()}{what[1:]}…")

        def finished(result):
            self.set_busy(bool(self.runner.running))
            if done:
                done(result)

        def failed(exc, tb):
            self.set_busy(bool(self.runner.running))
            if isinstance(exc, UserFacingError):
                self.report("Error", str(exc))
            else:
                self.report("Error", f"internal error while {what}: {type(exc).__name__}: {exc}")

        return self.runner.start(function, *args, on_done=finished, on_error=failed,
                                 on_progress=self.progress, on_partial=partial,
                                 on_cancelled=lambda: self.set_busy(bool(self.runner.running)),
                                 **kwargs)

    def progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(round(100 * fraction)))
        if message:
            self.status_bar.showMessage(message)

    def cancel_all(self) -> None:
        for job in self.runner.running:
            job.cancel()

    def set_busy(self, busy: bool, message: str = "") -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress_bar.setValue(0)
        if message:
            self.status_bar.showMessage(message)
        elif not busy:
            self.status_bar.clearMessage()
