"""Electron energy-loss spectroscopy (EELS) numerics: pre-edge background models and
edge integration over single spectra, line scans and spectrum images.

numpy plus small private numba kernels; energies come from an explicit
:class:`~batteryscope.analysis.calibration.AxisCalibration`.
"""
