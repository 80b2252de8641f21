"""Hardware abstraction layer: device interfaces, driver discovery, the simulated microscope, real-protocol drivers. No Qt.

``interfaces`` (device ABCs, settings, errors), ``discovery`` (the ``batteryscope.hardware``
entry points), ``simulated`` (the default driver), ``scpi_smu`` (Keithley 2450-style SMU via
PyVISA), ``merlin`` (Quantum Detectors Merlin over TCP), ``devices_command``
(``batteryscope devices``).
"""
