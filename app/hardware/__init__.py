"""Hardware abstraction layer: device interfaces, driver discovery, the simulated microscope, real-protocol drivers. No Qt."""
