"""Keithley 2450-style SCPI source-measure unit through PyVISA (in-situ biasing).

Options: ``resource`` (VISA resource string, e.g. ``TCPIP0::192.168.1.20::inst0::INSTR``
or ``USB0::0x05E6::0x2450::04412345::INSTR``), ``visa_library`` (PyVISA backend:
empty for the default, ``@py`` for pyvisa-py, ``path/to/definition.yaml@sim`` for
pyvisa-sim) and ``timeout_ms``.

Commands used (2450 SCPI command set)::

    *IDN?  *RST
    :SOUR:FUNC CURR|VOLT            :SENS:FUNC "VOLT"|"CURR"
    :SOUR:CURR <A>  :SOUR:CURR?     :SOUR:CURR:VLIM <V>  :SOUR:CURR:VLIM?  :SOUR:CURR:VLIM:TRIP?
    :SOUR:VOLT <V>  :SOUR:VOLT?     :SOUR:VOLT:ILIM <A>  :SOUR:VOLT:ILIM?  :SOUR:VOLT:ILIM:TRIP?
    :OUTP 0|1  :OUTP?               :MEAS:VOLT?  :MEAS:CURR?

Every setting is read back: an instrument that refuses a value (an SCPI error string in
reply, or a read-back that differs) raises :class:`SettingError` quoting the instrument.
A VISA failure (timeout, lost session, cable) raises :class:`DeviceError` and leaves the
device in the error state until ``reconnect()``, which reopens the session and sources
nothing (output off) until told to.
"""
from __future__ import annotations

import importlib.util
import math
import time

from .interfaces import (BiasReading, BiasSettings, BiasSource, DeviceError, DeviceSet, DeviceState, Driver,
                         SettingError)

_REL_TOL = 1e-5


def _is_scpi_error(reply: str) -> bool:
    """'-222,"Parameter data out of range"' style replies."""
    head = reply.split(",", 1)[0].strip()
    return reply.count('"') >= 2 and head.lstrip("-+").isdigit() and int(head) != 0


