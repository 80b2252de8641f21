"""``batteryscope acquire-si``: record an EELS spectrum image (with HAADF) headless.

    batteryscope acquire-si [--driver simulated] [--shape 64x64] [--dwell 0.001]
                            [--channels 1024] [--dispersion 0.25] [--offset 400] --out FILE.zspy

Rows are written as they are scanned; ``hyperspy.api.load(FILE)`` returns
[EELS spectrum image, HAADF image]. Prints rows acquired / recorded / dropped.
"""
from __future__ import annotations

import argparse

from .headless_run import add_common_arguments, check_out_path, open_devices, run_foreground


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS, e.g. 64x64, got {text!r}") from None
    return rows, cols


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope acquire-si",
                                description="Record an EELS spectrum image to a .zspy store, headless.")
    p.add_argument("--shape", type=_shape, default=(64, 64), metavar="ROWSxCOLS",
                   help="scan positions (default 64x64)")
    p.add_argument("--dwell", type=float, default=1e-3, metavar="S", help="dwell per position (s)")
    p.add_argument("--channels", type=int, default=1024, help="spectrum channels (default 1024)")
    p.add_argument("--dispersion", type=float, default=0.25, metavar="EV", help="eV per channel")
    p.add_argument("--offset", type=float, default=400.0, metavar="EV", help="first channel (eV)")
    p.add_argument("--pixel-size-A", type=float, metavar="A",
                   help="scan pixel size in Å (default: the microscope's)")
    p.add_argument("--chunk", type=int, default=4, help="scan rows per file chunk (default 4)")
    add_common_arguments(p)
    return p


def run(args) -> int:
    from ..hardware.interfaces import SpectrumImageSettings
    from .dose import DoseTracker
    from .engine import AcquisitionEngine, AcquisitionError, ContextSampler
    from .recording_layouts import spectrum_image_recording
    from .sources import SpectrumImageSource
    from .acquire_command import _instrument_metadata

    path = check_out_path(args.out)
    if args.chunk < 1:
        raise AcquisitionError("--chunk must be ≥ 1")
    settings = SpectrumImageSettings(shape=args.shape, dwell_s=args.dwell, channels=args.channels,
                                     dispersion_eV=args.dispersion, offset_eV=args.offset,
                                     pixel_size_A=args.pixel_size_A)
    driver, devices = open_devices(args)
    try:
        if devices.scan is None:
            raise AcquisitionError(f"driver {args.driver!r} has no STEM scan unit")
        rows, cols = settings.shape
        pixel_A = args.pixel_size_A
        if pixel_A is None and devices.microscope is not None:
            # Microscope.pixel_size_A is for the reference 256-pixel-wide scan
            pixel_A = devices.microscope.pixel_size_A * 256 / cols
        fov_um = (cols * pixel_A * 1e-4, rows * pixel_A * 1e-4) if pixel_A else (1.0, 1.0)
        engine_holder = {}

        def on_alarm(region):
            engine_holder["engine"].abort(f"dose budget of {args.dose_budget:g} e/Å² reached "
                                          f"({region.dose_e_per_A2:.4g} e/Å²)")

        tracker = DoseTracker(args.dose_budget, on_alarm) if args.dose_budget else DoseTracker()
        source = SpectrumImageSource(devices.scan, settings)
        sampler = ContextSampler(bias=devices.bias if args.bias else None, stage=devices.stage)
        engine = AcquisitionEngine(source, ring_capacity=max(8, 4 * args.chunk), dose_tracker=tracker,
                                   field_of_view_um=fov_um, field_fraction_per_item=1.0 / rows,
                                   sampler=sampler,
                                   device_timeout_s=max(5.0, 20 * cols * args.dwell))
        engine_holder["engine"] = engine
        metadata = _instrument_metadata(devices)
        metadata.setdefault("Acquisition", {})["spectrum_image_settings"] = source.settings()
        recording = spectrum_image_recording(path, settings,
                                             pixel_size_nm=pixel_A / 10 if pixel_A else None,
                                             chunk_rows=args.chunk, metadata=metadata,
                                             fsync=args.fsync)
        engine.start(recording=recording)
        return run_foreground(engine, quiet=args.quiet, total=rows, what="rows")
    finally:
        driver.close()
