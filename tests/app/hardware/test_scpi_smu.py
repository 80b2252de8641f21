"""Keithley 2450-style SMU driver against a pyvisa-sim instrument (in-process, no hardware)."""
import pathlib
import time

import pytest

from batteryscope.app.hardware.interfaces import BiasSettings, DeviceError, DeviceState, SettingError

pytest.importorskip("pyvisa")
pytest.importorskip("pyvisa_sim", reason="pyvisa-sim (test extra) is not installed")

from batteryscope.app.hardware.scpi_smu import Keithley2450Driver  # noqa: E402

SMU_YAML = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "smu2450_sim.yaml"
SMU_RESOURCE = "TCPIP0::127.0.0.1::inst0::INSTR"


@pytest.fixture
def smu():
    driver = Keithley2450Driver()
    devices = driver.open(resource=SMU_RESOURCE, visa_library=f"{SMU_YAML}@sim")
    yield devices.bias
    driver.close()


def backdoor(smu, command):
    """pyvisa-sim cannot compute a cell: test-only commands set what the SMU measures."""
    smu._inst.write(command)


def test_identifies_and_sources_picoamps(smu):
    assert "MODEL 2450" in smu.idn
    smu.configure(BiasSettings(mode="current", setpoint=2.5e-12, compliance=4.2))
    assert float(smu._inst.query(":SOUR:CURR?")) == pytest.approx(2.5e-12)
    assert float(smu._inst.query(":SOUR:CURR:VLIM?")) == pytest.approx(4.2)
    assert smu._inst.query(":SOUR:FUNC?").strip() == "CURR"
    assert not smu.output
    smu.output_on()
    backdoor(smu, ":SIM:VOLT 3.4321")
    reading = smu.read()
    assert reading.voltage_V == pytest.approx(3.4321)
    assert reading.current_A == pytest.approx(2.5e-12)
    assert reading.output_on and not reading.compliance_hit
    smu.output_off()
    assert smu._inst.query(":OUTP?").strip() == "0"


def test_compliance_reads_the_measured_current(smu):
    smu.configure(BiasSettings(mode="current", setpoint=1e-9, compliance=3.5))
    smu.output_on()
    backdoor(smu, ":SIM:VTRIP 1")
    backdoor(smu, ":SIM:VOLT 3.5")
    backdoor(smu, ":SIM:CURR 4.0e-10")
    reading = smu.read()
    assert reading.compliance_hit and reading.current_A == pytest.approx(4e-10)


def test_voltage_mode(smu):
    smu.configure(BiasSettings(mode="voltage", setpoint=3.6, compliance=1e-6))
    assert smu._inst.query(":SOUR:FUNC?").strip() == "VOLT"
    smu.output_on()
    backdoor(smu, ":SIM:CURR 7.5e-12")
    reading = smu.read()
    assert reading.voltage_V == pytest.approx(3.6) and reading.current_A == pytest.approx(7.5e-12)


def test_cutoff_switches_the_instrument_output_off(smu):
    smu.configure(BiasSettings(mode="current", setpoint=5e-12, compliance=5.0, cutoff_high_V=3.9))
    smu.output_on()
    backdoor(smu, ":SIM:VOLT 3.8")
    assert smu.read().output_on
    backdoor(smu, ":SIM:VOLT 3.95")
    reading = smu.read()
    assert reading.cutoff_hit and not reading.output_on
    assert smu._inst.query(":OUTP?").strip() == "0"


def test_instrument_refusal_is_a_setting_error_and_replies_stay_in_step(smu):
    # this unit's voltage limit stops at 21 V although a 2450 allows 210 V on its top range
    with pytest.raises(SettingError, match=r"compliance = 25.0 .*-222,\"Parameter data out of range\""):
        smu.configure(BiasSettings(mode="current", setpoint=1e-12, compliance=25.0))
    assert smu.state is DeviceState.IDLE
    smu.configure(BiasSettings(mode="current", setpoint=3e-12, compliance=5.0))
    assert float(smu._inst.query(":SOUR:CURR?")) == pytest.approx(3e-12)   # no shifted reply


def test_lost_session_is_a_device_error_until_reconnect(smu):
    smu.configure(BiasSettings(mode="current", setpoint=1e-12, compliance=5.0))
    smu._inst.close()                                     # the link goes away underneath
    with pytest.raises(DeviceError, match=r"^bias 'keithley2450': query ':MEAS:VOLT\?' failed"):
        smu.read()
    assert smu.state is DeviceState.ERROR
    with pytest.raises(DeviceError, match="reconnect first"):
        smu.output_on()
    smu.reconnect()
    assert smu.state is DeviceState.IDLE and not smu.output
    assert float(smu._inst.query(":SOUR:CURR?")) == pytest.approx(1e-12)   # settings restored
    smu.read()


def test_round_trip_time(smu):
    smu.configure(BiasSettings(mode="current", setpoint=1e-12, compliance=5.0))
    smu.output_on()
    n, t0 = 200, time.perf_counter()
    for _ in range(n):
        smu.read()
    per_read_ms = (time.perf_counter() - t0) / n * 1e3
    print(f"\nSMU read() via pyvisa-sim: {per_read_ms:.3f} ms (3 SCPI queries)")
    assert per_read_ms < 100


@pytest.mark.filterwarnings("ignore:read string doesn't end with termination characters")
def test_driver_options_are_checked():
    with pytest.raises(SettingError, match="resource"):
        Keithley2450Driver().open()
    with pytest.raises(DeviceError, match=r"^bias 'keithley2450': .*10\.9\.9\.9"):
        Keithley2450Driver().open(resource="TCPIP0::10.9.9.9::inst0::INSTR",
                                  visa_library=f"{SMU_YAML}@sim")
