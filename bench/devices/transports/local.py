"""The machine bench runs on: plain subprocesses and file copies."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.devices.transports.base import Completed, Transport, register_transport


@register_transport
class LocalTransport(Transport):
    """This machine: commands are subprocesses, copies are file copies, runtimes run in this Python."""

    name = "local"
    is_local = True
    default_work_dir = str(Path(tempfile.gettempdir()) / "bench-local")

    def run(self, argv: list[str], stdin: str | None = None, timeout: float | None = None) -> Completed:
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        except (FileNotFoundError, PermissionError) as exc:
            return Completed(127, "", f"{argv[0]}: {exc.strerror}")
        return Completed(proc.returncode, proc.stdout, proc.stderr)

    def push(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def describe(self) -> str:
        return "this machine"

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except (OSError, UnicodeDecodeError):
            return None

    def glob(self, pattern: str) -> list[str]:
        import glob

        return sorted(glob.glob(pattern))
