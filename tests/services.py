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
    """sshd -D on a loopback port; ``ssh_config`` is a client config with the key and known host.

    Remote sessions get an empty ``HOME``, like a fresh account on a board. The login shell would
    otherwise read this machine's own ``~/.bashrc`` (bash does so for every ssh command), and
    start-up files that do real work there (``pyenv init`` rehashes under a lock file that a
    killed session leaves behind) stalled every login for a minute.
    """

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
        home = folder / "home"  # a fresh account's home: see the class docstring
        home.mkdir(exist_ok=True)
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\nPidFile {folder}/sshd.pid\n"
            f"AuthorizedKeysFile {folder}/authorized_keys\nStrictModes no\nUsePAM no\nSetEnv HOME={home}\n"
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


def postgres_bin(tool: str) -> str | None:
    """A PostgreSQL server program from Debian's packages (/usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    return str(found[-1]) if found else shutil.which(tool)


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port (run as the ``postgres`` user under root)."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://bench@127.0.0.1:{self.port}/bench"

    @staticmethod
    def _as_owner(argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    @classmethod
    def start(cls) -> PostgresServer:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))  # not under pytest's root-only tmp dirs
        data = folder / "data"
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        server = cls(folder, free_port())
        run = lambda argv: subprocess.run(server._as_owner(argv), check=True, capture_output=True, timeout=120)  # noqa: E731
        run([postgres_bin("initdb"), "-D", str(data), "-U", "bench", "-A", "trust", "--no-sync"])
        options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off"
        run([postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
        subprocess.run(
            [postgres_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "bench", "bench"],
            check=True,
            capture_output=True,
        )
        return server

    def stop(self) -> None:
        subprocess.run(
            self._as_owner([postgres_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


class FarmCluster:
    """A real Dask scheduler and worker processes on loopback, started through ``bench farm``."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._spawn("scheduler", ["farm", "scheduler", "--port", str(self.port)])
        wait_for_port(self.port, timeout=60)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        import sys

        log = open(self.folder / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.cli", *args], env=self.env, stdout=log, stderr=log, cwd=self.folder
        )
        self.procs[name] = proc
        return proc

    def add_worker(self, name: str, devices: list[str]) -> None:
        args = ["farm", "worker", "--scheduler", self.address, "--name", name]
        for device in devices:
            args += ["--device", device]
        self._spawn(name, args)

    def wait_for_devices(self, devices: list[str], timeout: float = 90) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=30) as client:
            while time.monotonic() < deadline:
                offered = {
                    r for w in client.scheduler_info(n_workers=-1)["workers"].values() for r in w.get("resources", {})
                }
                if all(f"device:{d}" in offered for d in devices):
                    return
                time.sleep(0.2)
        raise TimeoutError(f"workers did not offer {devices}: see {self.folder}/*.log")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)
