"""Find hardware drivers through the ``batteryscope.hardware`` entry-point group.

A lab adds a driver by declaring, in its own package::

    [project.entry-points."batteryscope.hardware"]
    mylab = "mylab_driver:MyLabDriver"

A driver that fails to import (missing dependency, syntax error, wrong class) is listed
with its error instead of breaking the program.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from .interfaces import DeviceError, Driver

GROUP = "batteryscope.hardware"
DEFAULT_DRIVER = "simulated"


@dataclass(frozen=True)
class DriverInfo:
    """One installed driver: where it comes from and whether it loads."""

    name: str
    target: str                       # "module:Class" as declared
    distribution: str                 # package that declares it ("" if unknown)
    driver_class: type | None = None  # None when it failed to load
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def description(self) -> str:
        return getattr(self.driver_class, "description", "") if self.driver_class else ""

    @property
    def options(self) -> dict:
        return dict(getattr(self.driver_class, "options", {})) if self.driver_class else {}

    def to_dict(self) -> dict:
        return {"name": self.name, "target": self.target, "distribution": self.distribution,
                "ok": self.ok, "description": self.description, "options": self.options,
                "error": self.error}


def _load(ep: EntryPoint) -> DriverInfo:
    dist = getattr(getattr(ep, "dist", None), "name", "") or ""
    try:
        cls = ep.load()
    except BaseException as exc:  # noqa: BLE001 - a third-party import may raise anything
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return DriverInfo(ep.name, ep.value, dist, None, f"{type(exc).__name__}: {exc}")
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        return DriverInfo(ep.name, ep.value, dist, None,
                          f"{ep.value} is not a batteryscope Driver subclass")
    return DriverInfo(ep.name, ep.value, dist, cls, None)


def installed_drivers(eps=None) -> list[DriverInfo]:
    """Every driver declared in the entry-point group, sorted by name (simulated first).

    ``eps`` (an iterable of EntryPoint) replaces the installed ones, for tests.
    """
    found = list(entry_points(group=GROUP) if eps is None else eps)
    seen: dict[str, DriverInfo] = {}
    for ep in found:
        if ep.name not in seen:           # the first declaration wins, as importlib does
            seen[ep.name] = _load(ep)
    return sorted(seen.values(), key=lambda d: (d.name != DEFAULT_DRIVER, d.name))


def load_driver(name: str = DEFAULT_DRIVER, eps=None) -> Driver:
    """Instantiate the named driver; DeviceError (one line) if missing or broken."""
    drivers = {d.name: d for d in installed_drivers(eps)}
    if name not in drivers:
        raise DeviceError(f"driver {name!r}",
                          f"not installed (installed: {', '.join(drivers) or 'none'})")
    info = drivers[name]
    if not info.ok:
        raise DeviceError(f"driver {name!r}", f"cannot be loaded: {info.error}")
    return info.driver_class()
