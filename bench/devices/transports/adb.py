"""Android phones over Android's ``adb`` program.

``adb shell`` hands its arguments to the device's shell joined by spaces, so we pass one line
built with ``shlex.quote``. With a device that speaks the shell v2 protocol (every Android since
7) ``adb shell`` returns the command's exit status. A serial of the form ``host:port`` (wireless
debugging, emulated devices) is connected with ``adb connect`` first and again after a loss.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from bench.devices.transports.base import (
    Completed,
    DeviceLost,
    Transport,
    TransportError,
    register_transport,
    shell_line,
)
from bench.measure.thermal import ThermalRecord, read_android_status, wait_for_android_status

# What adb prints when the device (not the command) is the problem.
LOST = re.compile(
    r"error: (device .*not found|no devices|device offline|device unauthorized|closed|protocol fault)"
    r"|no devices/emulators found|device '.*' not found|failed to get feature set",
    re.IGNORECASE,
)
NETWORK_SERIAL = re.compile(r"^[\w.\-]+:\d+$")


@register_transport
class AdbTransport(Transport):
    """An Android phone: cells run the runtime's own benchmark tool (no Python on the phone), the
    thermal state is Android's coarse Thermal Status, and a profile's ``fixed_performance`` pins
    the clocks for the duration of a suite."""

    name = "adb"
    runner = "native"
    default_work_dir = "/data/local/tmp/bench"

    def __init__(self, device):
        super().__init__(device)
        self.program = shutil.which(device.adb_path or "adb")

    def _program(self) -> str:
        """The adb executable; TransportError saying how to install it when there is none."""
        if self.program is None:
            raise TransportError(
                f"`{self.device.adb_path or 'adb'}` not found: install Android platform-tools "
                '(Debian/Ubuntu: apt install adb) or set adb = "/path/to/adb" in the profile'
            )
        return self.program

    def _adb(self, *args: str, timeout: float | None = 120) -> subprocess.CompletedProcess:
        argv = [self._program()]
        if self.device.adb_server_port:
            argv += ["-P", str(self.device.adb_server_port)]
        if self.device.address:
            argv += ["-s", self.device.address]
        try:
            proc = subprocess.run(
                [*argv, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise DeviceLost(
                f"adb {self.device.address or '(only device)'}: no answer within {timeout:.0f} s"
            ) from None
        if proc.returncode != 0 and LOST.search(proc.stderr + proc.stdout):
            reason = (proc.stderr or proc.stdout).strip().splitlines()[-1]
            raise DeviceLost(f"adb {self.device.address or '(only device)'}: {reason}")
        return proc

    def connect(self) -> None:
        tried = []
        if self.device.address and NETWORK_SERIAL.match(self.device.address):
            proc = self._adb_server("connect", self.device.address)
            tried.append(f"adb connect {self.device.address}: {proc.stdout.strip() or proc.stderr.strip()}")
        try:
            state = self._adb("get-state", timeout=30).stdout.strip()
        except DeviceLost as exc:
            raise TransportError(
                f"cannot reach '{self.device.name}': {exc}; tried {'; '.join(tried) or 'adb'}"
            ) from None
        if state != "device":
            raise TransportError(f"'{self.device.name}' is in state '{state}', not 'device' (authorize USB debugging?)")

    def _adb_server(self, *args: str) -> subprocess.CompletedProcess:
        """A server-level command (no -s): connect/disconnect."""
        argv = [self._program()]
        if self.device.adb_server_port:
            argv += ["-P", str(self.device.adb_server_port)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def reconnect(self) -> None:
        if self.device.address and NETWORK_SERIAL.match(self.device.address):
            self._adb_server("disconnect", self.device.address)
        self.connect()

    def run(self, argv: list[str], stdin: str | None = None, timeout: float | None = None) -> Completed:
        if stdin is not None:
            raise TransportError("the adb transport does not forward stdin; push a file instead")
        line = shell_line(argv)
        proc = self._adb("shell", line, timeout=timeout)
        if proc.returncode != 0 and not self._alive():  # the link broke mid-command, not the command
            raise DeviceLost(f"adb {self.device.address or '(only device)'}: device went away during `{line[:80]}`")
        return Completed(proc.returncode, proc.stdout, proc.stderr)

    def _alive(self) -> bool:
        try:
            return self._adb("get-state", timeout=30).stdout.strip() == "device"
        except (DeviceLost, subprocess.TimeoutExpired):
            return False

    def push(self, local: Path, remote: str) -> None:
        self.run(["mkdir", "-p", str(PurePosixPath(remote).parent)], timeout=60).check(f"mkdir on {self.device.name}")
        proc = self._adb("push", str(local), remote, timeout=600)
        if proc.returncode != 0:
            raise TransportError(f"adb push {local} {remote} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def pull(self, remote: str, local: Path) -> None:
        proc = self._adb("pull", remote, str(local), timeout=600)
        if proc.returncode != 0:
            raise TransportError(f"adb pull {remote} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def describe(self) -> str:
        return f"adb -s {self.device.address}" if self.device.address else "adb (the only attached device)"

    def wait_for_thermal(self, root: str | None = None) -> ThermalRecord:
        """Wait (bounded) until Android's Thermal Status is at or below ``[thermal] limit_status``;
        ``root`` is not used (a phone reports no sysfs zones we rely on)."""
        d = self.device
        return wait_for_android_status(self, d.thermal_limit_status, d.thermal_max_wait_s)

    def thermal_now(self, root: str | None = None) -> dict:
        """``{"status": Android Thermal Status or None}``."""
        return {"status": read_android_status(self)}

    def describe_thermal(self) -> str:
        status = read_android_status(self)
        return f"Thermal Status {status}" if status is not None else "no thermal status"

    def describe_system(self) -> list[tuple[str, str]]:
        """Android release and SDK, phone model and ABI (``getprop``)."""

        def prop(name: str) -> str:
            return self.run(["getprop", name], timeout=30).stdout.strip() or "?"

        return [
            ("OS", f"Android {prop('ro.build.version.release')} (SDK {prop('ro.build.version.sdk')})"),
            ("model", f"{prop('ro.product.model')} ({prop('ro.product.cpu.abi')})"),
        ]

    def prepare(self) -> None:
        """With ``[thermal] fixed_performance = true``: Android's fixed performance mode (stable clocks)."""
        if self.device.fixed_performance:
            self.run(["cmd", "power", "set-fixed-performance-mode-enabled", "true"], timeout=30)

    def restore(self) -> None:
        """Leave fixed performance mode again (best effort: an unreachable phone is left as it is)."""
        if self.device.fixed_performance:
            try:
                self.run(["cmd", "power", "set-fixed-performance-mode-enabled", "false"], timeout=30)
            except TransportError:
                pass
