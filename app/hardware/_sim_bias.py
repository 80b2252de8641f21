"""Simulated source-measure unit wired to a thin-film LiFePO4 cell (in-situ biasing chip).

Cell model (equivalent circuit): ``V = OCV(x) + I·R_s + V_ct``, with ``x`` the state of
charge (delithiation: positive current charges, ``dx/dt = I / Q``), ``R_s`` the series
resistance and ``V_ct`` a charge-transfer RC element (``dV_ct/dt = (I·R_ct − V_ct)/τ``).
The OCV is the flat LFP two-phase plateau (3.43 V) with steep ends, so a constant
current charge ends against the upper cut-off.

The SMU: in current mode it sources the setpoint unless the cell voltage would pass the
compliance, where it turns into a voltage source at the compliance (``compliance_hit``);
in voltage mode it sources the setpoint and limits the current to the compliance.
Crossing a cut-off switches the output off (``cutoff_hit``). Readings carry noise of a
good SMU on its lowest ranges (≈ 20 fA, 20 µV).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._sim_column import FaultInjection
from .interfaces import BiasReading, BiasSettings, BiasSource, check_range


@dataclass
class ThinFilmCell:
    """A ~1 µm² LiFePO4 thin-film cell: capacity of nC, currents of pA."""

    capacity_C: float = 2.0e-9          # 5 µm × 2 µm × 100 nm of LFP at 170 mAh/g
    series_ohm: float = 2.0e9           # 2 GΩ: 10 pA → 20 mV
    charge_transfer_ohm: float = 5.0e9
    tau_s: float = 5.0
    soc: float = 0.05                   # delithiated fraction x in Li(1-x)FePO4
    v_ct: float = 0.0

    def ocv(self, soc: float | None = None) -> float:
        x = min(max(self.soc if soc is None else soc, 1e-6), 1 - 1e-6)
        return 3.43 + 0.025 * math.log(x / (1 - x)) + 0.08 * (math.exp((x - 1) / 0.02)
                                                              - math.exp(-x / 0.02))

    def voltage(self, current_A: float) -> float:
        return self.ocv() + current_A * self.series_ohm + self.v_ct

    def current_at(self, voltage_V: float) -> float:
        """Current the cell takes when held at ``voltage_V``."""
        return (voltage_V - self.ocv() - self.v_ct) / self.series_ohm

    def step(self, current_A: float, dt: float) -> None:
        self.soc = min(max(self.soc + current_A * dt / self.capacity_C, 0.0), 1.0)
        target = current_A * self.charge_transfer_ohm
        self.v_ct = target + (self.v_ct - target) * math.exp(-dt / self.tau_s)


class SimulatedBiasSource(FaultInjection, BiasSource):
    """SMU + cell; ``time_scale`` > 1 runs the cell faster than the wall clock (demos)."""

    MAX_STEP_S = 0.5

    def __init__(self, name: str, cell: ThinFilmCell | None = None, *, time_scale: float = 1.0,
                 clock=None, seed: int = 0, noise: bool = True):
        super().__init__(name)
        self.cell = cell or ThinFilmCell()
        self.time_scale = check_range("bias_time_scale", time_scale, 1e-3, 1e6)
        self._clock = clock or time.monotonic
        self._rng = np.random.default_rng(seed)
        self._noise = noise
        self._settings = BiasSettings()
        self._output = False
        self._t_last = self._clock()
        self._cutoff_hit = False

    @property
    def settings(self) -> BiasSettings:
        return self._settings

    @property
    def output(self) -> bool:
        return self._output

    def configure(self, settings: BiasSettings) -> None:
        self._guard()
        self._advance()
        self._settings = settings
        self._cutoff_hit = False

    def output_on(self) -> None:
        self._guard()
        self._advance()
        self._output, self._cutoff_hit = True, False

    def output_off(self) -> None:
        self._guard()
        self._advance()
        self._output = False

    def _operating_point(self) -> tuple[float, float, bool]:
        """(voltage, current, compliance_hit) the SMU and the cell settle at now."""
        s, cell = self._settings, self.cell
        if not self._output:
            return cell.voltage(0.0), 0.0, False
        if s.mode == "current":
            v = cell.voltage(s.setpoint)
            if abs(v) > s.compliance:
                v = math.copysign(s.compliance, v)
                return v, cell.current_at(v), True
            return v, s.setpoint, False
        i = cell.current_at(s.setpoint)
        if abs(i) > s.compliance:
            i = math.copysign(s.compliance, i)
            return cell.voltage(i), i, True
        return s.setpoint, i, False

    def _advance(self) -> None:
        """Integrate the cell up to now; switch off at a cut-off."""
        now = self._clock()
        remaining = (now - self._t_last) * self.time_scale
        self._t_last = now
        s = self._settings
        while remaining > 0:
            dt = min(remaining, self.MAX_STEP_S, 0.2 * self.cell.tau_s)
            v, i, _ = self._operating_point()
            self.cell.step(i, dt)
            remaining -= dt
            if self._output:
                v, _, _ = self._operating_point()
                if ((s.cutoff_high_V is not None and v >= s.cutoff_high_V)
                        or (s.cutoff_low_V is not None and v <= s.cutoff_low_V)):
                    self._output, self._cutoff_hit = False, True

    def read(self) -> BiasReading:
        self._guard()
        self._advance()
        v, i, hit = self._operating_point()
        if self._noise:
            v += float(self._rng.normal(0.0, 20e-6))
            i += float(self._rng.normal(0.0, 20e-15))
        return BiasReading(voltage_V=v, current_A=i, timestamp_s=time.time(),
                           compliance_hit=hit, monotonic_s=time.monotonic(),
                           output_on=self._output, cutoff_hit=self._cutoff_hit)

    def _reconnect(self) -> None:
        super()._reconnect()
        self._output = False            # a re-established SMU link starts with output off
        self._t_last = self._clock()

    def _close(self) -> None:
        self._output = False
