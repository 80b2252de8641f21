"""Electron energy-loss spectroscopy (EELS) numerics: pre-edge background models and
edge integration over single spectra, line scans and spectrum images.

Pure numpy; energies come from an explicit :class:`~batteryscope.analysis.calibration.AxisCalibration`.
"""
