"""Linux boards over the OpenSSH client.

Using the ``ssh`` program (not a Python SSH library) means users' ``~/.ssh/config``, keys, agents
and jump hosts work as they do in a terminal. One control master per device is reused by every
command (``ControlMaster=auto`` + ``ControlPersist``), so a suite pays for one handshake. Host keys
are checked: we never relax ``StrictHostKeyChecking``, and ``BatchMode`` makes an unknown host an
error instead of a prompt. Files are copied through the same connection (``cat > file``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.devices.transports.base import (
    Completed,
    DeviceLost,
    Transport,
    TransportError,
    register_transport,
    shell_line,
)

SSH_FAILED = 255  # ssh's own exit status when the connection (not the command) failed


@register_transport
class SshTransport(Transport):
    name = "ssh"

    def __init__(self, device):
        super().__init__(device)
        if not device.address:
            raise TransportError(f"device '{device.name}' has no address (set address = \"user@host\" in its profile)")
        if device.address.startswith("-"):
            raise TransportError(f"device '{device.name}': address '{device.address}' must not start with '-'")
        self.program = shutil.which("ssh")
        self._control_dir: str | None = None

    def _base(self) -> list[str]:
        if self.program is None:
            raise TransportError(
                "the OpenSSH client `ssh` is not installed (Debian/Ubuntu: apt install openssh-client)"
            )
        if self._control_dir is None:
            self._control_dir = tempfile.mkdtemp(prefix="bench-ssh-")
        options = [
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self._control_dir}/%C",
            "-o", "ControlPersist=120",
        ]  # fmt: skip
        if self.device.ssh_config:
            options = ["-F", self.device.ssh_config, *options]
        return [self.program, *options]

    def _ssh(self, line: str, data: bytes | None, timeout: float | None) -> subprocess.CompletedProcess:
        argv = [*self._base(), "--", self.device.address, line]
        try:
            proc = subprocess.run(
                argv,
                input=data,
                capture_output=True,
                timeout=timeout,
                stdin=None if data is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise DeviceLost(f"ssh {self.device.address}: no answer within {timeout:.0f} s") from None
        if proc.returncode == SSH_FAILED:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            reason = message[-1] if message else "connection failed"
            raise DeviceLost(f"ssh {self.device.address}: {reason}")
        return proc

    def run(self, argv: list[str], stdin: str | None = None, timeout: float | None = None) -> Completed:
        line = shell_line(argv)
        if self.work_dir:
            line = f"mkdir -p {shell_line([self.work_dir])} && cd {shell_line([self.work_dir])} && {line}"
        proc = self._ssh(line, stdin.encode() if stdin is not None else None, timeout)
        return Completed(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def push(self, local: Path, remote: str) -> None:
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1.part" && mv "$1.part" "$1"'
        proc = self._ssh(shell_line(["sh", "-c", script, "sh", remote]), Path(local).read_bytes(), timeout=600)
        if proc.returncode != 0:
            raise TransportError(
                f"copying {local} to {self.device.address}:{remote} failed: {proc.stderr.decode()[-300:]}"
            )

    def pull(self, remote: str, local: Path) -> None:
        proc = self._ssh(shell_line(["cat", remote]), None, timeout=600)
        if proc.returncode != 0:
            raise TransportError(f"copying {self.device.address}:{remote} failed: {proc.stderr.decode()[-300:]}")
        Path(local).write_bytes(proc.stdout)

    def connect(self) -> None:
        try:
            super().connect()
        except DeviceLost as exc:
            raise TransportError(f"cannot reach '{self.device.name}' over ssh ({self.device.address}): {exc}") from None

    def describe(self) -> str:
        return f"ssh {self.device.address}"

    def close(self) -> None:
        if self._control_dir is None:
            return
        try:
            subprocess.run(
                [*self._base(), "-O", "exit", "--", self.device.address],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass  # the master is stuck on a dead link; it exits on its own (ServerAlive*)
        finally:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None
