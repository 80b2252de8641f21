"""Electron dose: dose rate from the probe, cumulative dose per specimen region, budgets.

Beam-sensitive solid electrolytes (LLZO, LiPON, sulfides) amorphise or lose Li after a
few hundred to a few thousand e/Å²: the tracker keeps the dose every region of the
specimen has received and calls an alarm once a region's budget is used up.

A *region* is the field of view of an exposure: a rectangle on the specimen centred on the
stage position (µm). An exposure of areal dose ``d`` (e/Å²) over footprint F raises the
mean dose of every known region R by ``d × area(F ∩ R) / area(R)``; a region seen for the
first time starts with what earlier exposures already gave it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

ELEMENTARY_CHARGE_C = 1.602176634e-19


def pixel_dose_e_per_A2(beam_current_A: float, pixel_size_A: float, dwell_s: float) -> float:
    """Dose one scan pass gives a pixel: ``I · dwell / (e · pixel²)`` in e/Å²."""
    if pixel_size_A <= 0 or dwell_s < 0 or beam_current_A < 0:
        raise ValueError("pixel size must be > 0, dwell and current ≥ 0")
    return beam_current_A * dwell_s / (ELEMENTARY_CHARGE_C * pixel_size_A ** 2)


def dose_rate_e_per_A2_s(beam_current_A: float, pixel_size_A: float, dwell_s: float, *,
                         pixels_per_frame: int, flyback_s: float = 0.0) -> float:
    """Mean dose rate (e/Å²/s) over a field scanned repeatedly.

    Each pass gives every pixel :func:`pixel_dose_e_per_A2`; a pass takes
    ``pixels_per_frame · dwell + flyback`` seconds.
    """
    if pixels_per_frame < 1:
        raise ValueError("pixels_per_frame must be ≥ 1")
    frame_time = pixels_per_frame * dwell_s + flyback_s
    if frame_time <= 0:
        raise ValueError("frame time must be > 0")
    return pixel_dose_e_per_A2(beam_current_A, pixel_size_A, dwell_s) / frame_time


def flood_dose_rate_e_per_A2_s(beam_current_A: float, illuminated_area_A2: float) -> float:
    """Dose rate of parallel (TEM) illumination spread evenly over ``illuminated_area_A2``."""
    if illuminated_area_A2 <= 0:
        raise ValueError("illuminated area must be > 0")
    return beam_current_A / ELEMENTARY_CHARGE_C / illuminated_area_A2


@dataclass
class SpecimenRegion:
    """A field of view on the specimen (µm) and the mean dose it has received (e/Å²)."""

    x_um: float
    y_um: float
    width_um: float
    height_um: float
    dose_e_per_A2: float = 0.0
    delivered_e_per_A2: float = 0.0   # areal dose of the exposures of exactly this field
    alarmed: bool = False

    @property
    def area_um2(self) -> float:
        return self.width_um * self.height_um

    def overlap_um2(self, other: "SpecimenRegion") -> float:
        dx = min(self.x_um + self.width_um / 2, other.x_um + other.width_um / 2) - \
            max(self.x_um - self.width_um / 2, other.x_um - other.width_um / 2)
        dy = min(self.y_um + self.height_um / 2, other.y_um + other.height_um / 2) - \
            max(self.y_um - self.height_um / 2, other.y_um - other.height_um / 2)
        return max(dx, 0.0) * max(dy, 0.0)

    def same_field(self, x_um, y_um, width_um, height_um, tolerance: float) -> bool:
        return (abs(self.x_um - x_um) <= tolerance * self.width_um
                and abs(self.y_um - y_um) <= tolerance * self.height_um
                and abs(self.width_um - width_um) <= tolerance * self.width_um
                and abs(self.height_um - height_um) <= tolerance * self.height_um)


class DoseTracker:
    """Cumulative dose per specimen region, with a per-region budget and an alarm.

    Parameters
    ----------
    budget_e_per_A2 : float, optional
        Dose a region may receive; crossing it calls ``on_alarm(region)`` once per region.
    on_alarm : callable(SpecimenRegion), optional
        Called from the thread that reported the exposure (keep it short).
    tolerance : float
        Fields whose centres and sizes agree within this fraction are the same region.

    Thread-safe: the acquisition thread calls :meth:`expose`, the GUI reads :meth:`regions`.
    """

    def __init__(self, budget_e_per_A2: float | None = None,
                 on_alarm: Callable[[SpecimenRegion], None] | None = None, *,
                 tolerance: float = 0.05):
        if budget_e_per_A2 is not None and budget_e_per_A2 <= 0:
            raise ValueError("a dose budget must be > 0 e/Å²")
        self.budget_e_per_A2 = budget_e_per_A2
        self.on_alarm = on_alarm
        self.tolerance = tolerance
        self._regions: list[SpecimenRegion] = []
        self._lock = threading.Lock()
        self._last: SpecimenRegion | None = None

    def region_at(self, x_um: float, y_um: float, width_um: float, height_um: float) -> SpecimenRegion:
        """The region of this field of view (created, with its dose so far, if new)."""
        with self._lock:
            return self._region_at(x_um, y_um, width_um, height_um)

    def _region_at(self, x_um, y_um, width_um, height_um) -> SpecimenRegion:
        last = self._last
        if last is not None and last.same_field(x_um, y_um, width_um, height_um, self.tolerance):
            return last
        for region in self._regions:
            if region.same_field(x_um, y_um, width_um, height_um, self.tolerance):
                self._last = region
                return region
        if width_um <= 0 or height_um <= 0:
            raise ValueError("a field of view must have a positive width and height")
        new = SpecimenRegion(float(x_um), float(y_um), float(width_um), float(height_um))
        new.dose_e_per_A2 = sum(r.delivered_e_per_A2 * r.overlap_um2(new) / new.area_um2
                                for r in self._regions)
        self._regions.append(new)
        self._last = new
        return new

    def expose(self, x_um: float, y_um: float, width_um: float, height_um: float,
               dose_e_per_A2: float) -> float:
        """Add an exposure of ``dose_e_per_A2`` over this field; return the field's total dose."""
        if not dose_e_per_A2 >= 0:
            raise ValueError(f"dose must be ≥ 0, got {dose_e_per_A2}")
        alarms = []
        with self._lock:
            field = self._region_at(x_um, y_um, width_um, height_um)
            field.delivered_e_per_A2 += dose_e_per_A2
            for region in self._regions:
                if region is field:
                    region.dose_e_per_A2 += dose_e_per_A2
                else:
                    overlap = field.overlap_um2(region)
                    if overlap > 0:
                        region.dose_e_per_A2 += dose_e_per_A2 * overlap / region.area_um2
                if (self.budget_e_per_A2 is not None and not region.alarmed
                        and region.dose_e_per_A2 >= self.budget_e_per_A2):
                    region.alarmed = True
                    alarms.append(region)
            total = field.dose_e_per_A2
        for region in alarms:
            if self.on_alarm is not None:
                self.on_alarm(region)
        return total

    def regions(self) -> list[SpecimenRegion]:
        """Copies of every region seen so far, in the order first seen."""
        with self._lock:
            return [SpecimenRegion(**vars(r)) for r in self._regions]

    def remaining_e_per_A2(self, x_um, y_um, width_um, height_um) -> float | None:
        """Budget left for this field (None without a budget)."""
        if self.budget_e_per_A2 is None:
            return None
        return self.budget_e_per_A2 - self.region_at(x_um, y_um, width_um, height_um).dose_e_per_A2
