"""Quantum Detectors Merlin (Medipix3) pixelated detector over its TCP protocol.

Two sockets (Merlin defaults: control 6341, data 6342):

* control: request ``MPX,<10-digit length>,<GET|SET|CMD>,<name>[,<value>]``, where the
  length counts the bytes after the length field (its comma included); the reply repeats
  the verb and name, carries the value for GET, and ends with an error code
  (0 ok, 1 busy, 2 unknown command, 3 parameter out of range);
* data: a stream of ``MPX,<10-digit length>,<payload>`` messages. The first payload of
  an acquisition is the acquisition header (``HDR,`` then tab-separated ``key: value``
  lines up to ``End``); each frame payload is a MIB frame: an ASCII header of
  ``header_size`` bytes (``MQ1,<seq>,<header_size>,<chips>,<width>,<height>,<U08|U16|U32>,
  <layout>,<chip select>,<timestamp>,<shutter s>,…``) followed by big-endian pixels.

:class:`MerlinCamera` reads synchronously in ``read_frame`` into the caller's buffer
(the only per-frame work is one ``recv_into`` into a reused byte buffer and one
byte-swapping copy); TCP buffers the frames the reader has not taken yet.
"""
from __future__ import annotations

import select
import socket
import time

import numpy as np

from .interfaces import (Camera, CameraSettings, DeviceError, DeviceSet, DeviceState, Driver,
                         FrameMeta, SettingError, check_range)

_PREFIX_LEN = 15                      # b"MPX,0000001234,"
_DTYPES = {"U01": ">u1", "U08": ">u1", "U16": ">u2", "U32": ">u4"}
_DEPTH_DTYPE = {1: np.uint8, 6: np.uint8, 12: np.uint16, 24: np.uint32}
_ERROR_CODES = {"1": "busy", "2": "command not recognised", "3": "parameter out of range"}


def _recv_exact(sock: socket.socket, view: memoryview, deadline: float) -> None:
    """Fill ``view`` from ``sock`` before ``deadline`` (monotonic); ConnectionError on EOF."""
    got, n = 0, len(view)
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"message incomplete: {got} of {n} bytes")
        sock.settimeout(remaining)
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("connection closed by the detector")
        got += k


def _parse_prefix(prefix: bytes) -> int:
    if prefix[:4] != b"MPX," or prefix[14:15] != b",":
        raise ValueError(f"bad message prefix {bytes(prefix)!r}")
    return int(prefix[4:14])


def parse_acquisition_header(payload: bytes) -> dict[str, str]:
    """``HDR,`` block → {key: value} (keys without their trailing colon)."""
    keys = {}
    for line in payload.decode("latin1").splitlines():
        if line.startswith("HDR") or line.startswith("End"):
            continue
        if "\t" in line:
            key, value = line.split("\t", 1)
            keys[key.strip().rstrip(":")] = value.strip()
    return keys


def parse_frame_header(header: bytes) -> dict:
    """The fields of a MIB frame header that the reader needs."""
    fields = header.split(b"\x00", 1)[0].decode("ascii", "replace").split(",")
    if len(fields) < 11 or fields[0] != "MQ1":
        raise ValueError(f"not a MIB frame header: {header[:40]!r}")
    dtype = fields[6].strip()
    if dtype not in _DTYPES:
        raise ValueError(f"pixel format {dtype!r} not supported (U08/U16/U32; set RAW mode off)")
    return {"sequence": int(fields[1]), "header_size": int(fields[2]), "chips": int(fields[3]),
            "width": int(fields[4]), "height": int(fields[5]), "dtype": _DTYPES[dtype],
            "layout": fields[7].strip(), "timestamp": fields[9].strip(),
            "shutter_s": float(fields[10])}


