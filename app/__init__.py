"""The BatteryScope application: document model, file I/O, jobs, hardware, CLI and GUI."""
__version__ = "0.1.0"
