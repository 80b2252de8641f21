"""Drivers found through the batteryscope.hardware entry points; broken ones listed, not fatal."""
from importlib.metadata import EntryPoint

import pytest

from batteryscope.app.hardware.discovery import installed_drivers, load_driver
from batteryscope.app.hardware.interfaces import DeviceError, Driver
from batteryscope.app.hardware.simulated import SimulatedDriver


def test_built_in_drivers_are_installed_and_load():
    drivers = {d.name: d for d in installed_drivers()}
    assert {"simulated", "keithley2450", "merlin"} <= set(drivers)
    for name in ("simulated", "keithley2450", "merlin"):
        assert drivers[name].ok, drivers[name].error
        assert issubclass(drivers[name].driver_class, Driver)
        assert drivers[name].driver_class.name == name
    assert installed_drivers()[0].name == "simulated"        # the default comes first


def test_broken_third_party_driver_is_listed_with_its_error():
    eps = [
        EntryPoint("simulated", "batteryscope.app.hardware.simulated:SimulatedDriver",
                   "batteryscope.hardware"),
        EntryPoint("ghost", "no_such_lab_package.driver:GhostDriver", "batteryscope.hardware"),
        EntryPoint("notadriver", "json:dumps", "batteryscope.hardware"),
    ]
    drivers = {d.name: d for d in installed_drivers(eps)}
    assert drivers["simulated"].ok
    assert not drivers["ghost"].ok and "ModuleNotFoundError" in drivers["ghost"].error
    assert not drivers["notadriver"].ok and "not a batteryscope Driver" in drivers["notadriver"].error
    with pytest.raises(DeviceError, match="ghost.*cannot be loaded.*no_such_lab_package"):
        load_driver("ghost", eps)
    with pytest.raises(DeviceError, match="not installed"):
        load_driver("absent", eps)
    assert isinstance(load_driver("simulated", eps), SimulatedDriver)


def test_unknown_driver_option_is_refused():
    with pytest.raises(ValueError, match="unknown option.*colour"):
        SimulatedDriver().open(colour="blue")


def test_reconnect_before_open_is_a_clear_error():
    with pytest.raises(DeviceError, match="not opened"):
        SimulatedDriver().reconnect()
