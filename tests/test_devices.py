"""Device profiles: shipped TOML files, user profiles, validation with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_one_line_error

from bench.devices.config import get_device, list_devices, load_device
from bench.errors import BenchError


def test_shipped_profiles_load() -> None:
    names = {d.name for d in list_devices()}
    assert {"host", "pixel6", "raspberry-pi5", "jetson-orin-nano", "mac"} <= names
    pixel = get_device("pixel6")
    assert pixel.transport == "adb" and pixel.affinity == "c0" and pixel.work_dir.startswith("/data/local/tmp")
    assert "S2M_VDD_CPUCL2" in pixel.rails and pixel.thermal_limit_status == 0


def test_user_profiles_add_and_replace(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DEVICES", str(tmp_path))
    (tmp_path / "bench-box.toml").write_text('name = "bench-box"\ntransport = "local"\n[cpu]\nthreads = [2]\n')
    (tmp_path / "host.toml").write_text('name = "host"\ntransport = "local"\n[thermal]\nlimit_c = 60\n')
    assert get_device("bench-box").threads == (2,)
    assert get_device("host").thermal_limit_c == 60.0


def test_a_device_is_found_by_the_name_bench_devices_lists_as_well_as_by_its_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DEVICES", str(tmp_path))
    (tmp_path / "lab-pi.toml").write_text('name = "Raspberry Pi 4 (lab)"\ntransport = "local"\n[cpu]\nthreads = [3]\n')
    assert get_device("lab-pi").threads == (3,)
    assert get_device("Raspberry Pi 4 (lab)").path == str(tmp_path / "lab-pi.toml")
    (tmp_path / "lab-pi-2.toml").write_text('name = "Raspberry Pi 4 (lab)"\ntransport = "local"\n')
    with pytest.raises(BenchError, match="several profiles"):
        get_device("Raspberry Pi 4 (lab)")


def test_a_name_with_a_newline_or_bar_stays_in_its_markdown_cell() -> None:
    from bench.results.markdown import cell

    text = cell("net|v2\n| injected | row <b>")
    assert "\n" not in text and "\\n" in text and "\\|" in text and "<b>" not in text


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ('name = "x"\ntransport = "local"\nthreads = [\n', 3, "malformed TOML"),
        ('name = "x"\ntransport = = "local"\n[cpu]\n', 2, "malformed TOML"),
        ('name = "x"\ntransport = "local"\n\n[cpu]\ncores = 4\n', 5, "unknown key '[cpu] cores'"),
        ('name = "x"\ntransport = "local"\n[cpu]\nthreads = "two"\n', 4, "'[cpu] threads' must be list"),
        ('name = "x"\ntransport = "bluetooth"\n', 2, "transport 'bluetooth' is not one of"),
        ('name = "x"\ntransport = "local"\n[cpu]\naffinity = "xyz"\n', 4, "hex CPU mask"),
        ('name = "x"\ntransport = "local"\n[runtimes]\navailable = ["tensorrt"]\n', 4, "unknown runtime 'tensorrt'"),
        ('name = "x"\ntransport = "local"\n[gpu]\nkind = "x"\n', 3, "unknown table [gpu]"),
        ('transport = "local"\n', 1, "missing required key 'name'"),
    ],
)
def test_bad_profiles_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BenchError) as info:
        load_device(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_devices_command_lists_profiles(bench_here) -> None:
    result = bench_here("devices")
    assert result.code == 0 and "pixel6" in result.stdout and "raspberry-pi5" in result.stdout


def test_probe_host_reports_runtimes_and_why_energy_is_missing(bench_cli, tmp_path: Path) -> None:
    result = bench_cli("devices", "--probe", "host")
    assert result.code == 0
    assert "runtime onnxruntime" in result.stdout and "energy" in result.stdout


@pytest.mark.slow
def test_malformed_device_file_exits_2_with_file_and_line(bench_here, tmp_path: Path) -> None:
    path = tmp_path / "dev.toml"
    path.write_text('name = "x"\ntransport = "local"\n[cpu]\nthreads = [0]\n')
    assert_one_line_error(bench_here("run", "--device-file", str(path)), f"{path}:4", "positive integers")


@pytest.mark.slow
def test_run_on_a_device_file(bench_cli, tiny_files, tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text('name = "box"\ntransport = "local"\n')
    store = str(tmp_path / "s.sqlite")
    result = bench_cli(
        "run",
        "--device-file",
        str(path),
        "-m",
        str(tiny_files["onnx"]),
        "--store",
        store,
        "--min-runs",
        "5",
        "--min-time",
        "0.1",
    )
    assert result.code == 0, result.stderr
    from bench.results.store import Store

    assert Store(store).measurement_rows()[0]["device"] == "box"


def test_unknown_device_lists_the_known(bench_here) -> None:
    assert_one_line_error(bench_here("devices", "--probe", "nokia3310"), "unknown device 'nokia3310'", "pixel6")


def test_unreadable_device_file_exits_2(bench_here, tmp_path: Path) -> None:
    assert_one_line_error(bench_here("devices", "--device-file", str(tmp_path / "none.toml")), "cannot read")


def test_the_device_loader_takes_its_transports_from_the_registry(tmp_path: Path, monkeypatch) -> None:
    from bench.devices.transports import base
    from bench.devices.transports.local import LocalTransport

    class Loopback(LocalTransport):
        name = "loopback"

    monkeypatch.setitem(base._registered(), "loopback", Loopback)
    path = tmp_path / "loop.toml"
    path.write_text('name = "loop"\ntransport = "loopback"\n')
    device = load_device(path)
    assert device.transport == "loopback" and device.is_local
    path.write_text('name = "x"\ntransport = "bluetooth"\n')
    with pytest.raises(BenchError, match="is not one of local, ssh, adb, loopback"):
        load_device(path)


def test_each_transport_says_how_its_devices_behave() -> None:
    from bench.devices.transports.base import transport_class, transport_names
    from bench.measure.runners import runner_class
    from bench.measure.runners.agent_runner import AgentRunner
    from bench.measure.runners.native_runner import NativeToolRunner

    assert set(transport_names()) >= {"local", "ssh", "adb"}
    assert [n for n in ("local", "ssh", "adb") if transport_class(n).is_local] == ["local"]
    assert runner_class(transport_class("local").runner) is AgentRunner
    assert runner_class(transport_class("ssh").runner) is AgentRunner
    assert runner_class(transport_class("adb").runner) is NativeToolRunner
    assert get_device("host").is_local and not get_device("pixel6").is_local
