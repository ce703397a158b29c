"""Issue #17, faults 4-12: foreign and missing stores, what is stored is what ran, impossible energies,
non-finite numbers, model files read for what they are, bounded numeric options, one-line errors.

Every bad input is exit 2 with one line on stderr and nothing written; the stores' rows are
checked exactly afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error
from test_tool_output import MONSOON, PLAIN

from bench.errors import BenchError
from bench.measure import stats
from bench.measure.protocol import LIMITS, Protocol, check_number
from bench.results.store import Store
from export.reference import Inputs

FAST = ["--warmup", "1", "--min-runs", "5", "--min-time", "0"]


@pytest.fixture(scope="module")
def conv_onnx(tmp_path_factory) -> Path:
    """A real fp32 ONNX file (one 3x3 convolution on 1x3x16x16), written with onnx's own helpers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).random((4, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = tmp_path_factory.mktemp("models") / "conv.onnx"
    onnx.save(model, str(path))
    return path


def rows(store: Path) -> list[tuple]:
    """(model, format, precision, runtime, status) of every stored measurement, in order."""
    with sqlite3.connect(store) as db:
        return db.execute("select model, format, precision, runtime, status from measurements order by id").fetchall()


def made(folder: Path) -> list[str]:
    """What is in a test's folder besides its results folder (``bench_here``'s $BENCH_RESULTS)."""
    return sorted(p.name for p in folder.iterdir() if p.name != "results")


def ingest_plain(bench_here, tmp_path: Path, store: Path, *extra: str):
    log = tmp_path / "bm.log"
    log.write_text(PLAIN)
    return bench_here("ingest", str(log), "--tool", "benchmark_model", "--device", "pixel6", "-m", "m",
                     "--store", str(store), *extra)  # fmt: skip


# --- 4: never write to another program's database ----------------------------------------------


