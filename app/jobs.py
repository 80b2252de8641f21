"""Background jobs for the GUI: run work off the GUI thread, report back by Qt signals.

A :class:`Job` runs a plain Python callable in the global ``QThreadPool``. The callable
receives a :class:`JobContext` for progress reports and cancellation checks. Results
and errors travel to the GUI thread through queued signals; the GUI drops results of
jobs it has cancelled or superseded (by ``job_id``). Jobs are never children of widgets.
"""
from __future__ import annotations

import itertools
import threading
import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

_ids = itertools.count(1)


class JobCancelled(Exception):
    """Raised inside a job's function when the user cancelled it."""


class JobContext:
    """Handed to a job's function: report progress, check for cancellation."""

    def __init__(self, signals: "JobSignals", job_id: int):
        self._signals = signals
        self._job_id = job_id
        self._cancel = threading.Event()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; raises :class:`JobCancelled` if cancelled."""
        self.raise_if_cancelled()
        self._signals.progress.emit(self._job_id, float(fraction), message)

    def partial(self, value) -> None:
        """Hand an intermediate result to the GUI (e.g. a navigator filled so far)."""
        self.raise_if_cancelled()
        self._signals.partial.emit(self._job_id, value)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()


class JobSignals(QObject):
    """Signals of one job (emitted from the worker thread, delivered queued)."""

    progress = Signal(int, float, str)     # job_id, fraction, message
    finished = Signal(int, object)         # job_id, result
    failed = Signal(int, object, str)      # job_id, exception, traceback text
    cancelled = Signal(int)                # job_id
    partial = Signal(int, object)          # job_id, intermediate result


class Job(QRunnable):
    """Run ``function(context, *args, **kwargs)`` in the thread pool."""

    def __init__(self, function, *args, **kwargs):
        super().__init__()
        self.setAutoDelete(False)  # the JobRunner keeps it until it has reported
        self.job_id = next(_ids)
        self.signals = JobSignals()
        self.context = JobContext(self.signals, self.job_id)
        self._function, self._args, self._kwargs = function, args, kwargs
        self.done = threading.Event()

    def cancel(self) -> None:
        self.context._cancel.set()

    def run(self) -> None:  # worker thread
        try:
            result = self._function(self.context, *self._args, **self._kwargs)
        except JobCancelled:
            self.signals.cancelled.emit(self.job_id)
        except BaseException as exc:  # reported to the GUI, never lost in a thread
            self.signals.failed.emit(self.job_id, exc, traceback.format_exc())
        else:
            self.signals.finished.emit(self.job_id, result)
        finally:
            self.done.set()


class JobRunner(QObject):
    """Starts jobs, keeps them alive until they report, and stops them on exit.

    Callbacks run on the thread that owns the runner (the GUI thread): the job signals
    are connected to this QObject's slots, so Qt queues them across threads.
    """

    def __init__(self, pool: QThreadPool | None = None):
        super().__init__()
        self._pool = pool or QThreadPool.globalInstance()
        self._jobs: dict[int, tuple[Job, dict]] = {}

    def start(self, function, *args, on_done=None, on_error=None, on_progress=None,
              on_cancelled=None, on_partial=None, **kwargs) -> Job:
        """Run ``function(context, *args, **kwargs)``; callbacks get (result) / (exc, tb) /
        (fraction, message) / () / (intermediate value)."""
        job = Job(function, *args, **kwargs)
        callbacks = dict(done=on_done, error=on_error, progress=on_progress, cancelled=on_cancelled,
                         partial=on_partial)
        self._jobs[job.job_id] = (job, callbacks)
        job.signals.finished.connect(self._finished)
        job.signals.failed.connect(self._failed)
        job.signals.progress.connect(self._progress)
        job.signals.cancelled.connect(self._cancelled)
        job.signals.partial.connect(self._partial)
        self._pool.start(job)
        return job

    def _callback(self, job_id: int, name: str, pop: bool):
        entry = self._jobs.pop(job_id, None) if pop else self._jobs.get(job_id)
        return entry[1].get(name) if entry else None

    @Slot(int, object)
    def _finished(self, job_id, result):
        cb = self._callback(job_id, "done", pop=True)
        if cb:
            cb(result)

    @Slot(int, object, str)
    def _failed(self, job_id, exc, tb):
        cb = self._callback(job_id, "error", pop=True)
        if cb:
            cb(exc, tb)

    @Slot(int, float, str)
    def _progress(self, job_id, fraction, message):
        cb = self._callback(job_id, "progress", pop=False)
        if cb:
            cb(fraction, message)

    @Slot(int, object)
    def _partial(self, job_id, value):
        cb = self._callback(job_id, "partial", pop=False)
        if cb:
            cb(value)

    @Slot(int)
    def _cancelled(self, job_id):
        cb = self._callback(job_id, "cancelled", pop=True)
        if cb:
            cb()

    @property
    def running(self) -> list[Job]:
        return [job for job, _ in self._jobs.values()]

    def stop_all(self, timeout_s: float = 5.0) -> bool:
        """Cancel every job and wait for the pool; True if all stopped in time."""
        for job in self.running:
            job.cancel()
        return self._pool.waitForDone(int(timeout_s * 1000))
