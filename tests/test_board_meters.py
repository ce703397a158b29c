"""Sampled board meters end to end through the agent: Raspberry Pi 5 PMIC (a polled command) and
tegrastats (a streaming command). SIMULATION: small scripts on PATH print the real tools' formats
at a constant power, so the window's energy must be power x time."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

VCGENCMD = """#!/bin/sh
# SIMULATION of `vcgencmd pmic_read_adc` (Raspberry Pi 5): 2.5 A x 0.8 V + 0.5 A x 5.0 V = 4.5 W
echo "   3V7_WL_SW_A current(0)=0.00000000A"
echo "  VDD_CORE_A current(7)=2.50000000A"
echo "  EXT5V_A current(9)=0.50000000A"
echo "  VDD_CORE_V volt(15)=0.80000000V"
echo "  EXT5V_V volt(24)=5.00000000V"
"""

TEGRASTATS = """#!/bin/sh
# SIMULATION of `tegrastats --interval 100` (JetPack 6): VDD_IN at 6.2 W
while true; do
  echo "RAM 2448/7620MB (lfb 2x4MB) CPU [1%@729,0%@729] VDD_IN 6200mW/6200mW VDD_CPU_GPU_CV 800mW/800mW"
  sleep 0.1
done
"""


def board(tmp_path: Path, meter: str, script: str, name: str) -> tuple[Path, dict]:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / name).write_text(script)
    (tools / name).chmod(0o755 | stat.S_IXUSR)
    profile = tmp_path / "board.toml"
    profile.write_text(f'name = "board"\ntransport = "local"\n[energy]\nmeter = "{meter}"\n')
    return profile, {"PATH": f"{tools}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("meter", "script", "name", "watts", "rails"),
    [
        ("rpi5-pmic", VCGENCMD, "vcgencmd", 4.5, {"VDD_CORE", "EXT5V"}),
        # both rails are read, but VDD_CPU_GPU_CV is a part of the board input VDD_IN: the total is
        # VDD_IN's 6.2 W (issue 15: adding the sub-rail gave 7.0 W)
        ("tegrastats", TEGRASTATS, "tegrastats", 6.2, {"VDD_IN", "VDD_CPU_GPU_CV"}),
    ],
)
def test_sampled_board_meter_integrates_power_over_the_window(
    bench_cli, tiny_files, tmp_path: Path, monkeypatch, meter, script, name, watts, rails
) -> None:
    profile, env = board(tmp_path, meter, script, name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = bench_cli("run", "--device-file", str(profile), "-m", str(tiny_files["onnx"]), "--min-time", "1",
                       "--store", str(tmp_path / "s.sqlite"), "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    energy = row["energy"]
    assert energy["meter"] == meter and set(energy["rails_j"]) == rails
    assert energy["window_j"] == pytest.approx(watts * energy["window_s"], rel=0.1)
    assert energy["idle_w"] == pytest.approx(watts, rel=0.05)
    assert abs(row["energy_mj_per_inference"]) < 0.1 * watts * row["median_ms"]  # constant power: nothing extra
