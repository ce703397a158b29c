"""bench ingest: logs and power traces measured elsewhere become stored, marked measurements."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import assert_one_line_error
from test_tool_output import INFO, MONSOON, PERF_TEST, PLAIN

from bench.results.store import SCHEMA_VERSION


def ingest(bench_cli, tmp_path: Path, text: str, *args: str):
    log = tmp_path / "phone run.log"
    log.write_text(text)
    return bench_cli("ingest", str(log), "--store", str(tmp_path / "s.sqlite"), *args)


def test_a_benchmark_model_log_becomes_a_measurement_that_says_what_it_lacked(bench_cli, tmp_path: Path) -> None:
    result = ingest(bench_cli, tmp_path, PLAIN, "--tool", "benchmark_model", "--device", "pixel6",
                    "-m", "mobilenetv2_100", "--threads", "4", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    row = json.loads(result.stdout)
    assert (row["format"], row["runtime"], row["threads"], row["n_samples"]) == ("tflite", "litert", 4, 50)
    assert row["mean_ms"] == row["median_ms"] == 249.684
    assert row["source"]["method"] == "ingested" and row["source"]["tool_format"] == "plain"
    assert {"median", "p5", "p95", "delegation"} <= set(row["source"]["missing"])
    assert row["macs"] > 0 and row["gflops_per_s"] > 0  # a zoo model: MACs from the zoo
    listed = bench_cli("results", "--format", "json", "--store", str(tmp_path / "s.sqlite"))
    assert json.loads(listed.stdout)[0]["model"] == "mobilenetv2_100"


def test_the_newer_format_keeps_partial_delegation(bench_cli, tmp_path: Path) -> None:
    result = ingest(bench_cli, tmp_path, INFO, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m", "--json")
    row = json.loads(result.stdout)
    assert row["source"]["partially_delegated"] is True and row["median_ms"] == 249.6


def test_perf_test_and_monsoon_logs(bench_cli, tmp_path: Path) -> None:
    perf = ingest(bench_cli, tmp_path, PERF_TEST, "--tool", "onnxruntime_perf_test", "--device", "pixel6",
                  "-m", "m", "--json")  # fmt: skip
    assert json.loads(perf.stdout)["format"] == "onnx"
    power = ingest(bench_cli, tmp_path, MONSOON, "--tool", "monsoon", "--device", "pixel6", "-m", "m", "-f", "tflite",
                   "--inferences", "100", "--idle-w", "0.5", "--json")  # fmt: skip
    row = json.loads(power.stdout)
    assert abs(row["energy_mj_per_inference"] - (2.0 - 0.5 * 2.0) / 100 * 1e3) < 1e-9
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("select count(*) from measurements").fetchone()[0] == 2


def test_an_unparsable_file_is_exit_2_naming_the_line(bench_cli, tmp_path: Path) -> None:
    bad = PLAIN.replace("avg=249684", "avg=oops")
    result = ingest(bench_cli, tmp_path, bad, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert_one_line_error(result, "phone run.log:9", "benchmark_model")
    assert not (tmp_path / "s.sqlite").exists() or _count(tmp_path / "s.sqlite") == 0


def _count(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return db.execute("select count(*) from measurements").fetchone()[0]


def test_bad_ingest_arguments_are_one_line_errors(bench_cli, tmp_path: Path) -> None:
    assert_one_line_error(
        ingest(bench_cli, tmp_path, PLAIN, "--tool", "xprof", "--device", "p", "-m", "m"), "unknown tool 'xprof'"
    )
    assert_one_line_error(ingest(bench_cli, tmp_path, MONSOON, "--tool", "monsoon", "--device", "p", "-m", "m"),
                          "--format is needed")  # fmt: skip
    missing = bench_cli("ingest", str(tmp_path / "none.log"), "--tool", "benchmark_model", "--device", "p", "-m", "m")
    assert_one_line_error(missing, "cannot read")


def test_an_older_store_is_upgraded_in_place(bench_cli, tmp_path: Path) -> None:
    store = tmp_path / "old.sqlite"
    ingest(bench_cli, tmp_path, PLAIN, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    (tmp_path / "s.sqlite").rename(store)
    with sqlite3.connect(store) as db:  # make it a version-1 store: no source column
        db.execute("alter table measurements drop column source")
        db.execute("update schema_info set value = '1'")
    result = bench_cli("results", "--format", "json", "--store", str(store))
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)[0]["source"] is None
    with sqlite3.connect(store) as db:
        assert db.execute("select value from schema_info").fetchone()[0] == str(SCHEMA_VERSION)  # 5 since #15's p95_ms
        db.execute("update schema_info set value = '99'")
    assert_one_line_error(bench_cli("results", "--store", str(store)), "schema 99", "upgrade bench")
