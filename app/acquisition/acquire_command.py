"""``batteryscope acquire``: record camera frames headless (simulated microscope by default).

    batteryscope acquire [--driver simulated] [--frames N | --seconds S] [--size 1024]
                         [--fps 400] --out FILE.zspy

Prints frames acquired / recorded / dropped. A device failure or a full disk stops the
run cleanly: the file keeps every frame recorded before, and the error is one line on
stderr (non-zero exit).
"""
from __future__ import annotations

import argparse

from .headless_run import add_common_arguments, check_out_path, open_devices, run_foreground


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batteryscope acquire",
                                description="Record camera frames to a .zspy store, headless.")
    n = p.add_mutually_exclusive_group()
    n.add_argument("--frames", type=int, metavar="N", help="frames to record (default 100)")
    n.add_argument("--seconds", type=float, metavar="S", help="record for S seconds")
    p.add_argument("--size", type=int, default=1024, help="frame width = height in pixels (default 1024)")
    p.add_argument("--fps", type=float, default=400.0, help="frame rate (default 400)")
    p.add_argument("--binning", type=int, default=1, choices=(1, 2, 4, 8))
    p.add_argument("--pixel-size-A", type=float, metavar="A",
                   help="specimen pixel size in Å (calibrates the file and the dose regions)")
    p.add_argument("--chunk", type=int, default=16, help="frames per file chunk (default 16)")
    p.add_argument("--ring", type=int, default=128, help="ring buffer frames (default 128)")
    p.add_argument("--overflow", choices=("block", "stop"), default="block",
                   help="when the disk falls a whole ring behind: wait (then stop) or stop at once")
    add_common_arguments(p)
    return p


def run(args) -> int:
    from ..hardware.interfaces import CameraSettings
    from .dose import DoseTracker
    from .engine import AcquisitionEngine, AcquisitionError, ContextSampler
    from .recording_layouts import movie_recording
    from .sources import CameraSource

    path = check_out_path(args.out)
    if args.frames is not None and args.frames < 1:
        raise AcquisitionError("--frames must be ≥ 1")
    if args.chunk < 1 or args.ring < 2:
        raise AcquisitionError("--chunk must be ≥ 1 and --ring ≥ 2")
    frames = args.frames if args.frames is not None or args.seconds is not None else 100
    driver, devices = open_devices(args)
    try:
        camera = devices.camera
        if camera is None:
            raise AcquisitionError(f"driver {args.driver!r} has no camera")
        if args.fps <= 0:
            raise AcquisitionError("--fps must be > 0")
        camera.configure(CameraSettings(exposure_s=1.0 / args.fps,   # frame rate = 1 / exposure
                                        size=(args.size, args.size), binning=args.binning))
        h, w = camera.frame_shape
        pixel_nm = args.pixel_size_A / 10 if args.pixel_size_A else None
        fov_um = (w * args.pixel_size_A * 1e-4, h * args.pixel_size_A * 1e-4) if args.pixel_size_A else None
        engine_holder = {}

        def on_alarm(region):
            engine_holder["engine"].abort(
                f"dose budget of {args.dose_budget:g} e/Å² reached in the region at stage "
                f"({region.x_um:.3f}, {region.y_um:.3f}) µm ({region.dose_e_per_A2:.4g} e/Å²)")

        tracker = DoseTracker(args.dose_budget, on_alarm) if args.dose_budget else DoseTracker()
        sampler = ContextSampler(bias=devices.bias if args.bias else None, stage=devices.stage)
        engine = AcquisitionEngine(CameraSource(camera), ring_capacity=args.ring,
                                   overflow=args.overflow, dose_tracker=tracker,
                                   field_of_view_um=fov_um or (1.0, 1.0), sampler=sampler)
        engine_holder["engine"] = engine
        expected = frames if frames else int(args.seconds * args.fps * 1.05) + args.chunk
        metadata = _instrument_metadata(devices)
        metadata.setdefault("Acquisition", {})["camera_settings"] = CameraSource(camera).settings()
        recording = movie_recording(path, (h, w), camera.dtype, frame_interval_s=1.0 / args.fps,
                                    pixel_size_nm=pixel_nm, expected_frames=expected,
                                    chunk_frames=args.chunk, metadata=metadata, fsync=args.fsync)
        if args.bias and devices.bias is not None:
            devices.bias.output_on()
        engine.start(frames=frames, duration_s=args.seconds, recording=recording)
        return run_foreground(engine, quiet=args.quiet, total=frames)
    finally:
        if args.bias and devices.bias is not None:
            try:
                devices.bias.output_off()
            except Exception:
                pass
        driver.close()


def _instrument_metadata(devices) -> dict:
    """HyperSpy's Acquisition_instrument.TEM from the microscope, if the driver has one."""
    m = devices.microscope
    if m is None:
        return {}
    try:
        return {"Acquisition_instrument": {"TEM": {
            "beam_energy": m.high_tension_V / 1e3, "beam_current": m.beam_current_A * 1e9,
            "magnification": m.magnification}}}
    except Exception:  # the file is still worth writing without them
        return {}
