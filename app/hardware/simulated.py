"""The built-in simulated microscope: the default driver (no hardware needed).

One :class:`SimulatedDriver` opens a complete set: a STEM scan unit (HAADF/ABF/BF and EELS
spectrum images) scanning a LiFePO4 [010] crystal with Fe-on-Li antisites (the Foundation
specimen generator), a 1024×1024 uint16 TEM camera, an EELS spectrometer, the column,
a stage, and a source-measure unit wired to a thin-film LFP cell. They share one
specimen, so drift, dose and beam damage are the same whichever device looks at it.

Physics and timing are in the private modules: :mod:`._sim_specimen` (maps, drift, dose,
damage), :mod:`._sim_scan` (scan + EELS), :mod:`._sim_camera` (fast camera),
:mod:`._sim_bias` (SMU + cell), :mod:`._sim_column` (microscope, stage, fault injection).
Every simulated device has ``simulate_disconnect()`` to rehearse a pulled cable.
"""
from __future__ import annotations

import math

from ._sim_bias import SimulatedBiasSource, ThinFilmCell
from ._sim_camera import SimulatedCamera
from ._sim_column import SimulatedColumn, SimulatedMicroscope, SimulatedStage
from ._sim_scan import SimulatedScan, SimulatedSpectrometer
from ._sim_specimen import SimSpecimen
from .interfaces import DeviceSet, Driver, SettingError, check_range

__all__ = ["SimulatedDriver"]


class SimulatedDriver(Driver):
    name = "simulated"
    description = ("Simulated STEM (built in, default): LiFePO4 specimen with drift, shot noise, "
                   "dose-dependent beam damage; 1024² camera; EELS; thin-film cell on an SMU")
    options = {
        "seed": "random seed (int, default 0)",
        "drift_A_per_s": "specimen drift speed in Å/s (default 0.5; 0 for none)",
        "critical_dose_e_per_A2": "dose at which 63 % of the crystal is damaged (default 2e6; "
                                  "'inf' for no damage)",
        "row_jitter_px": "scan row jitter, pixels (default 0.05)",
        "read_noise": "detector read noise, counts (default 0.5)",
        "camera_pool": "noise realisations kept by the camera (default 8)",
        "bias_time_scale": "how much faster than real time the cell evolves (default 1)",
    }

    def _open(self, *, seed=0, drift_A_per_s=0.5, critical_dose_e_per_A2=2.0e6,
              row_jitter_px=0.05, read_noise=0.5, camera_pool=8, bias_time_scale=1.0) -> DeviceSet:
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise SettingError("seed", seed, "an integer") from None
        drift = check_range("drift_A_per_s", drift_A_per_s, 0.0, 1e3, "Å/s")
        critical = float(critical_dose_e_per_A2)
        if not (critical > 0) or math.isnan(critical):
            raise SettingError("critical_dose_e_per_A2", critical_dose_e_per_A2, "> 0 (or inf)")
        jitter = check_range("row_jitter_px", row_jitter_px, 0.0, 10.0, "px")
        noise = check_range("read_noise", read_noise, 0.0, 1e3, "counts")
        pool = int(check_range("camera_pool", camera_pool, 2, 64))
        specimen = SimSpecimen(seed=seed, critical_dose_e_per_A2=critical, drift_A_per_s=drift)
        column = SimulatedColumn(specimen)
        spectrometer = SimulatedSpectrometer("sim-eels", column, seed=seed + 1)
        return DeviceSet(
            camera=SimulatedCamera("sim-camera", column, pool_size=pool, seed=seed + 2),
            scan=SimulatedScan("sim-stem", column, spectrometer, row_jitter_px=jitter,
                               read_noise=noise, seed=seed + 3),
            spectrometer=spectrometer,
            microscope=SimulatedMicroscope("sim-column", column),
            stage=SimulatedStage("sim-stage", column),
            bias=SimulatedBiasSource("sim-smu", ThinFilmCell(), time_scale=float(bias_time_scale),
                                     seed=seed + 4),
        )
