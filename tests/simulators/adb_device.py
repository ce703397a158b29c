"""SIMULATION: an Android device emulated on loopback, for tests of the adb transport.

No phone is attached to CI, so this speaks the device side of the adb transport protocol to a
real ``adb`` server (Debian's ``adb``, started by the tests on a private port): 24-byte
little-endian message headers (CNXN, OPEN, OKAY, WRTE, CLSE), the shell v2 framing (stdout,
stderr, exit status) and the ``sync:`` service (STAT, SEND/DATA/DONE, RECV, QUIT). Commands run
with the host's ``/bin/sh`` inside a sandbox folder: device paths under ``/data``, ``/sys`` and
``/sdcard`` are mapped into the sandbox, and ``system/bin`` of the sandbox (stand-ins for
``dumpsys``, ``taskset``, ``getprop``, ``cmd``) comes first on PATH.

Alongside it, a simulated power monitor (ODPM) rewrites ``iio:device0/energy_value`` every
10 ms in the real file format: energy advances at an idle power plus an extra power while the
stand-in ``benchmark_model`` is inside an inference (it adds its busy time to ``sim/busy_ns``).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = (
    int.from_bytes(name, "little") for name in (b"CNXN", b"OPEN", b"OKAY", b"CLSE", b"WRTE", b"AUTH")
)
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4
SYNC_DATA_MAX = 64 * 1024
DEVICE_DIRS = ("data", "sys", "sdcard")
HERE = Path(__file__).resolve().parent

# Rails of the simulated ODPM: (channel, rail, idle watts, extra watts while inferring)
RAILS = [
    ("iio:device0", 0, "S2M_VDD_CPUCL2", 0.020, 1.800),
    ("iio:device0", 1, "S3M_VDD_CPUCL1", 0.015, 0.120),
    ("iio:device0", 2, "S4M_VDD_CPUCL0", 0.060, 0.080),
    ("iio:device0", 3, "S1M_VDD_MIF", 0.110, 0.300),
    ("iio:device1", 0, "S10M_VDD_TPU", 0.005, 0.0),
    ("iio:device1", 1, "S2S_VDD_G3D", 0.010, 0.0),
]
STANDINS = ("dumpsys", "taskset", "getprop", "cmd", "perfetto")
BATTERY_UV = 3_850_000  # the simulated battery's voltage_now
GAUGE_WINDOW_S = 0.05  # the simulated fuel gauge averages power over this long


def header(command: int, arg0: int, arg1: int, data: bytes) -> bytes:
    return struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF)


class StreamInput:
    """Bytes the host wrote to one stream, readable in exact amounts."""

    def __init__(self):
        self.buffer = bytearray()
        self.closed = False
        self.cond = threading.Condition()

    def feed(self, data: bytes) -> None:
        with self.cond:
            self.buffer += data
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def read_exact(self, n: int) -> bytes | None:
        with self.cond:
            while len(self.buffer) < n and not self.closed:
                self.cond.wait(1.0)
            if len(self.buffer) < n:
                return None
            out = bytes(self.buffer[:n])
            del self.buffer[:n]
            return out


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.input = StreamInput()
        self.acked = threading.Event()
        self.acked.set()
        self.write_lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        with self.write_lock:
            for i in range(0, len(data), self.conn.max_payload):
                if self.closed or not self.acked.wait(30):
                    return
                self.acked.clear()
                self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i : i + self.conn.max_payload])

    def close(self) -> None:
        if not self.closed:
            with self.write_lock:
                self.acked.wait(30)
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id, b"")
        self.input.close()


class Connection:
    """One TCP connection from the adb server."""

    def __init__(self, device: EmulatedAndroidDevice, sock: socket.socket):
        self.device, self.sock = device, sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD

    def send(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        with self.send_lock:
            try:
                self.sock.sendall(header(command, arg0, arg1, data) + data)
            except OSError:
                pass

    def recv_exact(self, n: int) -> bytes | None:
        chunks = b""
        while len(chunks) < n:
            try:
                part = self.sock.recv(n - len(chunks))
            except OSError:
                return None
            if not part:
                return None
            chunks += part
        return chunks

    def serve(self) -> None:
        try:
            while True:
                head = self.recv_exact(24)
                if head is None:
                    break
                command, arg0, arg1, length, _check, magic = struct.unpack("<6I", head)
                if magic != command ^ 0xFFFFFFFF:
                    break
                data = self.recv_exact(length) if length else b""
                if data is None:
                    break
                self.dispatch(command, arg0, arg1, data)
        finally:
            for stream in list(self.streams.values()):
                stream.closed = True
                stream.input.close()
            try:
                self.sock.close()
            except OSError:
                pass

    def dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(max(arg1, 4096), MAX_PAYLOAD)
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.device.banner())
        elif command == A_OPEN:
            local_id, self.next_id = self.next_id, self.next_id + 1
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            service = data.rstrip(b"\0").decode()
            self.device.log(f"OPEN {service}")
            handler = self.device.service_for(service)
            if handler is None:
                self.send(A_CLSE, 0, arg0, b"")
                return
            self.send(A_OKAY, local_id, arg0, b"")
            threading.Thread(target=self._run_service, args=(handler, stream, service), daemon=True).start()
        elif command == A_OKAY:
            stream = self.streams.get(arg1)
            if stream:
                stream.acked.set()
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream:
                stream.input.feed(data)
                self.send(A_OKAY, stream.local_id, stream.remote_id, b"")
        elif command == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream:
                stream.closed = True
                stream.acked.set()
                stream.input.close()

    def _run_service(self, handler, stream: Stream, service: str) -> None:
        try:
            handler(stream, service.split(":", 1)[1] if ":" in service else "")
        finally:
            stream.close()
            self.streams.pop(stream.local_id, None)


class EmulatedAndroidDevice:
    """A Pixel 6 as far as adb, our transport and the benchmark tools can tell (simulation)."""

    def __init__(self, root: Path, idle_status: int = 0):
        self.root = Path(root)
        self.listener: socket.socket | None = None
        self.connections: list[Connection] = []
        self.port = 0
        self.boot = time.monotonic()
        self.stop_event = threading.Event()
        self.events: list[str] = []
        for d in DEVICE_DIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
        (self.root / "sim").mkdir(exist_ok=True)
        (self.root / "sim/busy_ns").write_text("0")
        (self.root / "sim/thermal_status").write_text(str(idle_status))
        self._install_standins()
        self._write_odpm()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        self.stop_event.clear()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._power_monitor, daemon=True).start()
        return self.port

    def disappear(self) -> None:
        """The phone is unplugged: stop listening and drop every connection."""
        self.stop_event.set()
        if self.listener:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        for conn in self.connections:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()
        self.connections.clear()

    stop = disappear

    def _accept(self) -> None:
        listener = self.listener
        while listener is not None and not self.stop_event.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            conn = Connection(self, sock)
            self.connections.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def log(self, text: str) -> None:
        self.events.append(text)

    def banner(self) -> bytes:
        props = "ro.product.name=oriole;ro.product.model=Pixel 6;ro.product.device=oriole;"
        return f"device::{props}features=shell_v2,cmd".encode()

    # --- file system mapping -----------------------------------------------------------------

    def to_host(self, path: str) -> Path:
        return Path(self.map_paths(path))

    def map_paths(self, text: str) -> str:
        """Device paths (``/data/...``, ``/sys/...``, ``/sdcard/...``) to sandbox paths."""
        pattern = r"(?<![\w./-])/(" + "|".join(DEVICE_DIRS) + r")(?=/|\b)"
        return re.sub(pattern, lambda m: f"{self.root}/{m.group(1)}", text)

    def environment(self) -> dict[str, str]:
        return {
            "PATH": f"{self.root}/system/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "SIM_ROOT": str(self.root),
            "HOME": str(self.root / "data/local/tmp"),
            "TMPDIR": str(self.root / "data/local/tmp"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }

    def _install_standins(self) -> None:
        bin_dir = self.root / "system/bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in STANDINS:
            script = bin_dir / name
            script.write_text(f'#!/bin/sh\nexec {sys.executable} {HERE / "android_standins.py"} {name} "$@"\n')
            script.chmod(0o755)

    # --- services ------------------------------------------------------------------------------

    def service_for(self, service: str):
        name = service.split(":", 1)[0]
        if name.startswith("shell"):
            return self._shell_v2 if "v2" in name.split(",") else self._shell_legacy
        if name == "sync":
            return self._sync
        return None

    def _spawn(self, command: str) -> subprocess.Popen:
        command = command or "true"
        return subprocess.Popen(
            ["/bin/sh", "-c", self.map_paths(command)],
            cwd=self.root / "data/local/tmp",
            env=self.environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def _shell_v2(self, stream: Stream, command: str) -> None:
        proc = self._spawn(command)

        def packet(kind: int, data: bytes) -> bytes:
            return struct.pack("<BI", kind, len(data)) + data

        def pump(pipe, kind: int) -> None:
            for chunk in iter(lambda: pipe.read1(65536), b""):
                stream.write(packet(kind, chunk))

        def feed_stdin() -> None:
            while True:
                head = stream.input.read_exact(5)
                if head is None:
                    break
                kind, length = struct.unpack("<BI", head)
                data = stream.input.read_exact(length) if length else b""
                if kind == SHELL_STDIN and data:
                    try:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                    except OSError:
                        break
                elif kind == SHELL_CLOSE_STDIN:
                    break
            try:
                proc.stdin.close()
            except OSError:
                pass

        threads = [threading.Thread(target=pump, args=(proc.stdout, SHELL_STDOUT), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, SHELL_STDERR), daemon=True)]  # fmt: skip
        threading.Thread(target=feed_stdin, daemon=True).start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        code = proc.wait()
        stream.write(packet(SHELL_EXIT, bytes([code & 0xFF])))

    def _shell_legacy(self, stream: Stream, command: str) -> None:
        proc = self._spawn(command)
        proc.stdin.close()
        out, errs = proc.communicate()
        stream.write(out + errs)

    def _sync(self, stream: Stream, _args: str) -> None:
        def reply(tag: bytes, value: int, data: bytes = b"") -> None:
            stream.write(tag + struct.pack("<I", value) + data)

        while True:
            head = stream.input.read_exact(8)
            if head is None:
                return
            tag, length = head[:4], struct.unpack("<I", head[4:])[0]
            if tag == b"QUIT":
                return
            arg = stream.input.read_exact(length).decode() if length else ""
            if tag in (b"STAT", b"LSTA"):
                path = self.to_host(arg)
                if path.exists():
                    st = path.stat()
                    stream.write(tag + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
                else:
                    stream.write(tag + struct.pack("<III", 0, 0, 0))
            elif tag == b"SEND":
                device_path, _, mode = arg.rpartition(",")
                target = self.to_host(device_path)
                data = bytearray()
                while True:
                    chunk_head = stream.input.read_exact(8)
                    if chunk_head is None:
                        return
                    ctag, clen = chunk_head[:4], struct.unpack("<I", chunk_head[4:])[0]
                    if ctag == b"DATA":
                        data += stream.input.read_exact(clen) or b""
                    elif ctag == b"DONE":
                        break
                    else:
                        reply(b"FAIL", 20, b"unexpected sync id ")
                        return
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(bytes(data))
                    target.chmod(int(mode) & 0o777 if mode.isdigit() else 0o644)
                except OSError as exc:
                    message = f"couldn't create file: {exc.strerror}".encode()
                    reply(b"FAIL", len(message), message)
                    continue
                reply(b"OKAY", 0)
            elif tag == b"RECV":
                path = self.to_host(arg)
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    message = (exc.strerror or "read failed").encode()
                    reply(b"FAIL", len(message), message)
                    continue
                for i in range(0, len(data), SYNC_DATA_MAX):
                    chunk = data[i : i + SYNC_DATA_MAX]
                    reply(b"DATA", len(chunk), chunk)
                reply(b"DONE", 0)
            else:
                message = f"unknown sync request {tag!r}".encode()
                reply(b"FAIL", len(message), message)
                return

    # --- simulated power monitor -------------------------------------------------------------

    def busy_seconds(self) -> float:
        try:
            return int((self.root / "sim/busy_ns").read_text() or 0) / 1e9
        except (OSError, ValueError):
            return 0.0

    def _write_odpm(self) -> None:
        now_ms = int((time.monotonic() - self.boot) * 1000) + 1_000_000  # "since boot": booted ~17 min ago
        elapsed = now_ms / 1000.0
        busy = self.busy_seconds()
        by_device: dict[str, list[str]] = {}
        for device, channel, rail, idle_w, extra_w in RAILS:
            uws = int((idle_w * elapsed + extra_w * busy) * 1e6)
            by_device.setdefault(device, []).append(f"CH{channel}(T={now_ms})[{rail}], {uws}")
        for device, lines in by_device.items():
            folder = self.root / "sys/bus/iio/devices" / device
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / ".energy_value.tmp"
            tmp.write_text(f"t={now_ms}\n" + "\n".join(lines) + "\n")
            os.replace(tmp, folder / "energy_value")

    def _write_battery(self, history: list[tuple[float, float]]) -> None:
        """The fuel gauge: whole-device power averaged over its last ``GAUGE_WINDOW_S`` (gauges
        average; real ones over far longer), as ``current_now`` (uA, negative while discharging,
        as on Pixels) at a fixed ``voltage_now``."""
        now, busy = time.monotonic(), self.busy_seconds()
        history.append((now, busy))
        while len(history) > 2 and history[1][0] <= now - GAUGE_WINDOW_S:
            history.pop(0)
        (t0, b0), (t1, b1) = history[0], history[-1]
        fraction = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        watts = sum(r[3] for r in RAILS) + self.extra_watts() * min(max(fraction, 0.0), 1.0)
        folder = self.root / "sys/class/power_supply/battery"
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in (("voltage_now", BATTERY_UV), ("current_now", -int(watts / (BATTERY_UV / 1e6) * 1e6))):
            tmp = folder / f".{name}.tmp"
            tmp.write_text(f"{value}\n")
            os.replace(tmp, folder / name)

    def _power_monitor(self) -> None:
        history: list[tuple[float, float]] = []
        while not self.stop_event.wait(0.01):
            self._write_odpm()
            self._write_battery(history)

    @staticmethod
    def extra_watts() -> float:
        """Total extra power while inferring: the truth the energy tests compare with."""
        return sum(r[4] for r in RAILS)
