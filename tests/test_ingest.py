"""bench ingest: logs and power traces measured elsewhere become stored, marked measurements."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from test_tool_output import INFO, MONSOON, ORT_PLACEMENT, PERF_TEST, PLAIN

from bench.results.store import SCHEMA_VERSION


def ingest(bench_cli, tmp_path: Path, text: str, *args: str):
    log = tmp_path / "phone run.log"
    log.write_text(text)
    return bench_cli("ingest", str(log), "--store", str(tmp_path / "s.sqlite"), *args)


@pytest.mark.slow
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


def test_the_newer_format_keeps_partial_delegation(bench_here, tmp_path: Path) -> None:
    result = ingest(bench_here, tmp_path, INFO, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m", "--json")
    row = json.loads(result.stdout)
    assert row["source"]["partially_delegated"] is True and row["median_ms"] == 249.6


def test_perf_test_and_monsoon_logs(bench_here, tmp_path: Path) -> None:
    perf = ingest(bench_here, tmp_path, PERF_TEST, "--tool", "onnxruntime_perf_test", "--device", "pixel6",
                  "-m", "m", "--json")  # fmt: skip
    assert json.loads(perf.stdout)["format"] == "onnx"
    power = ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "pixel6", "-m", "m", "-f", "tflite",
                   "--inferences", "100", "--idle-w", "0.5", "--json")  # fmt: skip
    row = json.loads(power.stdout)
    assert abs(row["energy_mj_per_inference"] - (2.0 - 0.5 * 2.0) / 100 * 1e3) < 1e-9
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("select count(*) from measurements").fetchone()[0] == 2


def test_an_unparsable_file_is_exit_2_naming_the_line(bench_here, tmp_path: Path) -> None:
    bad = PLAIN.replace("avg=249684", "avg=oops")
    result = ingest(bench_here, tmp_path, bad, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert_one_line_error(result, "phone run.log:9", "benchmark_model")
    assert not (tmp_path / "s.sqlite").exists() or _count(tmp_path / "s.sqlite") == 0


def _count(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return db.execute("select count(*) from measurements").fetchone()[0]


def test_bad_ingest_arguments_are_one_line_errors(bench_here, tmp_path: Path) -> None:
    assert_one_line_error(
        ingest(bench_here, tmp_path, PLAIN, "--tool", "xprof", "--device", "p", "-m", "m"), "unknown tool 'xprof'"
    )
    assert_one_line_error(ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "p", "-m", "m"),
                          "--format is needed")  # fmt: skip
    missing = bench_here("ingest", str(tmp_path / "none.log"), "--tool", "benchmark_model", "--device", "p", "-m", "m")
    assert_one_line_error(missing, "cannot read")


@pytest.mark.slow
def test_an_older_store_is_upgraded_in_place(bench_here, tmp_path: Path) -> None:
    # processes, not bench_here: the store file is renamed and altered between commands, as only a
    # finished process (whose connections are closed) leaves it
    store = tmp_path / "old.sqlite"
    ingest(bench_here, tmp_path, PLAIN, "--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    (tmp_path / "s.sqlite").rename(store)
    with sqlite3.connect(store) as db:  # make it a version-1 store: no source column
        db.execute("alter table measurements drop column source")
        db.execute("update schema_info set value = '1'")
    result = bench_here("results", "--format", "json", "--store", str(store))
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)[0]["source"] is None
    with sqlite3.connect(store) as db:
        assert db.execute("select value from schema_info").fetchone()[0] == str(SCHEMA_VERSION)  # 7 since #22
        db.execute("update schema_info set value = '99'")
    assert_one_line_error(bench_here("results", "--store", str(store)), "schema 99", "upgrade bench")


# --- power logs: cut lines, whole-second stamps, one sample, ignored options, encodings ---------

REAL = Path(__file__).parent / "fixtures" / "real-logs"
THOR = (REAL / "tegrastats_jp7.2_agx_thor_wendyos_pr1316.txt").read_text().strip()
AGX_ORIN = (REAL / "tegrastats_jp6_agx_orin64_jetson_exporter_issue14.txt").read_text().strip()
MAC = (REAL / "powermetrics_macos11_m1_macmini_2samples.txt").read_text()


def stamped(line: str, copies: int) -> str:
    """``copies`` of a time-stamped tegrastats line, one second apart."""
    stamp = line[:19]
    return "\n".join(line.replace(stamp, f"{stamp[:-2]}{k:02d}", 1) for k in range(copies))


def test_power_logs_cut_mid_line_drop_the_cut_sample_and_say_so(bench_here, tmp_path: Path) -> None:
    from bench.devices.energy.jetson import parse_tegrastats_log
    from bench.devices.energy.macos import parse_powermetrics_log
    from bench.devices.energy.monsoon import parse_monsoon_csv

    four = stamped(THOR, 4)
    cut = four[: four.rindex(" VIN ")]  # the 4th sample cut before its total rail
    result = ingest(bench_here, tmp_path, cut, "--tool", "tegrastats", "--device", "thor", "-m", "m", "-f", "onnx",
                    "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    energy = json.loads(result.stdout)["energy"]
    # before: 174.852 J over 3.00 s (the cut sample's interval counted in the time, not in the energy)
    assert (energy["window_j"], energy["window_s"]) == (pytest.approx(174.852), 2.0)
    assert "line 4 (lacks VIN)" in json.loads(result.stdout)["energy_note"]
    # the inferences ran over all 3 s, the energy covers 2 s of them: no per-inference energy (was 33% low)
    per = ingest(bench_here, tmp_path, cut, "--tool", "tegrastats", "--device", "thor", "-m", "m", "-f", "onnx",
                 "--inferences", "100", "--again", "--json")  # fmt: skip
    row = json.loads(per.stdout)
    assert per.code == 0 and row["energy_mj_per_inference"] is None and row["energy"]["window_j"] > 0
    assert "no per-inference energy stored: 1 s at the log's ends (line 4 dropped)" in row["energy_note"]
    orin = stamped(AGX_ORIN, 4)
    trace = parse_tegrastats_log(orin[: orin.rindex(" VIN_SYS_5V0 ")])  # before: 16.24 J over 3 s
    assert (trace.joules, trace.seconds, trace.samples) == (pytest.approx(13.51), 2.0, 3)
    rows = orin.splitlines()
    rows[1] = rows[1][: rows[1].index(" VIN_SYS_5V0 ")]
    middle = parse_tegrastats_log("\n".join(rows))  # line 2 cut: lines 1 and 3 bridge it
    assert (middle.joules, middle.seconds) == (pytest.approx(6.755 * 3), 3.0) and "line 2" in middle.note
    assert middle.uncovered == "" and trace.uncovered.startswith("1 s at the log's ends")  # bridged vs lost
    mac = parse_powermetrics_log(MAC[: MAC.index("E-Cluster Power: 7 mW") + len("E-Cluster Power: 7 mW")])
    # before: 0.045 J over 2.02 s (the cut sample's elapsed time counted with no Package line)
    assert (mac.joules, mac.seconds, mac.samples) == (pytest.approx(0.045216), pytest.approx(1.0048), 1)
    assert "1 of 2 samples dropped" in mac.note and "lacks" in mac.note and "package" in mac.note
    assert mac.uncovered.endswith("s, the elapsed time of the dropped samples")
    monsoon = parse_monsoon_csv(MONSOON[:-3])  # the last row cut in its voltage: 4 of 4.0
    assert (monsoon.joules, monsoon.seconds) == (pytest.approx(0.8), 1.0) and "line 4" in monsoon.note
    assert monsoon.uncovered == "the interval before line 4, the dropped last row"
    assert parse_monsoon_csv(MONSOON).uncovered == "" and parse_powermetrics_log(MAC).uncovered == ""


def test_tegrastats_whole_second_stamps_never_set_a_wrong_interval(bench_here, tmp_path: Path) -> None:
    five = "\n".join("08-15-2023 10:22:00 VDD_IN 10000mW/10000mW" for _ in range(5))  # 100 ms apart
    refused = ingest(bench_here, tmp_path, five, "--tool", "tegrastats", "--device", "d", "-m", "m", "-f", "onnx")
    assert_one_line_error(refused, "share one time stamp", "give --interval-ms")  # before: 40 J over 4 s
    args = ("--tool", "tegrastats", "--device", "d", "-m", "m", "-f", "onnx", "--json")
    given = json.loads(ingest(bench_here, tmp_path, five, *args, "--interval-ms", "100").stdout)
    assert given["energy"]["window_j"] == pytest.approx(4.0) and given["energy"]["window_s"] == pytest.approx(0.4)
    lines = "\n".join(f"08-15-2023 10:22:{k // 10:02d} VDD_IN 10000mW/10000mW" for k in range(25))
    assert ingest(bench_here, tmp_path, lines, *args).code == 2  # before: 20 J, "0.0833 s apart"
    given = json.loads(ingest(bench_here, tmp_path, lines, *args, "--interval-ms", "100").stdout)
    assert given["energy"]["window_j"] == pytest.approx(24.0) and "check --interval-ms" not in given["energy_note"]
    wrong = json.loads(ingest(bench_here, tmp_path, lines, *args, "--interval-ms", "500", "--again").stdout)
    assert "time stamps span 2 s" in wrong["energy_note"] and "check --interval-ms" in wrong["energy_note"]


def test_a_one_line_tegrastats_log_says_it_is_one_sample(bench_here, tmp_path: Path) -> None:
    result = ingest(bench_here, tmp_path, THOR, "--tool", "tegrastats", "--device", "d", "-m", "m", "-f", "onnx")
    assert_one_line_error(result, "1 sample read (rails VDD_GPU, VDD_CPU_SOC_MSS, VIN_SYS_5V0, VIN)",
                          "energy needs at least two samples, one interval apart")  # fmt: skip
    assert "cannot parse" not in result.stderr


def test_options_a_tool_does_not_use_are_refused_and_idle_zero_is_said(bench_here, tmp_path: Path) -> None:
    for option, value in (("--inferences", "10"), ("--idle-w", "0.5")):
        result = ingest(bench_here, tmp_path, PLAIN, "--tool", "benchmark_model", "--device", "d", "-m", "m",
                        option, value)  # fmt: skip
        assert_one_line_error(result, f"{option} applies to power logs", "monsoon, tegrastats, powermetrics")
    result = ingest(bench_here, tmp_path, PERF_TEST, "--tool", "onnxruntime_perf_test", "--device", "d", "-m", "m",
                    "--idle-w", "0")  # fmt: skip
    assert_one_line_error(result, "--idle-w applies to power logs")
    result = ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "d", "-m", "m", "-f", "tflite",
                    "--run", "2")  # fmt: skip
    assert_one_line_error(result, "--run applies to", "benchmark_model, onnxruntime_perf_test")
    assert not (tmp_path / "s.sqlite").exists()
    zero = ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "d", "-m", "m", "-f", "tflite",
                  "--idle-w", "0", "--json")  # fmt: skip
    assert "idle power 0 W subtracted (as given)" in json.loads(zero.stdout)["energy_note"]
    over = ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "d", "-m", "m", "-f", "tflite",
                  "--idle-w", "3")  # fmt: skip
    assert_one_line_error(over, "net of idle power would be -4.000 J over the whole window, below zero")
    assert "per inference" not in over.stderr


def test_logs_with_a_byte_order_mark_are_read_and_other_encodings_named(bench_here, tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    args = ("--store", store, "--device", "d", "-m", "m", "--json")
    for name, data in (("ps.log", PLAIN.encode("utf-16")), ("bom.log", PLAIN.encode("utf-8-sig"))):
        (tmp_path / name).write_bytes(data)  # PowerShell's `>` writes UTF-16 LE with a BOM
        result = bench_here("ingest", str(tmp_path / name), "--tool", "benchmark_model", *args, "--again")
        assert result.code == 0, result.stderr  # --again: the same log in two encodings is one content
        assert json.loads(result.stdout)["mean_ms"] == 249.684
    (tmp_path / "csv").write_bytes(MONSOON.encode("utf-32"))
    result = bench_here("ingest", str(tmp_path / "csv"), "--tool", "monsoon", "-f", "tflite", *args)
    assert json.loads(result.stdout)["energy"]["window_j"] == pytest.approx(2.0)
    text = "# Gerät Pixel 6\n" + PLAIN
    (tmp_path / "cp.log").write_bytes(text.encode("cp1252"))
    result = bench_here("ingest", str(tmp_path / "cp.log"), "--tool", "benchmark_model", *args)
    assert_one_line_error(
        result, f"cp.log is not UTF-8 text (byte 0xe4 at offset {text.index('ä')}); save the log as UTF-8"
    )
    (tmp_path / "nobom.log").write_bytes(PLAIN.encode("utf-16-le"))
    result = bench_here("ingest", str(tmp_path / "nobom.log"), "--tool", "benchmark_model", *args)
    assert_one_line_error(result, "NUL bytes", "save the log as UTF-8")


def test_a_file_ingested_before_is_refused_unless_asked_again(bench_here, tmp_path: Path) -> None:
    args = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert ingest(bench_here, tmp_path, PLAIN, *args).code == 0
    assert_one_line_error(ingest(bench_here, tmp_path, PLAIN, *args), "already ingested", "--again")
    assert _count(tmp_path / "s.sqlite") == 1  # never pooled twice in reports and compare
    assert ingest(bench_here, tmp_path, PLAIN, *args, "--again").code == 0
    assert _count(tmp_path / "s.sqlite") == 2
    assert ingest(bench_here, tmp_path, PLAIN.replace("count=50", "count=51"), *args).code == 0  # other content
    # the same log saved by another editor: CRLF, UTF-16 with a byte-order mark, a blank line added
    for name, data in (("crlf", PLAIN.replace("\n", "\r\n").encode()), ("utf16", PLAIN.encode("utf-16")),
                       ("blank", (PLAIN + "\n \n").encode())):  # fmt: skip
        (tmp_path / name).write_bytes(data)
        result = bench_here("ingest", str(tmp_path / name), "--store", str(tmp_path / "s.sqlite"), *args)
        assert_one_line_error(result, "already ingested", "--again")
    assert _count(tmp_path / "s.sqlite") == 3


def test_the_content_digest_splits_lines_as_the_parsers_do() -> None:
    from bench.results.ingest import content_digest

    assert PLAIN.splitlines() == PLAIN.replace("\n", "\u2028").splitlines()  # one log to the parsers
    same = {content_digest(PLAIN.replace("\n", end)) for end in ("\n", "\r\n", "\r", "\u2028", "\x85")}
    assert same == {content_digest(PLAIN + " \n\n")}
    assert content_digest(PLAIN) != content_digest(PLAIN.replace("count=50", "count=51"))
    assert content_digest(PLAIN, run=1) != content_digest(PLAIN, run=2) != content_digest(PLAIN)


def test_each_run_of_a_file_of_several_is_ingested_once(bench_here, tmp_path: Path) -> None:
    two = PLAIN + PLAIN.replace("avg=249684", "avg=250684").replace("(avg): 249684", "(avg): 250684")
    args = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert ingest(bench_here, tmp_path, two, *args, "--run", "2").code == 0
    assert ingest(bench_here, tmp_path, two, *args, "--run", "1").code == 0  # another run: not a duplicate
    assert_one_line_error(ingest(bench_here, tmp_path, two, *args, "--run", "2"), "run 2 of", "already ingested")
    assert _count(tmp_path / "s.sqlite") == 2


REAL_LOGS = Path(__file__).parent / "fixtures" / "real-logs"
GPU_FULL = (REAL_LOGS / "bm_tf2.x_android_gpu_full_issue43541_excerpt.txt").read_text()
NNAPI_PARTIAL = (REAL_LOGS / "bm_tf2.9_apk_logcat_nnapi_partial_excerpt.txt").read_text()
XNNPACK_PARTIAL = (REAL_LOGS / "bm_tf2.18_ti_am62_xnnpack_partial.txt").read_text()


def test_a_delegated_log_is_stored_under_the_accelerator_it_reports(bench_here, tmp_path: Path) -> None:
    args = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m", "--json")
    gpu = json.loads(ingest(bench_here, tmp_path, GPU_FULL, *args).stdout)
    assert (gpu["accelerator"], gpu["coverage"]) == ("gpu", 1.0)
    assert gpu["source"]["accelerator"]["delegate"] == "GPU" and gpu["source"]["accelerator"]["partial"] is False
    nnapi = json.loads(ingest(bench_here, tmp_path, NNAPI_PARTIAL, *args).stdout)
    # 'partially executed by the delegate w/ 2 delegate kernels': partial, with no node counts
    assert nnapi["accelerator"] == "nnapi" and nnapi["coverage"] is None and nnapi["source"]["accelerator"]["partial"]
    listed = bench_here("results", "--store", str(tmp_path / "s.sqlite"))
    assert "nnapi partial" in listed.stdout and "gpu 100%" in listed.stdout
    stored = json.loads(bench_here("results", "--format", "json", "--store", str(tmp_path / "s.sqlite")).stdout)
    assert [(r["run_id"], r["created_at"]) for r in stored] == [(m["run_id"], m["created_at"]) for m in (gpu, nnapi)]
    # XNNPACK, benchmark_model's default CPU delegate, is the CPU unless named
    board = ("--tool", "benchmark_model", "--device", "am62", "-m", "m", "--json")
    cpu = json.loads(ingest(bench_here, tmp_path, XNNPACK_PARTIAL, *board).stdout)
    assert cpu["accelerator"] == "cpu" and cpu["coverage"] is None
    named = json.loads(
        ingest(bench_here, tmp_path, XNNPACK_PARTIAL, *board, "--accelerator", "xnnpack", "--again").stdout
    )
    assert named["accelerator"] == "xnnpack" and named["source"]["accelerator"]["partial"] is True


def test_an_accelerator_the_log_contradicts_is_refused_with_nothing_stored(bench_here, tmp_path: Path) -> None:
    args = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert_one_line_error(ingest(bench_here, tmp_path, GPU_FULL, *args, "--accelerator", "cpu"),
                          "the log shows the gpu delegate ran nodes", "--accelerator gpu")  # fmt: skip
    assert_one_line_error(ingest(bench_here, tmp_path, GPU_FULL, *args, "--accelerator", "nnapi"),
                          "--accelerator nnapi, but the log shows the gpu delegate running nodes")  # fmt: skip
    assert_one_line_error(ingest(bench_here, tmp_path, XNNPACK_PARTIAL, *args, "--accelerator", "nnapi"),
                          "accelerator nnapi (NNAPI) was not applied", "nothing stored")  # fmt: skip
    assert_one_line_error(ingest(bench_here, tmp_path, NNAPI_PARTIAL, *args, "--require-full-delegation"),
                          "took only part of the graph")  # fmt: skip
    assert_one_line_error(ingest(bench_here, tmp_path, GPU_FULL, *args, "--accelerator", "cuda"),
                          "accelerator cuda runs on onnxruntime, not litert")  # fmt: skip
    board = ("--tool", "benchmark_model", "--device", "raspberry-pi5", "-m", "m")
    assert_one_line_error(
        ingest(bench_here, tmp_path, GPU_FULL, *board), "device 'raspberry-pi5' has no accelerator gpu"
    )
    assert not (tmp_path / "s.sqlite").exists() or _count(tmp_path / "s.sqlite") == 0


def test_a_delegate_that_took_no_node_is_stored_only_as_the_cpu_run_it_was(bench_here, tmp_path: Path) -> None:
    # what benchmark_tflite_model.cc prints when the delegate is applied but takes no node
    refused = GPU_FULL.replace(
        "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
        "Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.",
    )
    args = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert_one_line_error(ingest(bench_here, tmp_path, refused, *args), "gpu delegate took no node",
                          "its latency is the CPU's", "--accelerator cpu")  # fmt: skip
    assert_one_line_error(ingest(bench_here, tmp_path, refused, *args, "--accelerator", "gpu"),
                          "accelerator gpu (GPU) took none of the graph's nodes")  # fmt: skip
    row = json.loads(ingest(bench_here, tmp_path, refused, *args, "--accelerator", "cpu", "--json").stdout)
    assert row["accelerator"] == "cpu" and any("stored as the CPU run it was" in n for n in row["source"]["notes"])
    assert _count(tmp_path / "s.sqlite") == 1


def test_perf_test_placement_gives_the_execution_provider_and_its_absence_is_said(bench_here, tmp_path: Path) -> None:
    placed = "\n".join(ORT_PLACEMENT.splitlines()[1:5]) + "\n" + PERF_TEST  # NNAPI 2 nodes, the CPU 1
    args = ("--tool", "onnxruntime_perf_test", "--device", "pixel6", "-m", "m", "--json")
    row = json.loads(ingest(bench_here, tmp_path, placed, *args).stdout)
    assert row["accelerator"] == "nnapi" and row["coverage"] == pytest.approx(2 / 3)
    assert row["source"]["accelerator"]["cpu_nodes"] == 1
    # without -v perf_test prints no placement: the user's word, marked unchecked
    plain = json.loads(ingest(bench_here, tmp_path, PERF_TEST, *args, "--accelerator", "nnapi").stdout)
    assert plain["accelerator"] == "nnapi" and plain["source"]["accelerator"]["checked"] is False
    assert "delegation" in plain["source"]["missing"] and any("not checked" in n for n in plain["source"]["notes"])
    assert_one_line_error(ingest(bench_here, tmp_path, PERF_TEST, *args, "--accelerator", "nnapi", "--again",
                                 "--require-full-delegation"), "cannot be checked")  # fmt: skip
    other = placed.replace("NnapiExecutionProvider", "MIGraphXExecutionProvider")
    assert_one_line_error(ingest(bench_here, tmp_path, other, *args), "MIGraphXExecutionProvider running nodes",
                          "no accelerator for on onnxruntime")  # fmt: skip
    assert _count(tmp_path / "s.sqlite") == 2


def test_the_log_names_the_nnapi_device_and_one_accelerator_per_measurement(bench_here, tmp_path: Path) -> None:
    # benchmark_model's parameter line for --nnapi_accelerator_name (nnapi_delegate_provider.cc)
    named = NNAPI_PARTIAL.replace(
        "05-30 15:16:44.857  3380  3380 I tflite  : Explicitly",
        "05-30 15:16:44.850  3380  3380 I tflite  : NNAPI accelerator name: [nnapi-reference]\n"
        "05-30 15:16:44.857  3380  3380 I tflite  : Explicitly",
    )
    args = ("--tool", "benchmark_model", "-m", "m")
    row = json.loads(ingest(bench_here, tmp_path, named, *args, "--device", "phone-x", "--json").stdout)
    assert row["accelerator"] == "nnapi:nnapi-reference"  # NNAPI's CPU reference implementation, not "nnapi"
    edgetpu = ingest(bench_here, tmp_path, named, *args, "--device", "phone-x", "--again", "--accelerator",
                     "nnapi:google-edgetpu")  # fmt: skip
    assert_one_line_error(edgetpu, "NNAPI accelerator name is nnapi-reference")
    unnamed = ingest(bench_here, tmp_path, NNAPI_PARTIAL, *args, "--device", "phone-x", "--accelerator",
                     "nnapi:google-edgetpu", "--json")  # fmt: skip  # the log names no NNAPI device
    taken = json.loads(unnamed.stdout)
    assert taken["accelerator"] == "nnapi:google-edgetpu" and taken["source"]["accelerator"]["device_checked"] is False
    assert any("'google-edgetpu' as given, not checked" in n for n in taken["source"]["notes"])
    assert_one_line_error(ingest(bench_here, tmp_path, named, *args, "--device", "pixel6", "--again"),
                          "device 'pixel6' has no accelerator nnapi:nnapi-reference")  # fmt: skip
    # the GPU ran nodes: not an XNNPACK measurement, whatever XNNPACK took besides
    both = GPU_FULL.replace(
        "Explicitly applied GPU",
        "Replacing 20 out of 22 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions.\n"
        "Explicitly applied GPU",
    )
    assert_one_line_error(ingest(bench_here, tmp_path, both, *args, "--device", "pixel6", "--accelerator", "xnnpack"),
                          "--accelerator xnnpack, but the log shows the gpu delegate running nodes")  # fmt: skip
    spaced = json.loads(ingest(bench_here, tmp_path, GPU_FULL, *args, "--device", "pixel6", "--accelerator", " gpu ",
                               "--json").stdout)  # fmt: skip
    assert spaced["accelerator"] == "gpu"  # one spelling, one cell
    assert _count(tmp_path / "s.sqlite") == 3  # named, unnamed, spaced


def test_what_the_log_cannot_show_is_said_and_never_passes_for_full_delegation(bench_here, tmp_path: Path) -> None:
    args = ("--tool", "onnxruntime_perf_test", "--device", "board", "-m", "m")
    assert ingest(bench_here, tmp_path, PERF_TEST, *args, "--accelerator", "cuda").code == 0
    assert "cuda unchecked" in bench_here("results", "--store", str(tmp_path / "s.sqlite")).stdout
    cpu = json.loads(ingest(bench_here, tmp_path, PERF_TEST, *args, "--again", "--json").stdout)
    assert cpu["accelerator"] == "cpu" and any("no node placement" in n for n in cpu["source"]["notes"])
    power = json.loads(ingest(bench_here, tmp_path, MONSOON, "--tool", "monsoon", "--device", "p", "-m", "m", "-f",
                              "tflite", "--inferences", "10", "--json").stdout)  # fmt: skip
    assert any("a power log does not say where the graph ran" in n for n in power["source"]["notes"])
    # TF 2.3's "Replacing 40 node(s)" has no total: full delegation cannot be told
    old = GPU_FULL.replace(
        "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
        "Replacing 40 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 3 partitions.",
    )
    bm = ("--tool", "benchmark_model", "--device", "pixel6", "-m", "m")
    assert_one_line_error(ingest(bench_here, tmp_path, old, *bm, "--require-full-delegation"),
                          "full delegation cannot be told")  # fmt: skip
    assert json.loads(ingest(bench_here, tmp_path, old, *bm, "--json").stdout)["accelerator"] == "gpu"
    long = bench_here("ingest", str(tmp_path / "phone run.log"), *bm[:2], "--device", "d" * 65, "-m", "m")
    assert_one_line_error(long, "1 to 64 letters")
    cased = ingest(bench_here, tmp_path, GPU_FULL, "--tool", "benchmark_model", "--device", "Pixel6", "-m", "m")
    assert_one_line_error(cased, "the profiled device is 'pixel6'")  # its own cell, apart from pixel6's rows
    spaced = ingest(bench_here, tmp_path, GPU_FULL, "--tool", "benchmark_model", "--device", " pixel6", "-m", "m")
    assert_one_line_error(spaced, "--device ' pixel6': 1 to 64 letters")  # the space shown
    wide = ingest(bench_here, tmp_path, GPU_FULL, "--tool", "benchmark_model", "--device", "ｐｉｘｅｌ６", "-m", "m")
    assert_one_line_error(wide, "--device 'ｐｉｘｅｌ６' is written in compatibility characters ('pixel6' in plain")
    zoo_case = ingest(bench_here, tmp_path, GPU_FULL, "--tool", "benchmark_model", "--device", "d", "-m", "EdgeViT_XXS")
    assert_one_line_error(zoo_case, "--model 'EdgeViT_XXS': the zoo model is 'edgevit_xxs'")  # its MACs, its card


def test_the_results_table_marks_a_memory_delta(bench_here, tmp_path: Path) -> None:
    ti = (REAL_LOGS / "bm_tf2.18_ti_am62_xnnpack_partial.txt").read_text()  # "Memory footprint delta ..."
    assert ingest(bench_here, tmp_path, ti, "--tool", "benchmark_model", "--device", "am62", "-m", "m").code == 0
    table = bench_here("results", "--store", str(tmp_path / "s.sqlite"))
    assert table.code == 0 and "150 (delta)" in table.stdout  # benchmark_model's delta, not a peak