class Keithley2450Bias(BiasSource):
    """The SMU as a BiasSource. Current mode: V measured, I = setpoint unless in compliance."""

    def __init__(self, name: str, resource: str, visa_library: str = "", timeout_ms: int = 5000):
        super().__init__(name)
        self.resource = resource
        self.visa_library = visa_library
        self.timeout_ms = int(timeout_ms)
        self._rm = None
        self._inst = None
        self.idn = ""
        self._settings = BiasSettings()
        self._output = False
        self._cutoff_hit = False
        self._connect()

    # ------------------------------------------------------------------ link
    def _connect(self) -> None:
        import pyvisa

        try:
            self._rm = pyvisa.ResourceManager(self.visa_library) if self.visa_library \
                else pyvisa.ResourceManager()
            self._inst = self._rm.open_resource(self.resource, read_termination="\n",
                                                write_termination="\n", timeout=self.timeout_ms)
            self.idn = str(self._inst.query("*IDN?")).strip()
        except Exception as exc:
            self._disconnect()
            raise self.fail(f"cannot open {self.resource}: {type(exc).__name__}: {exc}") from exc
        if not self.idn or _is_scpi_error(self.idn):
            self._disconnect()
            raise self.fail(f"{self.resource} did not identify itself (*IDN? → {self.idn!r})")
        self._output = False
        self._cutoff_hit = False

    def _disconnect(self) -> None:
        for obj in (self._inst, self._rm):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # noqa: BLE001 - closing a broken session may fail; it is gone anyway
                pass
        self._inst = self._rm = None

    def _reconnect(self) -> None:
        self._disconnect()
        self._connect()
        self._apply(self._settings)           # restore the source settings, output off

    def _close(self) -> None:
        try:
            if self._inst is not None and self._state is not DeviceState.ERROR:
                self._inst.write(":OUTP 0")
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        self._disconnect()

    # ------------------------------------------------------------------ SCPI helpers
    def _write(self, command: str) -> None:
        try:
            self._inst.write(command)
        except Exception as exc:
            raise self.fail(f"write {command!r} failed: {type(exc).__name__}: {exc}") from exc

    def _query(self, command: str) -> str:
        try:
            return str(self._inst.query(command)).strip()
        except Exception as exc:
            raise self.fail(f"query {command!r} failed: {type(exc).__name__}: {exc}") from exc

    def _query_float(self, command: str) -> float:
        reply = self._query(command)
        try:
            return float(reply)
        except ValueError:
            raise self.fail(f"{command} returned {reply!r}, not a number") from None

    def _set_checked(self, setting: str, command: str, query: str, value: float) -> None:
        """Write ``command value`` and verify the read-back; SettingError if refused."""
        self._write(f"{command} {value:e}")
        reply = self._query(query)
        if _is_scpi_error(reply):
            try:                                  # the read-back follows the error string
                self._inst.read()
            except Exception:  # noqa: BLE001 - a real SMU queues errors elsewhere
                pass
            raise SettingError(setting, value, f"within the instrument's range (it replied {reply})",
                               self.label)
        try:
            got = float(reply)
        except ValueError:
            raise self.fail(f"{query} returned {reply!r}, not a number") from None
        if not math.isclose(got, value, rel_tol=_REL_TOL, abs_tol=1e-15):
            raise SettingError(setting, value, f"within the instrument's range (it kept {got:g})",
                               self.label)

    # ------------------------------------------------------------------ BiasSource
    @property
    def settings(self) -> BiasSettings:
        return self._settings

    @property
    def output(self) -> bool:
        return self._output

    def _apply(self, s: BiasSettings) -> None:
        self._write(":OUTP 0")
        self._output = False
        if s.mode == "current":
            self._write(":SOUR:FUNC CURR")
            self._write(':SENS:FUNC "VOLT"')
            self._set_checked("compliance", ":SOUR:CURR:VLIM", ":SOUR:CURR:VLIM?", s.compliance)
            self._set_checked("setpoint", ":SOUR:CURR", ":SOUR:CURR?", s.setpoint)
        else:
            self._write(":SOUR:FUNC VOLT")
            self._write(':SENS:FUNC "CURR"')
            self._set_checked("compliance", ":SOUR:VOLT:ILIM", ":SOUR:VOLT:ILIM?", s.compliance)
            self._set_checked("setpoint", ":SOUR:VOLT", ":SOUR:VOLT?", s.setpoint)

    def configure(self, settings: BiasSettings) -> None:
        """Apply settings with the output switched off (switch on with output_on)."""
        self.check_usable()
        if not isinstance(settings, BiasSettings):
            raise TypeError("configure() takes a BiasSettings")
        self._apply(settings)
        self._settings = settings
        self._cutoff_hit = False

    def output_on(self) -> None:
        self.check_usable()
        self._write(":OUTP 1")
        if self._query(":OUTP?") not in ("1", "ON"):
            raise self.fail("output did not switch on")
        self._output, self._cutoff_hit = True, False

    def output_off(self) -> None:
        self.check_usable()
        self._write(":OUTP 0")
        self._output = False

    def read(self) -> BiasReading:
        self.check_usable()
        s = self._settings
        if s.mode == "current":
            v = self._query_float(":MEAS:VOLT?")
            hit = self._output and self._query_float(":SOUR:CURR:VLIM:TRIP?") != 0
            i = self._query_float(":MEAS:CURR?") if hit or not self._output else s.setpoint
        else:
            i = self._query_float(":MEAS:CURR?")
            hit = self._output and self._query_float(":SOUR:VOLT:ILIM:TRIP?") != 0
            v = self._query_float(":MEAS:VOLT?") if hit or not self._output else s.setpoint
        if self._output and ((s.cutoff_high_V is not None and v >= s.cutoff_high_V)
                             or (s.cutoff_low_V is not None and v <= s.cutoff_low_V)):
            self._write(":OUTP 0")
            self._output, self._cutoff_hit = False, True
        return BiasReading(voltage_V=v, current_A=i if self._output or self._cutoff_hit else 0.0,
                           timestamp_s=time.time(), compliance_hit=bool(hit),
                           monotonic_s=time.monotonic(), output_on=self._output,
                           cutoff_hit=self._cutoff_hit)


class Keithley2450Driver(Driver):
    name = "keithley2450"
    description = "Keithley 2450-style SCPI source-measure unit through PyVISA (bias source)"
    options = {
        "resource": "VISA resource string, e.g. TCPIP0::192.168.1.20::inst0::INSTR (required)",
        "visa_library": "PyVISA backend: '' default, '@py' pyvisa-py, 'file.yaml@sim' pyvisa-sim",
        "timeout_ms": "I/O timeout in ms (default 5000)",
    }

    def _open(self, *, resource: str | None = None, visa_library: str = "",
              timeout_ms: int = 5000) -> DeviceSet:
        if not resource:
            raise SettingError("resource", resource, "a VISA resource string such as "
                               "TCPIP0::192.168.1.20::inst0::INSTR")
        if importlib.util.find_spec("pyvisa") is None:
            raise DeviceError(f"driver {self.name!r}", "needs the pyvisa package (pip install pyvisa)")
        return DeviceSet(bias=Keithley2450Bias("keithley2450", str(resource), str(visa_library),
                                               int(timeout_ms)))
