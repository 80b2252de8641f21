"""Simulated column (microscope), stage, and the fault injection all simulated devices share."""
from __future__ import annotations

from dataclasses import replace

from ._sim_specimen import SimSpecimen
from .interfaces import DeviceError, Microscope, Stage, StagePosition, check_range

REFERENCE_SCAN_PIXELS = 256          # field of view = 256 × microscope.pixel_size_A
_PIXEL_SIZE_TIMES_MAG_A = 1.2e6      # 0.12 Å per pixel at 10 Mx


class FaultInjection:
    """Mixin for simulated devices: ``simulate_disconnect()`` makes the next call fail.

    The failure then behaves like a pulled cable on real hardware: DeviceError, the
    device in the ERROR state, and every later call refused until ``reconnect()``.
    """

    _fault: str | None = None

    def simulate_disconnect(self, reason: str = "connection lost (simulated cable pull)") -> None:
        self._fault = reason

    def _guard(self) -> None:
        """Raise DeviceError if a fault was injected or the device is unusable."""
        self.check_usable()
        if self._fault is not None:
            raise self.fail(self._fault)

    def _reconnect(self) -> None:
        self._fault = None


class SimulatedColumn:
    """State shared by the simulated devices: optics, stage position, specimen."""

    def __init__(self, specimen: SimSpecimen):
        self.specimen = specimen
        self.high_tension_V = 300e3
        self.magnification = 1.0e7
        self.beam_current_A = 50e-12         # STEM probe
        self.tem_current_A = 0.2e-9          # TEM illumination seen by the camera
        self.blanked = False
        self.stage = StagePosition()

    @property
    def pixel_size_A(self) -> float:
        return _PIXEL_SIZE_TIMES_MAG_A / self.magnification

    def field_centre_A(self) -> tuple[float, float]:
        """Specimen coordinates (Å) under the optical axis (stage x, y in µm → Å)."""
        return (self.stage.x_um * 1e4 + 0.5 * self.specimen.field_A[1],
                self.stage.y_um * 1e4 + 0.5 * self.specimen.field_A[0])

    def flood_current_A(self, override: float | None) -> float:
        """TEM illumination current over the camera's field (0 when blanked)."""
        if self.blanked:
            return 0.0
        return self.tem_current_A if override is None else override

    def current_A(self, override: float | None) -> float:
        """Probe current reaching the specimen (0 when blanked)."""
        if self.blanked:
            return 0.0
        return self.beam_current_A if override is None else override


class SimulatedMicroscope(FaultInjection, Microscope):
    HT_RANGE_V = (60e3, 300e3)
    MAG_RANGE = (1e3, 1e8)
    CURRENT_RANGE_A = (0.0, 1e-6)

    def __init__(self, name: str, column: SimulatedColumn):
        super().__init__(name)
        self._column = column

    @property
    def high_tension_V(self) -> float:
        return self._column.high_tension_V

    @property
    def magnification(self) -> float:
        return self._column.magnification

    @property
    def pixel_size_A(self) -> float:
        return self._column.pixel_size_A

    @property
    def beam_current_A(self) -> float:
        return self._column.beam_current_A

    @property
    def is_blanked(self) -> bool:
        return self._column.blanked

    def set_high_tension(self, volts: float) -> None:
        self._guard()
        self._column.high_tension_V = check_range("high_tension_V", volts, *self.HT_RANGE_V, "V",
                                                  device=self.label)

    def set_magnification(self, magnification: float) -> None:
        self._guard()
        self._column.magnification = check_range("magnification", magnification, *self.MAG_RANGE,
                                                 "×", device=self.label)

    def set_beam_current(self, amps: float) -> None:
        self._guard()
        self._column.beam_current_A = check_range("beam_current_A", amps, *self.CURRENT_RANGE_A,
                                                  "A", device=self.label)

    def blank(self) -> None:
        self._guard()
        self._column.blanked = True

    def unblank(self) -> None:
        self._guard()
        self._column.blanked = False

    @property
    def cumulative_dose_e_per_A2(self) -> float:
        """Mean dose the specimen has received so far (simulation only)."""
        return self._column.specimen.mean_dose_e_per_A2()

    def _close(self) -> None:
        pass


class SimulatedStage(FaultInjection, Stage):
    LIMITS = {"x_um": (-1000.0, 1000.0), "y_um": (-1000.0, 1000.0), "z_um": (-200.0, 200.0),
              "alpha_deg": (-70.0, 70.0), "beta_deg": (-30.0, 30.0)}

    def __init__(self, name: str, column: SimulatedColumn):
        super().__init__(name)
        self._column = column

    @property
    def position(self) -> StagePosition:
        return self._column.stage

    @property
    def limits(self):
        return dict(self.LIMITS)

    def move_to(self, position: StagePosition | None = None, **axes: float) -> StagePosition:
        self._guard()
        unknown = set(axes) - set(self.LIMITS)
        if unknown:
            raise DeviceError(self.label, f"no axis {', '.join(sorted(unknown))}; "
                                          f"axes are {', '.join(self.LIMITS)}")
        target = replace(position or self._column.stage, **axes)
        self._column.stage = self.validate(target)
        return self._column.stage

    def _close(self) -> None:
        pass
