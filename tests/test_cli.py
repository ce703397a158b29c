"""The bench command line, run as a real process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_line_error


def test_help_lists_every_command_with_one_line_help(bench_cli) -> None:
    result = bench_cli("--help")
    assert result.code == 0
    for command in ("models", "flops"):
        assert any(line.strip().startswith(command + " ") for line in result.stdout.splitlines())


def test_version(bench_cli) -> None:
    import bench

    result = bench_cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"bench {bench.__version__}"


@pytest.mark.slow
def test_models_json_has_measured_and_published_numbers(bench_here, results_dir: Path) -> None:
    result = bench_here("models", "edgevit*", "--json")
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["edgevit_s", "edgevit_xs", "edgevit_xxs"]
    xxs = rows[2]
    assert xxs["input_shape"] == [1, 3, 224, 224]
    assert abs(xxs["params_m"] - 4.07) < 0.01 and abs(xxs["macs_g"] - 0.557) < 0.005
    assert xxs["published_top1"] == 74.4 and any("2205.03436" in s for s in xxs["sources"])
    assert (results_dir / "cache" / "macs.json").is_file()


@pytest.mark.slow
def test_models_table_uses_the_cache_on_a_second_call(bench_here, results_dir: Path) -> None:
    first = bench_here("models", "edgevit_xxs")
    cache = json.loads((results_dir / "cache" / "macs.json").read_text())
    cache["entries"]["edgevit_xxs"] = [1.0, 2.0]  # a marker only a cache read can produce
    (results_dir / "cache" / "macs.json").write_text(json.dumps(cache))
    second = bench_here("models", "edgevit_xxs", "--json")
    assert first.code == 0 and "edgevit_xxs" in first.stdout
    assert json.loads(second.stdout)[0]["macs_g"] == 2.0


@pytest.mark.slow
def test_models_suite_filter(bench_here) -> None:
    result = bench_here("models", "deit*", "--suite", "default", "--json")
    names = [r["name"] for r in json.loads(result.stdout)]
    assert names == ["deit_tiny_patch16_224", "deit_small_patch16_224"]


@pytest.mark.slow
def test_flops_json_lists_modules_cross_check_and_skipped_ops(bench_here) -> None:
    result = bench_here("flops", "shiftvit_tiny_light", "--depth", "1", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["unit"].startswith("MACs")
    assert abs(report["macs"] / 1e9 - 2.963) / 2.963 < 0.02
    assert 1.0 <= report["cross_check_ratio"] < 1.02
    assert {m["name"] for m in report["modules"]} >= {"(total)", "patch_embed", "layers", "head"}
    assert report["skipped_ops"]["aten::gelu"] == 12


@pytest.mark.slow
def test_flops_table_says_macs(bench_here) -> None:
    result = bench_here("flops", "edgevit_xxs")
    assert result.code == 0
    assert "MACs (one multiply-add = 1)" in result.stdout and "blocks1" in result.stdout
    assert "not counted" in result.stdout


def test_unknown_model_exits_2_with_closest_names(bench_here) -> None:
    assert_one_line_error(bench_here("flops", "edgevit_xx"), "unknown model 'edgevit_xx'", "edgevit_xxs")


def test_pattern_matching_nothing_exits_2(bench_here) -> None:
    assert_one_line_error(bench_here("models", "nothing*"), "no zoo model matches")


def test_unknown_suite_exits_2(bench_here) -> None:
    assert_one_line_error(bench_here("models", "--suite", "huge"), "unknown suite 'huge'", "default")


def test_missing_weights_file_exits_2_with_the_path(bench_here, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    assert_one_line_error(bench_here("flops", "edgevit_xxs", "--weights", str(missing)), str(missing))


def test_weights_file_that_is_not_a_checkpoint_exits_2(bench_here, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_text("this is not a checkpoint\n")
    assert_one_line_error(bench_here("flops", "edgevit_xxs", "--weights", str(junk)), "not a PyTorch checkpoint")


@pytest.mark.slow
def test_checkpoint_of_another_model_exits_2(bench_here, tmp_path: Path) -> None:
    import torch

    import models

    path = tmp_path / "ast.pth"
    torch.save(models.create_model("ast_xxs").state_dict(), path)
    assert_one_line_error(bench_here("flops", "edgevit_xxs", "--weights", str(path)), "missing keys", "unexpected keys")


def test_nonsense_option_value_exits_2_without_traceback(bench_here) -> None:
    result = bench_here("flops", "edgevit_xxs", "--depth", "lots")
    assert result.code == 2 and "Traceback" not in result.stderr and "--depth" in result.stderr


@pytest.mark.slow
def test_run_logs_one_line_per_finished_cell_when_stdout_is_not_a_terminal(
    bench_cli, tiny_files, tmp_path: Path
) -> None:
    name = str(tiny_files["onnx"])  # a file given directly is its own model name
    store = str(tmp_path / "s.sqlite")
    args = ("run", "-m", str(tiny_files["onnx"]), "--format", "onnx", "--threads", "1,2", "--store", store,
            "--warmup", "1", "--min-runs", "5", "--min-time", "0.05")  # fmt: skip
    piped = bench_cli(*args)
    assert piped.code == 0, piped.stderr
    lines = [line for line in piped.stdout.splitlines() if " on host: median " in line]
    assert [line.split(": median ")[0] for line in lines] == [
        f"{name} onnx/fp32 onnxruntime x1 on host",
        f"{name} onnx/fp32 onnxruntime x2 on host",
    ]
    assert all(float(line.split(": median ")[1].removesuffix(" ms")) > 0 for line in lines)
    as_json = bench_cli(*args, "--json")  # the same lines go to stderr: stdout stays pure JSON
    assert as_json.code == 0 and len(json.loads(as_json.stdout)) == 2
    assert sum(" on host: median " in line for line in as_json.stderr.splitlines()) == 2


@pytest.mark.slow
def test_run_json_rows_carry_the_run_id_that_bench_results_takes(bench_cli, tiny_files, tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    result = bench_cli("run", "-m", str(tiny_files["onnx"]), "--format", "onnx", "--threads", "1,2", "--store", store,
                       "--warmup", "1", "--min-runs", "5", "--min-time", "0.05", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)  # still a list of rows: readers of the old output keep working
    assert isinstance(rows, list) and len(rows) == 2
    (run_id,) = {row["run_id"] for row in rows}
    stored = bench_cli("results", "--run", run_id, "--format", "json", "--store", store)
    assert stored.code == 0, stored.stderr
    assert [(r["run_id"], r["threads"], r["median_ms"], r["created_at"]) for r in json.loads(stored.stdout)] == [
        (r["run_id"], r["threads"], r["median_ms"], r["created_at"]) for r in rows
    ]  # the --json lines are the stored rows, their time of storing included
    assert "run_id" in bench_cli("run", "--help").stdout  # the help says where the id is


FACTORY = "tests/user_models/digits_models.py:convnet"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "-m", "edgevit_xxs", "--accelerator", "warp"], "unknown accelerator 'warp'"),
        (["run", "-m", FACTORY, "--accelerator", "warp"], "unknown accelerator 'warp'"),
        (["run", "-m", "tests/nowhere.py:make"], "model file not found: tests/nowhere.py"),
        (["export", "mobilenetv3_small_100"], "unknown model 'mobilenetv3_small_100'"),
        (["export", FACTORY, "--precision", "int8-static"], "needs --calibration DIR"),
        (["export", "edgevit_xxs", "-f", "onnx", "--precision", "fp64"], "does not support precision 'fp64'"),
    ],
)
def test_a_bad_option_is_refused_before_torch_loads(argv: list[str], message: str, tmp_path: Path) -> None:
    # bench run and bench export name their models (zoo cards, a factory's canonical reference)
    # without loading them, so a typo costs the user no torch import (2-3 s)
    import os
    import subprocess
    import sys

    from conftest import ROOT

    code = (
        "import sys\nfrom bench.cli import main\n"
        f"sys.argv = ['bench', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "BENCH_RESULTS": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert message in done.stderr


def test_ctrl_c_while_the_command_loads_ends_in_one_line_and_130() -> None:
    import subprocess
    import sys

    # Ctrl-C arrives while a command group's module is being imported (the first ~0.3 s of `bench`)
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'bench.cli.devices':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "import bench.cli\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (130, "interrupted\n")