class MerlinControl:
    """The control socket: ``get``, ``set`` and ``cmd``."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock = socket.create_connection((host, port), timeout=timeout_s)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def _request(self, *parts: str) -> list[str]:
        body = ",".join(parts).encode("ascii")
        self._sock.sendall(b"MPX,%010d,%s" % (len(body) + 1, body))
        deadline = time.monotonic() + self.timeout_s
        prefix = bytearray(_PREFIX_LEN)
        _recv_exact(self._sock, memoryview(prefix), deadline)
        length = _parse_prefix(prefix)
        payload = bytearray(max(length - 1, 0))
        _recv_exact(self._sock, memoryview(payload), deadline)
        # Some servers count the length without the comma: take what is already waiting.
        readable, _, _ = select.select([self._sock], [], [], 0.02)
        if readable:
            self._sock.settimeout(0.02)
            try:
                payload += self._sock.recv(64)
            except (TimeoutError, BlockingIOError):
                pass
        reply = payload.decode("ascii", "replace").split(",")
        if len(reply) < 3 or reply[0].upper() != parts[0].upper() or reply[1].upper() != parts[1].upper():
            raise ConnectionError(f"unexpected reply {payload!r} to {body!r}")
        code = reply[-1].strip()
        if code != "0":
            if code == "3":
                raise SettingError(parts[1], parts[2] if len(parts) > 2 else None,
                                   "what the detector accepts (it answered: parameter out of range)",
                                   "Merlin")
            raise DeviceError("Merlin", f"{','.join(parts)}: {_ERROR_CODES.get(code, 'error ' + code)}")
        return reply

    def get(self, name: str) -> str:
        return self._request("GET", name)[2]

    def set(self, name: str, value) -> None:
        self._request("SET", name, str(value))

    def cmd(self, name: str) -> None:
        self._request("CMD", name)


class MerlinCamera(Camera):
    """Merlin as a Camera. ``trigger='soft'`` starts each acquisition with SOFTTRIGGER."""

    def __init__(self, name: str, host: str, control_port: int, data_port: int, *,
                 timeout_s: float = 5.0, trigger: str = "soft", frames_per_start: int = 0,
                 sensor_shape=(256, 256)):
        super().__init__(name)
        self.host, self.control_port, self.data_port = host, int(control_port), int(data_port)
        self.timeout_s = float(timeout_s)
        self.trigger = trigger
        self.frames_per_start = int(frames_per_start)
        self._sensor_shape = tuple(int(v) for v in sensor_shape)
        self._dtype = np.dtype(np.uint16)
        self._control: MerlinControl | None = None
        self._data: socket.socket | None = None
        self._buffer = bytearray(0)
        self.acquisition_header: dict[str, str] = {}
        self.frames_in_acquisition = 0
        self._frames_read = 0
        self._index = 0
        self.software_version = ""
        self._connect()
        self._settings = CameraSettings(exposure_s=0.001, size=self._sensor_shape)

    # ------------------------------------------------------------------ link
    def _connect(self) -> None:
        try:
            self._control = MerlinControl(self.host, self.control_port, self.timeout_s)
            self.software_version = self._control.get("SOFTWAREVERSION")
            self._sensor_shape = self._query_shape()
            depth = self._control.get("COUNTERDEPTH")
            if depth.strip().isdigit() and int(depth) in _DEPTH_DTYPE:
                self._dtype = np.dtype(_DEPTH_DTYPE[int(depth)])
            self._data = socket.create_connection((self.host, self.data_port), timeout=self.timeout_s)
        except (OSError, ValueError, ConnectionError) as exc:
            self._disconnect()
            raise self.fail(f"cannot connect to {self.host}:{self.control_port}/{self.data_port}: "
                            f"{type(exc).__name__}: {exc}") from exc
        self._frames_read = 0
        self.frames_in_acquisition = 0

    def _query_shape(self) -> tuple[int, int]:
        x, y = self._control.get("IMAGEX"), self._control.get("IMAGEY")
        if x.strip().isdigit() and y.strip().isdigit():
            return int(y), int(x)
        return self._sensor_shape           # detector does not report it: use the option

    def _disconnect(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._data is not None:
            try:
                self._data.close()
            except OSError:
                pass
        self._control = self._data = None

    def _reconnect(self) -> None:
        self._disconnect()
        self._connect()

    def _close(self) -> None:
        if self._state is DeviceState.RUNNING and self._control is not None:
            try:
                self._control.cmd("STOPACQUISITION")
            except (OSError, DeviceError, SettingError):
                pass
        self._disconnect()

    def _control_call(self, fn, *args):
        try:
            return fn(*args)
        except SettingError:
            raise
        except DeviceError as exc:
            raise self.fail(exc.reason) from exc
        except (OSError, ValueError, ConnectionError) as exc:
            raise self.fail(f"control connection: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ Camera
    @property
    def frame_shape(self) -> tuple[int, int]:
        return self._sensor_shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    def configure(self, settings: CameraSettings) -> None:
        self.check_usable()
        if self.state is DeviceState.RUNNING:
            raise SettingError(f"{self.label}: stop the detector before changing its settings")
        if tuple(settings.size) != self._sensor_shape or settings.binning != 1:
            raise SettingError("size", settings.size,
                               f"{self._sensor_shape[0]}×{self._sensor_shape[1]}, binning 1 "
                               "(the Merlin reads its whole sensor)", self.label)
        check_range("exposure_s", settings.exposure_s, 1e-6, 10.0, "s", device=self.label)
        c = self._control
        self._control_call(c.set, "ACQUISITIONTIME", f"{settings.exposure_s * 1e3:g}")
        self._control_call(c.set, "ACQUISITIONPERIOD", f"{settings.frame_interval_s * 1e3:g}")
        self._settings = settings

    def start(self) -> None:
        self.check_usable()
        c = self._control
        if self.frames_per_start:
            self._control_call(c.set, "NUMFRAMESTOACQUIRE", self.frames_per_start)
        self._control_call(c.set, "TRIGGERSTART", 5 if self.trigger == "soft" else 0)
        self._control_call(c.cmd, "STARTACQUISITION")
        if self.trigger == "soft":
            self._control_call(c.cmd, "SOFTTRIGGER")
        self._state = DeviceState.RUNNING

    def stop(self) -> None:
        if self.state is DeviceState.RUNNING:
            self._state = DeviceState.IDLE
            if self.frames_in_acquisition and self._frames_read < self.frames_in_acquisition:
                self._control_call(self._control.cmd, "STOPACQUISITION")

    def _read_message(self, timeout_s: float) -> memoryview:
        """Next data message payload (a view of the reused buffer)."""
        readable, _, _ = select.select([self._data], [], [], max(timeout_s, 0.0))
        if not readable:
            raise TimeoutError(f"{self.label}: no data within {timeout_s:g} s")
        deadline = time.monotonic() + max(self.timeout_s, timeout_s)
        prefix = bytearray(_PREFIX_LEN)
        _recv_exact(self._data, memoryview(prefix), deadline)
        n = _parse_prefix(prefix) - 1
        if n <= 0 or n > 1 << 30:
            raise ValueError(f"implausible message length {n + 1}")
        if len(self._buffer) < n:
            self._buffer = bytearray(n)
        view = memoryview(self._buffer)[:n]
        _recv_exact(self._data, view, deadline)
        return view

    def read_frame(self, out: np.ndarray, timeout_s: float = 1.0) -> FrameMeta:
        self.check_usable()
        if self.state is not DeviceState.RUNNING:
            raise DeviceError(self.label, "not started (call start() first)")
        self.check_buffer(out)
        t_give_up = time.monotonic() + timeout_s
        try:
            while True:
                payload = self._read_message(t_give_up - time.monotonic())
                if bytes(payload[:3]) == b"HDR":
                    self.acquisition_header = parse_acquisition_header(bytes(payload))
                    self.frames_in_acquisition = int(self.acquisition_header.get(
                        "Frames in Acquisition (Number)", "0") or 0)
                    self._frames_read = 0
                    continue
                head = parse_frame_header(bytes(payload[:min(len(payload), 2048)]))
                break
        except TimeoutError as exc:
            if "incomplete" in str(exc):
                raise self.fail(f"data stream stalled: {exc}") from exc
            raise
        except (OSError, ValueError, ConnectionError) as exc:
            raise self.fail(f"data connection: {type(exc).__name__}: {exc}") from exc
        h, w, hs = head["height"], head["width"], head["header_size"]
        if (h, w) != tuple(out.shape) or np.dtype(head["dtype"]).itemsize != out.dtype.itemsize:
            raise self.fail(f"frame is {h}×{w} {head['dtype']}, expected {out.shape} {out.dtype}")
        pixels = np.frombuffer(payload, dtype=head["dtype"], count=h * w, offset=hs)
        np.copyto(out, pixels.reshape(h, w))
        wall, mono = time.time(), time.monotonic()
        index = self._index
        self._index += 1
        self._frames_read += 1
        return FrameMeta(index=index, timestamp_s=wall, monotonic_s=mono,
                         exposure_s=head["shutter_s"], device=self.name,
                         settings={"sequence": head["sequence"], "detector_timestamp": head["timestamp"],
                                   "chips": head["chips"], "layout": head["layout"],
                                   "frames_in_acquisition": self.frames_in_acquisition})


class MerlinDriver(Driver):
    name = "merlin"
    description = "Quantum Detectors Merlin pixelated detector (TCP control + data, MIB frames)"
    options = {
        "host": "detector PC address (default 127.0.0.1)",
        "control_port": "control socket (default 6341)",
        "data_port": "data socket (default 6342)",
        "timeout_s": "network timeout in s (default 5)",
        "trigger": "'soft' (SOFTTRIGGER after STARTACQUISITION, default) or 'external'",
        "frames_per_start": "NUMFRAMESTOACQUIRE sent at start (default 0: leave as set)",
        "sensor": "'1x1' (256×256) or '2x2' (512×512) if the detector does not report IMAGEX/Y",
    }

    def _open(self, *, host="127.0.0.1", control_port=6341, data_port=6342, timeout_s=5.0,
              trigger="soft", frames_per_start=0, sensor="1x1") -> DeviceSet:
        if trigger not in ("soft", "external"):
            raise SettingError("trigger", trigger, "'soft' or 'external'")
        shapes = {"1x1": (256, 256), "2x2": (512, 512)}
        if sensor not in shapes:
            raise SettingError("sensor", sensor, "'1x1' or '2x2'")
        for opt, port in (("control_port", control_port), ("data_port", data_port)):
            check_range(opt, port, 1, 65535)
        camera = MerlinCamera("merlin", str(host), int(control_port), int(data_port),
                              timeout_s=check_range("timeout_s", timeout_s, 0.01, 600, "s"),
                              trigger=trigger, frames_per_start=int(frames_per_start),
                              sensor_shape=shapes[sensor])
        return DeviceSet(camera=camera)
