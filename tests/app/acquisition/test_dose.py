"""Dose rate from the probe, cumulative dose per specimen region, budget alarm."""
import pytest

from batteryscope.app.acquisition.dose import (DoseTracker, dose_rate_e_per_A2_s,
                                               flood_dose_rate_e_per_A2_s, pixel_dose_e_per_A2)

E = 1.602176634e-19


def test_dose_rate_from_current_pixel_size_and_dwell():
    # 50 pA, 1 µs dwell, 0.5 Å pixels: 312.1 electrons per pixel on 0.25 Å² -> 1248 e/Å² per pass
    per_pass = pixel_dose_e_per_A2(50e-12, 0.5, 1e-6)
    assert per_pass == pytest.approx(50e-12 * 1e-6 / E / 0.25)
    assert per_pass == pytest.approx(1248.3, rel=1e-3)
    # a 256 × 256 scan takes 65.5 ms (+ 5 ms flyback): the field's mean rate
    rate = dose_rate_e_per_A2_s(50e-12, 0.5, 1e-6, pixels_per_frame=256 * 256, flyback_s=5e-3)
    assert rate == pytest.approx(per_pass / (0.065536 + 5e-3))
    # without flyback the mean rate is the current spread over the scanned area
    rate = dose_rate_e_per_A2_s(50e-12, 0.5, 1e-6, pixels_per_frame=256 * 256)
    assert rate == pytest.approx(flood_dose_rate_e_per_A2_s(50e-12, 256 * 256 * 0.25))
    with pytest.raises(ValueError):
        pixel_dose_e_per_A2(1e-12, 0.0, 1e-6)


def test_cumulative_dose_per_region_with_overlaps_and_a_budget_alarm():
    alarms = []
    tracker = DoseTracker(100.0, alarms.append)
    for _ in range(4):
        assert tracker.expose(0.0, 0.0, 1.0, 1.0, 20.0) > 0
    assert tracker.region_at(0.0, 0.0, 1.0, 1.0).dose_e_per_A2 == pytest.approx(80.0)
    # a field shifted by half its width: it already had half of the 80 e/Å²
    assert tracker.region_at(0.5, 0.0, 1.0, 1.0).dose_e_per_A2 == pytest.approx(40.0)
    # exposing the shifted field gives the first one half of that dose: 80 + 30 crosses 100
    assert tracker.expose(0.5, 0.0, 1.0, 1.0, 60.0) == pytest.approx(100.0)
    assert [round(r.dose_e_per_A2, 6) for r in tracker.regions()] == [110.0, 100.0]
    assert len(alarms) == 2                       # each region alarms once, when crossing
    tracker.expose(0.0, 0.0, 1.0, 1.0, 1.0)
    assert len(alarms) == 2
    # a far-away field is untouched; the same field within 5 % tolerance is the same region
    assert tracker.region_at(10.0, 10.0, 1.0, 1.0).dose_e_per_A2 == 0.0
    assert tracker.region_at(0.01, 0.0, 1.0, 1.0).dose_e_per_A2 == pytest.approx(111.0)
    assert tracker.remaining_e_per_A2(10.0, 10.0, 1.0, 1.0) == 100.0
    with pytest.raises(ValueError):
        tracker.expose(0, 0, 1, 1, -1.0)
    with pytest.raises(ValueError):
        DoseTracker(0.0)
