"""Real services the transport tests talk to: an OpenSSH server and an adb server on loopback.

Both are the real programs from Debian's packages (openssh-server, adb), started on free
loopback ports with generated keys, so nothing touches the user's own ssh setup or the adb
server on the default port 5037.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class SshServer:
    """sshd -D on a loopback port; ``ssh_config`` is a client config with the key and known host."""

    folder: Path
    port: int
    ssh_config: Path
    host_alias: str = "bench-remote"
    proc: subprocess.Popen | None = None

    @classmethod
    def create(cls, folder: Path) -> SshServer:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
        port = free_port()
        user = getpass.getuser()
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\nPidFile {folder}/sshd.pid\n"
            f"AuthorizedKeysFile {folder}/authorized_keys\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            f"PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel ERROR\nMaxStartups 100\n"
        )
        host_pub = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        config = folder / "ssh_config"
        config.write_text(
            f"Host bench-remote\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
            f"  IdentityFile {folder}/user_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {folder}/known_hosts\n"
            "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
        )
        server = cls(folder, port, config)
        server.start()
        return server

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.folder / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "sshd.log", "ab"),
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        """sshd dies: the listener and every connection it serves (they run in their own sessions)."""
        if self.proc is None:
            return
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

    stop = kill


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class AdbServer:
    """Debian's adb server on a private port."""

    port: int
    program: str = shutil.which("adb") or "adb"

    @classmethod
    def start(cls) -> AdbServer:
        server = cls(free_port())
        server.adb("start-server")
        return server

    def adb(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.program, "-P", str(self.port), *args], capture_output=True, text=True, timeout=timeout
        )

    def stop(self) -> None:
        self.adb("kill-server")
