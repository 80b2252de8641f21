"""Acquisition engine: ring buffer, producer threads, recorder, live processors, dose tracking. No Qt."""
