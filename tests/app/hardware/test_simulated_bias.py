"""The simulated SMU + thin-film LiFePO4 cell: voltage response, compliance, cut-offs."""
import pytest

from batteryscope.app.hardware._sim_bias import SimulatedBiasSource, ThinFilmCell
from batteryscope.app.hardware.interfaces import BiasSettings


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def smu():
    clock = FakeClock()
    source = SimulatedBiasSource("smu", ThinFilmCell(), clock=clock, noise=False)
    source.clock = clock
    return source


def test_current_step_gives_ir_drop_then_charging_rise(smu):
    smu.configure(BiasSettings(mode="current", setpoint=10e-12, compliance=5.0))
    rest = smu.read()
    assert rest.current_A == 0.0 and not rest.output_on
    smu.output_on()
    on = smu.read()
    assert on.current_A == 10e-12
    assert on.voltage_V - rest.voltage_V == pytest.approx(10e-12 * smu.cell.series_ohm, rel=1e-6)
    voltages = []
    for _ in range(5):
        smu.clock.t += 20.0
        voltages.append(smu.read().voltage_V)
    assert all(b > a for a, b in zip([on.voltage_V] + voltages, voltages))   # charges
    charge = 100.0 * 10e-12
    assert smu.cell.soc == pytest.approx(0.05 + charge / smu.cell.capacity_C, rel=1e-6)


def test_discharge_lowers_the_voltage(smu):
    smu.configure(BiasSettings(mode="current", setpoint=-5e-12, compliance=5.0))
    smu.output_on()
    v0 = smu.read().voltage_V
    smu.clock.t += 10.0
    assert smu.read().voltage_V < v0


def test_upper_cutoff_switches_the_output_off(smu):
    smu.configure(BiasSettings(mode="current", setpoint=20e-12, compliance=5.0, cutoff_high_V=3.6))
    smu.output_on()
    smu.clock.t += 200.0                 # 4 nC into a 2 nC cell: must reach the cut-off
    reading = smu.read()
    assert reading.cutoff_hit and not reading.output_on and reading.current_A == 0.0
    # stopped on the way (IR + charge-transfer polarisation reach 3.6 V before the OCV does)
    assert 0.5 < smu.cell.soc < 0.95
    assert reading.voltage_V < 3.6       # at rest the polarisation is gone
    soc = smu.cell.soc
    smu.clock.t += 100.0
    smu.read()
    assert smu.cell.soc == soc           # output off: nothing flows


def test_voltage_compliance_in_current_mode(smu):
    smu.configure(BiasSettings(mode="current", setpoint=1e-9, compliance=3.5))
    smu.output_on()
    reading = smu.read()
    assert reading.compliance_hit
    assert reading.voltage_V == pytest.approx(3.5)
    assert 0 < reading.current_A < 1e-9


def test_voltage_mode_and_its_current_limit(smu):
    smu.configure(BiasSettings(mode="voltage", setpoint=3.40, compliance=1e-6))
    smu.output_on()
    free = smu.read()
    assert not free.compliance_hit and free.voltage_V == 3.40
    ocv = smu.cell.ocv()
    assert free.current_A == pytest.approx((3.40 - ocv - smu.cell.v_ct) / smu.cell.series_ohm)
    smu.configure(BiasSettings(mode="voltage", setpoint=6.0, compliance=1e-9))
    smu.output_on()
    limited = smu.read()
    assert limited.compliance_hit and limited.current_A == pytest.approx(1e-9)
    assert limited.voltage_V < 6.0
