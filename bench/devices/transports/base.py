"""The transport interface and registry.

A transport runs one command (an argument list, never a shell string built from user input) on
a device and copies files to and from it. Remote transports quote every argument with
``shlex.quote`` because both OpenSSH and adb hand the command line to the device's shell.

Failures of the link itself (the device vanished, sshd is gone) raise ``DeviceLost``; a command
that ran and failed is a normal ``Completed`` with its exit code. The harness retries a cell
once after ``DeviceLost`` and stops the suite when the device is still gone.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from bench.errors import BenchError, one_line

if TYPE_CHECKING:
    from bench.measure.thermal import ThermalRecord


class TransportError(BenchError):
    """The device cannot be reached or a file cannot be copied; the message says what was tried."""


class DeviceLost(TransportError):
    """The link to the device broke (it disappeared, or its daemon died)."""


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Completed:
        if self.returncode != 0:
            tail = " | ".join((self.stderr or self.stdout).strip().splitlines()[-3:])
            raise TransportError(f"{what} failed with exit code {self.returncode}: {one_line(tail, 300)}")
        return self


class Transport(ABC):
    """One device's command and file channel, and how that kind of device behaves.

    ``work_dir`` is where artifacts and tools go. Besides running commands and copying files, a
    transport answers what differs between kinds of device, so that no caller checks its name:
    ``is_local`` (the device is this machine), ``runner`` (which runner measures a cell there),
    how the thermal state is read and waited on, and how device state is prepared for a suite
    and restored after it. The defaults describe a POSIX machine with sysfs thermal zones.
    """

    name: str
    is_local: bool = False
    """True when the device is this machine: its runtimes run in this Python, files need no copy."""
    runner: str = "agent"
    """The runner that measures cells here, a key of ``bench.measure.runners.RUNNERS``: ``"agent"``
    (the self-contained Python agent) or ``"native"`` (the runtime's own benchmark tool)."""

    def __init__(self, device):
        self.device = device
        self.work_dir = (device.work_dir if device else "") or self.default_work_dir

    default_work_dir = "/tmp/bench"

    @abstractmethod
    def run(self, argv: list[str], stdin: str | None = None, timeout: float | None = None) -> Completed:
        """Run ``argv`` on the device and wait; raises DeviceLost when the link broke."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` (parent folders are created)."""

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy a device file to ``local``."""

    @abstractmethod
    def describe(self) -> str:
        """How the device is reached, for messages ("ssh pi@raspberrypi.local")."""

    def connect(self) -> None:
        """Make sure the device answers; raises TransportError saying what was tried."""
        self.run(["true"], timeout=30).check(f"{self.describe()}: running `true`")

    def reconnect(self) -> None:
        """After a lost link: drop what is cached and connect again (raises if still unreachable)."""
        self.close()
        self.connect()

    def close(self) -> None:  # noqa: B027 - optional hook: most transports hold no connection
        """Release connections (e.g. an ssh control master)."""

    def read_text(self, path: str) -> str | None:
        """A device file's text, or None if it cannot be read."""
        done = self.run(["cat", path], timeout=30)
        return done.stdout if done.returncode == 0 else None

    def glob(self, pattern: str) -> list[str]:
        """Device paths matching a shell glob (the pattern is ours, never user input)."""
        script = 'for f in $1; do [ -e "$f" ] && echo "$f"; done; true'
        done = self.run(["sh", "-c", script, "sh", pattern], timeout=30)
        return [line for line in done.stdout.splitlines() if line]

    # --- behaviour that differs between kinds of device -------------------------------------

    def wait_for_thermal(self, root: str | None = None) -> ThermalRecord:
        """Wait (bounded by the profile's ``[thermal] max_wait_s``) until the device is cool enough
        and stable, and return what was read: here the hottest sysfs thermal zone under ``root``
        (default: the profile's) against ``[thermal] limit_c``."""
        from bench.measure.thermal import wait_until_settled

        d = self.device
        return wait_until_settled(root or d.thermal_root, d.thermal_limit_c, d.thermal_max_wait_s, transport=self)

    def thermal_now(self, root: str | None = None) -> dict:
        """One thermal reading for a sustained run's series: ``{"temp_c": hottest zone in C or None}``."""
        from bench.measure.thermal import read_zones

        zones = read_zones(root or self.device.thermal_root, self)
        return {"temp_c": max(zones.values()) if zones else None}

    def describe_thermal(self) -> str:
        """The thermal state in words, for ``bench devices --probe`` ("thermal_zone0:cpu 45.0 C")."""
        from bench.measure.thermal import read_zones

        zones = read_zones(self.device.thermal_root, self)
        return ", ".join(f"{k} {v:.1f} C" for k, v in zones.items()) or "no readable zones"

    def describe_system(self) -> list[tuple[str, str]]:
        """``(check, result)`` rows naming the device's OS and CPU, for ``bench devices --probe``."""
        rows = [("OS", _first_line(self.run(["uname", "-srm"], timeout=30).stdout))]
        cpuinfo = self.read_text("/proc/cpuinfo") or ""
        names = [line for line in cpuinfo.splitlines() if line.lower().startswith("model name")]
        models = [line.split(":", 1)[1].strip() for line in names]
        cores = self.run(["nproc"], timeout=30).stdout.strip() or "?"
        rows.append(("CPU", f"{models[0] if models else 'unknown'} ({cores} cores)"))
        return rows

    def prepare(self) -> None:  # noqa: B027 - optional hook: most devices need no preparation
        """Put the device into the state a suite needs, before its first cell (nothing here)."""

    def restore(self) -> None:  # noqa: B027 - optional hook, the counterpart of prepare()
        """Undo ``prepare()`` after the suite (best effort; nothing here)."""

    def remote_path(self, *parts: str) -> str:
        return str(PurePosixPath(self.work_dir, *parts))

    def push_once(self, local: Path, sha256: str) -> str:
        """Push a content-addressed copy (``files/<sha>/<name>``) unless the device already has it."""
        remote = self.remote_path("files", sha256[:16], local.name)
        if self.run(["test", "-f", remote], timeout=30).returncode != 0:
            self.push(local, remote)
        return remote


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown"


def shell_line(argv: list[str]) -> str:
    """One command line for a remote shell: every argument quoted, nothing interpreted."""
    return shlex.join(argv)


_TRANSPORTS: dict[str, type[Transport]] = {}


def register_transport(cls: type[Transport]) -> type[Transport]:
    """Class decorator: make ``cls`` available under ``cls.name`` (a profile's ``transport = ...``)."""
    _TRANSPORTS[cls.name] = cls
    return cls


def _registered() -> dict[str, type[Transport]]:
    from bench.devices.transports import local, ssh, adb  # noqa: F401, I001 (registration, in this order)

    return _TRANSPORTS


def transport_names() -> tuple[str, ...]:
    """The names a device profile may give as ``transport`` (``local``, ``ssh``, ``adb``)."""
    return tuple(_registered())


def transport_class(name: str) -> type[Transport]:
    """The transport class registered as ``name``; raises BenchError listing the known names."""
    transports = _registered()
    if name not in transports:
        raise BenchError(f"unknown transport '{name}'; known: {', '.join(transports)}")
    return transports[name]


def open_transport(device) -> Transport:
    """The transport the device profile names, not yet connected; raises BenchError if unknown."""
    return transport_class(device.transport)(device)
