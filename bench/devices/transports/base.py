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

from bench.errors import BenchError


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
            raise TransportError(f"{what} failed with exit code {self.returncode}: {tail[:300]}")
        return self


class Transport(ABC):
    """One device's command and file channel. ``work_dir`` is where artifacts and tools go."""

    name: str

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

    def remote_path(self, *parts: str) -> str:
        return str(PurePosixPath(self.work_dir, *parts))

    def push_once(self, local: Path, sha256: str) -> str:
        """Push a content-addressed copy (``files/<sha>/<name>``) unless the device already has it."""
        remote = self.remote_path("files", sha256[:16], local.name)
        if self.run(["test", "-f", remote], timeout=30).returncode != 0:
            self.push(local, remote)
        return remote


def shell_line(argv: list[str]) -> str:
    """One command line for a remote shell: every argument quoted, nothing interpreted."""
    return shlex.join(argv)


_TRANSPORTS: dict[str, type[Transport]] = {}


def register_transport(cls: type[Transport]) -> type[Transport]:
    _TRANSPORTS[cls.name] = cls
    return cls


def open_transport(device) -> Transport:
    """The transport the device profile names."""
    from bench.devices.transports import adb, local, ssh  # noqa: F401  (registration)

    if device.transport not in _TRANSPORTS:
        raise BenchError(f"unknown transport '{device.transport}'; known: {', '.join(_TRANSPORTS)}")
    return _TRANSPORTS[device.transport](device)
