"""``bench devices``: list the device profiles, or probe one (reachability, OS, CPU, runtimes, meters)."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app


@app.command("devices")
def devices_cmd(
    probe: Annotated[str | None, typer.Option(help="Check a device: reachability, OS, CPU, runtimes, meters.")] = None,
    device_file: Annotated[str | None, typer.Option(help="Probe the device of this TOML profile.")] = None,
) -> None:
    """List device profiles, or probe one."""
    from bench.devices.config import get_device, list_devices, user_dir

    if probe is None and device_file is None:
        render.devices(list_devices(), str(user_dir()))
        return
    dev = get_device(probe, device_file)
    from bench.devices.probe import probe_device

    render.probe(dev.name, probe_device(dev))