@pytest.mark.slow
def test_a_foreign_database_is_refused_and_left_byte_for_byte(bench_here, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("create table measurements (id integer primary key, reading real, label text)")
        db.execute("insert into measurements (reading, label) values (1.5, 'theirs')")
    before = other.read_bytes()
    assert_one_line_error(bench_here("results", "--store", str(other)), "not a bench store", "measurements")
    assert_one_line_error(ingest_plain(bench_here, tmp_path, other), "not a bench store")
    assert other.read_bytes() == before
    assert made(tmp_path) == ["bm.log", "other.sqlite"]  # no -wal / -shm either
    with sqlite3.connect(other) as db:
        assert db.execute("select name from sqlite_master").fetchall() == [("measurements",)]
        assert db.execute("select reading, label from measurements").fetchall() == [(1.5, "theirs")]


@pytest.mark.slow
def test_a_store_of_a_newer_bench_says_so_before_naming_its_new_tables(bench_here, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert ingest_plain(bench_here, tmp_path, store).code == 0
    with sqlite3.connect(store) as db:
        db.execute("create table newthing (x integer)")
        db.execute("update schema_info set value = '99'")
    assert_one_line_error(bench_here("results", "--store", str(store)), "has schema 99, newer than this bench")
    with sqlite3.connect(store) as db:
        db.execute("update schema_info set value = '-1'")
    assert_one_line_error(bench_here("results", "--store", str(store)), "schema version -1: a damaged store")


@pytest.mark.parametrize(
    "damage,fragment",
    [
        ("alter table measurements drop column median_ms", "without measurements.median_ms"),
        ("drop table runs", "without runs"),
    ],
)
def test_a_damaged_store_is_one_line_for_reading_and_writing(
    bench_here, tmp_path: Path, damage: str, fragment: str
) -> None:
    store = tmp_path / "s.sqlite"
    assert ingest_plain(bench_here, tmp_path, store).code == 0
    with sqlite3.connect(store) as db:
        db.execute("pragma foreign_keys=off")
        db.execute(damage)
    assert_one_line_error(bench_here("results", "--store", str(store)), "is damaged", fragment)
    assert_one_line_error(ingest_plain(bench_here, tmp_path, store), "is damaged", fragment)


@pytest.mark.slow
def test_a_schema_version_that_is_not_a_number_is_exit_2(bench_here, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert ingest_plain(bench_here, tmp_path, store).code == 0
    with sqlite3.connect(store) as db:
        db.execute("update schema_info set value = 'two'")
    assert_one_line_error(bench_here("results", "--store", str(store)), "'two'", "not a number")
    assert rows(store) == [("m", "tflite", "fp32", "litert", "ok")]


# --- 5: reading commands never create a store; a read-only store can be read ------------------


@pytest.mark.parametrize(
    "command",
    [
        ["results"],
        ["results", "--format", "json"],
        ["compare", "--baseline", "a1", "--candidate", "b2"],
        ["report", "--out", "{tmp}/report"],
        ["baseline", "save", "main"],
    ],
)
def test_reading_commands_never_create_a_store(bench_here, tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "typo" / "bench.sqlite"
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    assert_one_line_error(bench_here(*args, "--store", str(store)), f"no store at {store}")
    assert made(tmp_path) == []  # neither the store nor its folder nor the report folder


@pytest.mark.slow
@pytest.mark.parametrize("older", [False, True], ids=["current", "schema-3"])
def test_a_read_only_store_is_read_without_writing(bench_here, tmp_path: Path, older: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-ro-"))  # outside pytest's private tmp: other users may enter
    try:
        store = folder / "s.sqlite"
        assert ingest_plain(bench_here, tmp_path, store).code == 0
        if older:  # a store of the bench before #18: read as it is, not upgraded (it cannot be written)
            with sqlite3.connect(store) as db:
                db.execute("drop table accuracy")
                db.execute("alter table measurements drop column p95_ms")
                db.execute("update schema_info set value = '3'")
        for extra in folder.glob("s.sqlite-*"):
            extra.unlink()  # a cleanly closed WAL store: only the file itself
        store.chmod(0o444)
        folder.chmod(0o555)
        before = store.read_bytes()
        argv = [sys.executable, "-m", "bench.cli", "results", "--format", "json", "--store", str(store)]
        if os.geteuid() == 0:  # root writes anything: read as an unprivileged user instead
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: cannot read as another user")
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONDONTWRITEBYTECODE": "1"}
        if argv[0] == "setpriv":  # that user's own home: root's (0700) is closed to it, and ingest reads
            env["HOME"] = str(folder)  # ~/.config/bench/devices (an unreadable one is an error of its own)
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert [(r["model"], r["status"], r["median_ms"]) for r in json.loads(done.stdout)] == [("m", "ok", 249.684)]
        assert store.read_bytes() == before
        assert [p.name for p in folder.iterdir()] == ["s.sqlite"]
        if not older:  # a writing command on it: one line, exit 2, nothing changed
            log = folder.parent / f"{folder.name}-bm.log"
            log.write_text(PLAIN)
            log.chmod(0o644)
            write = [a for a in argv if a not in ("results", "--format", "json", "--store", str(store))]
            write += ["ingest", str(log), "--tool", "benchmark_model", "--device", "pixel6", "-m", "m", "--again",
                      "--store", str(store)]  # fmt: skip
            done = subprocess.run(write, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
            log.unlink()
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1 and "readonly" in done.stderr.replace("-", "")
            assert store.read_bytes() == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


# --- 6: what is stored is what ran ------------------------------------------------------------


@pytest.mark.slow
def test_an_absent_execution_provider_is_refused_before_any_work_and_used_ones_are_recorded(
    bench_here, bench_cli, conv_onnx: Path, tmp_path: Path
) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA: the provider is not absent")
    store = tmp_path / "s.sqlite"
    asked = bench_here("run", "-m", str(conv_onnx), "--store", str(store), "--accelerator", "cuda", *FAST)
    assert_one_line_error(asked, "CUDAExecutionProvider is not in onnxruntime", "pip install onnxruntime-gpu")
    as_option = bench_here("run", "-m", str(conv_onnx), "--store", str(store), "--option",
                          "providers=CUDAExecutionProvider", *FAST)  # fmt: skip
    assert_one_line_error(as_option, "is an accelerator: use --accelerator")
    assert not store.exists()  # refused before any work
    plain = bench_cli("run", "-m", str(conv_onnx), "--store", str(store), *FAST)
    assert plain.code == 0, plain.stderr
    (stored,) = Store(str(store)).measurement_rows()
    assert stored["status"] == "ok" and stored["accelerator"] == "cpu"
    assert stored["settings"]["options"]["providers"] == ["CPUExecutionProvider"]  # as the session reports


# --- 7: energies below zero are an error with the numbers, never a row --------------------------


@pytest.mark.slow
def test_idle_power_above_the_mean_power_is_exit_2_with_the_numbers(bench_here, tmp_path: Path) -> None:
    csv, store = tmp_path / "power.csv", tmp_path / "s.sqlite"
    csv.write_text(MONSOON)  # 2.0 J over 2 s: 1 W on average
    result = bench_here("ingest", str(csv), "--tool", "monsoon", "--device", "pixel6", "-m", "m", "-f", "tflite",
                       "--inferences", "10", "--idle-w", "1000", "--store", str(store))  # fmt: skip
    assert_one_line_error(result, "idle power 1000.000 W", "mean power 1.000 W", "2.000 J over 2.00 s", "below zero")
    assert not store.exists()
    ok = bench_here("ingest", str(csv), "--tool", "monsoon", "--device", "pixel6", "-m", "m", "-f", "tflite",
                   "--inferences", "10", "--idle-w", "0.5", "--store", str(store), "--json")  # fmt: skip
    assert ok.code == 0, ok.stderr
    assert json.loads(ok.stdout)["energy_mj_per_inference"] == pytest.approx((2.0 - 0.5 * 2) / 10 * 1e3)
    assert rows(store) == [("m", "tflite", "fp32", "litert", "ok")]


def test_a_meter_window_below_idle_is_unavailable_with_the_numbers() -> None:
    from bench.devices.energy.base import EnergyResult, negative_energy

    assert negative_energy(2.0, 2.0, 0.5) is None
    reason = negative_energy(2.0, 2.0, 3.0)
    assert "idle power 3.000 W is above the window's mean power 1.000 W" in reason
    assert negative_energy(float("nan"), 2.0, 0.0) is not None
    assert EnergyResult.unavailable("rapl", reason).mj_per_inference is None


# --- 8: non-finite samples or statistics are bad input ------------------------------------------


def _results_file(path: Path, samples, **stats_fields) -> Path:
    record = {"model": "m", "format": "onnx", "precision": "fp32", "runtime": "onnxruntime", "device": "host",
              "threads": 1, "repeat": 0, "status": "ok", "samples_ms": samples, **stats_fields}  # fmt: skip
    path.write_text(json.dumps([record]))
    return path


@pytest.mark.parametrize(
    "samples,fields,fragment",
    [
        ([1.0, float("nan"), 1.2] * 10, {}, "sample 1 is 'nan'"),
        ([1.0, float("inf")] * 10, {}, "sample 1 is 'inf'"),
        ([1e308] * 30, {}, "sample 0 is '1e+308'"),  # finite, but its variance overflows to inf
        (["fast", 1.0], {}, "sample 0 is 'fast'"),
        ("1,2,3", {}, "samples_ms must be a list"),
        (None, {"median_ms": float("nan")}, "median_ms is 'nan'"),
        (None, {"median_ms": "quick"}, "median_ms is 'quick'"),
        ([1.0] * 10, {"threads": "1; rm"}, "threads is '1; rm', not a whole number"),
    ],
)
def test_compare_refuses_non_finite_or_non_numeric_numbers(
    bench_here, tmp_path: Path, samples, fields: dict, fragment: str
) -> None:
    good = _results_file(tmp_path / "good.json", [1.0, 1.1, 1.2] * 10)
    bad = _results_file(tmp_path / "bad.json", samples, **fields)
    assert_one_line_error(bench_here("compare", "--baseline", str(good), "--candidate", str(bad)), "bad.json", fragment)


def test_a_baseline_is_not_saved_from_a_run_holding_a_non_finite_sample(tmp_path: Path) -> None:
    from bench.results.compare import baselines_dir, save_baseline

    good = json.loads(_results_file(tmp_path / "good.json", [1.0, 1.1, 1.2]).read_text())
    with pytest.raises(BenchError, match="baseline nanb: measurement 0: sample 1 is 'None'"):
        save_baseline("nanb", [{**good[0], "samples_ms": [1.0, None]}])
    assert not (baselines_dir() / "nanb.json").exists()


def test_the_finite_checks_accept_numbers_and_name_the_first_bad_value() -> None:
    assert stats.finite_samples([1, 2.5, np.float32(3)]).tolist() == [1.0, 2.5, 3.0]
    for bad, fragment in (([1.0, -2.0], "sample 1 is '-2.0'"), ([True], "sample 0 is 'True'"), (5, "not int")):
        with pytest.raises(ValueError, match=fragment):
            stats.finite_samples(bad)
    stats.check_statistics({"median_ms": 1.0, "p90_ms": None, "model": "x"})
    with pytest.raises(ValueError, match="init_ms is 'inf'"):
        stats.check_statistics({"init_ms": float("inf")}, ("init_ms",))


def test_the_agent_runner_fails_a_cell_whose_agent_printed_nan(tmp_path: Path, conv_onnx: Path) -> None:
    """A device's agent is outside this process: its output is checked like any file's."""
    from bench.devices.config import get_device
    from bench.devices.transports.base import Completed
    from bench.devices.transports.local import LocalTransport
    from bench.measure.measurement import Cell
    from bench.measure.runners import Workload
    from bench.measure.runners.agent_runner import AgentRunner

    events = [
        {"event": "hello"},
        {"event": "init", "init_ms": 1.0},
        {"event": "first", "first_ms": 1.0},
        {"event": "window", "start": 0, "end": 1, "n": 2},
        {"event": "samples", "ms": [1.0, float("nan")]},
        {"event": "done", "peak_rss_mb": 10.0},
    ]

    class PrintsNaN(LocalTransport):  # the device's answer, as a board with a broken clock would print it
        def run(self, argv, stdin=None, timeout=None):
            return Completed(0, "\n".join(json.dumps(e) for e in events), "")

    device = get_device("host")
    runner = AgentRunner(device, PrintsNaN(device), Protocol(), None, None)
    cell = Cell(str(conv_onnx), "onnx", "fp32", "onnxruntime", 1)
    done = runner.execute(cell, Workload(str(conv_onnx), None, Inputs.of_shape((1, 3, 16, 16))), {}, None)
    assert done.error == "the agent reported a bad number: sample 1 is 'nan', not a finite number of ms from 0 to 1e+12"
    assert done.samples is None


# --- 9: a model file's format and precision are read from the file ----------------------------


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--format", "tflite"], "is a model of format onnx"),
        (["--precision", "int8"], "the weights of"),
        (["--precision", "fp32,int8"], "int8: no model file given is that"),  # half of it would be dropped
        (["--format", "onnx,tflite"], "tflite: no model file given is that"),
    ],
)
def test_run_refuses_a_format_or_precision_the_file_is_not(
    bench_here, conv_onnx: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    store = tmp_path / "s.sqlite"
    assert_one_line_error(bench_here("run", "-m", str(conv_onnx), "--store", str(store), *args), fragment)
    assert not store.exists()


def test_a_model_files_precision_and_format_are_read_from_its_content(conv_onnx: Path, tmp_path: Path) -> None:
    from export.base import precision_of_dtypes, read_model_file

    assert read_model_file(conv_onnx) == ("onnx", "fp32")
    assert precision_of_dtypes({"float32", "int8"}) == "int8"
    assert precision_of_dtypes({"float32", "float16"}) == "fp16"
    disguised = tmp_path / "model.onnx"
    disguised.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    with pytest.raises(BenchError, match="is a TFLite flatbuffer"):
        read_model_file(disguised)
    assert read_model_file(tmp_path / "missing.tflite") == ("tflite", None)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--precision", "fp64"], "does not support precision 'fp64'"),
        (["-f", "onnx"], "a benchmark_model log is of a tflite model"),
        (["-m", "red\x1b[31mtext"], "--model: a name of 1 to 200 printable characters"),
        (["-m", "two\nlines"], "--model: a name of 1 to 200 printable characters"),
        (["--interval-ms", "5"], "--interval-ms applies to tegrastats logs"),
    ],
)
def test_ingest_refuses_a_precision_or_format_the_log_cannot_have(
    bench_here, tmp_path: Path, args: list[str], fragment: str
) -> None:
    store = tmp_path / "s.sqlite"
    assert_one_line_error(ingest_plain(bench_here, tmp_path, store, *args), fragment)
    assert not store.exists()


# --- 10 and 11: every numeric option is finite and within its documented range ----------------


def test_a_chunk_longer_than_the_sustained_run_is_exit_2(bench_here, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    result = bench_here("run", "-m", "edgevit_xxs", "--sustained", "2", "--chunk", "5", "--store", str(store))
    assert_one_line_error(result, "--chunk 5 is longer than --sustained 2")
    assert not store.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--min-time", "nan"],
        ["run", "--sustained", "nan"],
        ["run", "--warmup", "99999999999"],
        ["run", "--repeats", "1000000000"],
        ["run", "--max-time", "inf"],
        ["run", "--cooldown", "-1"],
        ["run", "--chunk", "0"],
        ["run", "--chunk", "1e-300"],
        ["run", "--threads", "1,100000"],
        ["farm", "scheduler", "--port", "99999"],
        ["farm", "scheduler", "--port", "-1"],
        ["ingest", "x.log", "--tool", "monsoon", "--device", "d", "-m", "m", "--idle-w", "nan"],
        ["ingest", "x.log", "--tool", "monsoon", "--device", "d", "-m", "m", "--inferences", "-5"],
        ["profile", "edgevit_xxs", "--runs", "1"],
        ["flops", "edgevit_xxs", "--depth", "99"],
    ],
)
def test_numeric_options_out_of_range_are_exit_2(bench_here, tmp_path: Path, args: list[str]) -> None:
    option = next(a for a in args[1:] if a.startswith("--") and a not in ("--tool", "--device"))
    store = ["--store", str(tmp_path / "s.sqlite")] if args[0] in ("run", "ingest") else []
    assert_one_line_error(bench_here(*args, *store), option, "must be a number")
    assert made(tmp_path) == []


def test_one_range_check_serves_the_cli_and_the_protocol() -> None:
    assert check_number("--warmup", 0) == 0 and check_number("--port", 65535) == 65535
    for option, value in (("--min-time", float("nan")), ("--ci-target", 0.0), ("--port", 10**400)):
        with pytest.raises(BenchError, match=option):
            check_number(option, value)
    assert check_number("--depth", 0) == 0
    with pytest.raises(BenchError, match="from 1 to 8"):
        check_number("--depth", 0, "profile")
    with pytest.raises(BenchError, match="--sustained nan"):
        Protocol(sustained_s=float("nan")).validate()
    assert set(Protocol.OPTIONS.values()) <= set(LIMITS)


# --- 12: one-line errors instead of tracebacks ----------------------------------------------------


@pytest.mark.slow
def test_outputs_that_cannot_be_written_are_one_line_errors(bench_here, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert ingest_plain(bench_here, tmp_path, store).code == 0
    (tmp_path / "folder").mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("")
    run_json = bench_here("results", "--format", "json", "--store", str(store)).stdout
    (tmp_path / "r.json").write_text(run_json)
    ref = str(tmp_path / "r.json")
    cases = [
        (("results", "--format", "csv", "--out", str(tmp_path / "folder")), "is a folder"),
        (("results", "--format", "csv", "--out", str(tmp_path / "missing" / "parent" / "x.csv")), "does not exist"),
        (("compare", "--baseline", ref, "--candidate", ref, "--markdown", str(tmp_path / "folder")), "is a folder"),
        (("export", "edgevit_xxs", "--out", str(a_file)), "is a file, not a folder"),
    ]
    for args, fragment in cases:
        assert_one_line_error(bench_here(*args, *(["--store", str(store)] if args[0] == "results" else [])), fragment)
    assert not (tmp_path / "missing").exists()
    assert rows(store) == [("m", "tflite", "fp32", "litert", "ok")]


@pytest.mark.slow
def test_bad_files_and_addresses_are_one_line_errors(bench_here, bench_cli, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('name = "caf\xe9"\ntransport = "local"\n'.encode("latin-1"))
    assert_one_line_error(bench_here("devices", "--device-file", str(latin1)), "not UTF-8")
    factory = tmp_path / "factory.py"
    factory.write_text("def make():\n    return 42\n")
    assert_one_line_error(bench_here("profile", f"{factory}:make"), "returned int, not a torch.nn.Module")
    # a scheduler that could listen would start there and then: in a process of its own
    assert_one_line_error(bench_cli("farm", "scheduler", "--host", "999.1.1.1"), "--host 999.1.1.1: cannot listen")
    for address in ("tcp://127.0.0.1:notaport", "tcp://[::1"):
        farm_store = tmp_path / "farm.sqlite"
        assert_one_line_error(bench_here("run", "--farm", address, "-m", "edgevit_xxs", "--store", str(farm_store)),
                              "bad scheduler address")  # fmt: skip
        assert not farm_store.exists()  # exit 2 leaves no store behind
    phone = tmp_path / "phone.toml"
    phone.write_text('name = "phone"\ntransport = "adb"\naddress = "127.0.0.1:5555"\nadb = "/nonexistent/adb"\n'
                     '[runtimes]\navailable = ["litert"]\n')  # fmt: skip
    assert_one_line_error(bench_here("devices", "--device-file", str(phone), "--probe", "phone"), "not found")


def test_a_sampled_window_just_below_idle_is_zero_within_the_sampling_error_and_far_below_is_refused() -> None:
    from bench.devices.energy.jetson import TegrastatsMeter
    from bench.devices.transports.local import LocalTransport

    def line(watts: float) -> dict:
        return {"line": f"RAM 1/2MB VDD_IN {round(watts * 1e3)}mW/{round(watts * 1e3)}mW"}

    def window(t0: float, seconds: float, watts: float, first: float) -> dict:
        # a stream sampled every 0.1 s from `first` s after the window opens: the trapezoids miss its ends
        samples = [{"t": t0 + first + 0.1 * i, "values": line(watts)} for i in range(int((seconds - first) / 0.1) + 1)]
        samples = [s for s in samples if s["t"] <= t0 + seconds]
        return {"before": {"t": t0, "values": {}}, "samples": samples, "after": {"t": t0 + seconds, "values": {}}}

    meter = TegrastatsMeter(LocalTransport(None))
    idle = window(0.0, 1.0, 6.2, 0.0)
    kept = meter.energy_per_inference(window(10.0, 1.0, 6.2, 0.09), idle, 100)  # same power, sampled late
    # kept as measured: a net of zero within the sampling error (2 periods of 0.1 s over a 1 s window of 6.2 W)
    assert kept.mj_per_inference is not None and abs(kept.mj_per_inference) <= 0.2 * 6.2 / 100 * 1e3, kept.note
    refused = meter.energy_per_inference(window(10.0, 1.0, 4.0, 0.0), idle, 100)  # far below idle power
    assert refused.mj_per_inference is None and "above the window's mean power" in refused.note
