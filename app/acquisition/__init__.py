"""Acquisition engine: ring buffer, producer threads, recorder, live processors, dose tracking. No Qt.

Modules (imported where used; nothing is imported here, so the package costs nothing):

* :mod:`.engine` — :class:`~.engine.AcquisitionEngine` (start/stop/wait, ``subscribe``,
  ``latest_frame``, ``counters``, ``add_processor``, ``reconnect``), :class:`~.engine.ContextSampler`;
* :mod:`.sources` — :class:`~.sources.CameraSource`, :class:`~.sources.SpectrumImageSource`;
* :mod:`.ring_buffer` — :class:`~.ring_buffer.FrameRing` (bounded, explicit overflow policy);
* :mod:`.recorder` / :mod:`.zspy_store` / :mod:`.recording_layouts` — progressive, crash-safe
  .zspy recordings that ``hyperspy.api.load`` opens (also while they are written);
* :mod:`.live_processors` — averaging, FFT, ROI statistics, drift, at capped rates;
* :mod:`.dose` — dose rate, :class:`~.dose.DoseTracker` (per-region dose, budget alarm);
* :mod:`.acquire_command`, :mod:`.acquire_si_command` — ``batteryscope acquire`` / ``acquire-si``.
"""
