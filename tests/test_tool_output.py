"""Parsers of the native tools' output: both benchmark_model formats, perf_test, Monsoon CSV, and
the energy meters' text formats; garbled outputs are fuzzed with hypothesis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.devices.energy.jetson import parse_tegrastats
from bench.devices.energy.macos import parse_powermetrics
from bench.devices.energy.monsoon import parse_monsoon_csv
from bench.devices.energy.odpm import parse_energy_value
from bench.devices.energy.rpi import parse_pmic
from bench.parsers.tool_output import (
    ToolFailed,
    ToolOutputError,
    parse_benchmark_model,
    parse_op_profile,
    parse_perf_test,
    read_delegation,
)

PLAIN = """\
STARTING!
Num runs: [50]
Graph: [/data/local/tmp/mobilenet.tflite]
Loaded model /data/local/tmp/mobilenet.tflite
Initialized session in 3.51ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=2 first=260000 curr=250500 min=250500 max=260000 avg=255250 std=4750
Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=251000 curr=249000 min=247812 max=252301 avg=249684 std=1442
Inference timings in us: Init: 3510, First inference: 260000, Warmup (avg): 250123, Inference (avg): 249684
Peak memory footprint (MB): init=2.14 overall=12.7
"""

INFO = """\
INFO: STARTING!
INFO: Graph: [/data/local/tmp/mobilenet.tflite]
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 60 out of 66 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 3 partitions.
INFO: Initialized session in 3.51ms.
INFO: count=3 first=2.6e+05 curr=250500 min=250500 max=260000 avg=2.5525e+05 std=4750 p5=250500 median=255000 p95=260000
INFO: count=50 first=251000 curr=249000 min=247812 max=252301 avg=2.49684e+05 std=1442 \
p5=247900 median=249600 p95=251800
INFO: Inference timings in us: Init: 3510, First inference: 260000, Warmup (avg): 250123, Inference (avg): 249684
INFO: Memory footprint delta from the start of the tool (MB): init=2.14 overall=12.7
INFO: Overall peak memory footprint (MB) via periodic monitoring: 15.25
"""

PERF_TEST = """\
Session creation time cost: 0.0386 s
First inference time cost: 23 ms
Total inference time cost: 1.9918 s
Total inference requests: 100
Average inference time cost: 19.918 ms
Total inference run time: 1.99 s
Number of inferences per second: 50.2
Avg CPU usage: 98 %
Peak working set size: 123456789 bytes
Min Latency: 0.0191 s
Max Latency: 0.0251 s
P50 Latency: 0.0199 s
P90 Latency: 0.0200251 s
P95 Latency: 0.021 s
P99 Latency: 0.024 s
P999 Latency: 0.0251 s
"""

MONSOON = "Time(ms),Main(mA),USB(mA),Main Voltage(V)\n0,100,0,4.0\n1000,300,0,4.0\n2000,300,0,4.0\n"

# benchmark_model --enable_op_profiling=true: older builds (tabs, a [start] column) ...
OPS_OLD = (
    "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
    "============================== Run Order ==============================\n"
    "\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
    "\t[times called]\t[Name]\n"
    "\t                 CONV_2D\t            0.066\t   87.754\t   60.957\t 60.000%\t 60.000%\t     0.000"
    "\t        1\t[MobilenetV1/Conv2d_0/Relu6]:0\n"
    "\t     TfLiteNnapiDelegate\t           61.033\t   53.628\t   40.638\t 40.000%\t100.000%\t     0.000"
    "\t        1\t[MobilenetV1/Conv2d_1/Relu6, aspp0/Relu]:71\n"
    "\n"
    "============================== Top by Computation Time ==============================\n"
)
# ... and newer ones (space-padded, no [start]; a full-width field leaves no gap before it)
OPS_NEW = """\
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
             [node type]  [first] [avg ms]     [%]  [cdf%]  [mem KB][times called]\t[Name]
                QUANTIZE    0.199    0.203  1.328%  1.328%     0.000        1\t[tfl.quantize]:0
Convolution (NHWC, F32) IGEMM 0.398 0.407 98.547% 99.875% 0.000 13\tDelegate/Convolution (NHWC, F32) IGEMM:0
                    MEAN    0.008    0.008  0.125%100.000%     0.000        1\t[model;1]:4

Number of nodes executed: 3
"""


def test_old_format_reads_the_timed_line_init_and_memory() -> None:
    r = parse_benchmark_model(PLAIN)
    assert (r.variant, r.count) == ("plain", 50)
    assert (r.mean_ms, r.std_ms) == pytest.approx((249.684, 1.442))
    assert (r.min_ms, r.max_ms) == pytest.approx((247.812, 252.301))
    assert (r.init_ms, r.first_ms) == pytest.approx((3.51, 260.0)) and r.warmup_count == 2
    assert (r.peak_memory_mb, r.init_memory_mb) == (12.7, 2.14)
    assert r.median_ms is None and r.delegation == []


def test_new_format_reads_scientific_numbers_percentiles_and_partial_delegation() -> None:
    r = parse_benchmark_model(INFO)
    assert (r.variant, r.count, r.warmup_count) == ("info", 50, 3)
    assert r.mean_ms == pytest.approx(249.684) and r.median_ms == pytest.approx(249.6)
    assert r.percentiles_ms == pytest.approx({"p5": 247.9, "p95": 251.8})
    assert r.peak_memory_mb == 15.25  # the periodic monitor's absolute peak beats the delta
    assert r.delegation == [{"delegate": "TfLiteXNNPackDelegate", "replaced": 60, "total": 66, "partial": True}]
    assert r.partially_delegated


def test_perf_test_converts_seconds_milliseconds_and_bytes() -> None:
    r = parse_perf_test(PERF_TEST)
    assert r.count == 100 and (r.mean_ms, r.first_ms) == pytest.approx((19.918, 23.0))
    assert r.init_ms == pytest.approx(38.6) and r.median_ms == pytest.approx(19.9)
    assert r.percentiles_ms["p90"] == pytest.approx(20.0251) and r.percentiles_ms["p999"] == pytest.approx(25.1)
    assert r.peak_memory_mb == pytest.approx(123456789 / 2**20)


def test_a_log_without_timed_runs_names_its_last_line() -> None:
    with pytest.raises(ToolOutputError) as info:
        parse_benchmark_model("INFO: STARTING!\nERROR: Failed to load model\n")
    assert info.value.line == 2 and "count=" in str(info.value)


def test_a_bad_number_names_its_line() -> None:
    with pytest.raises(ToolOutputError) as info:
        parse_benchmark_model(PLAIN.replace("avg=249684", "avg=nan"))
    assert info.value.line == 9


def test_operator_profiles_of_both_builds_give_rows_in_run_order() -> None:
    old = parse_op_profile(OPS_OLD)
    assert [(r.node_type, r.avg_ms, r.node, r.tensors) for r in old] == [
        ("CONV_2D", 60.957, 0, ["MobilenetV1/Conv2d_0/Relu6"]),
        ("TfLiteNnapiDelegate", 40.638, 71, ["MobilenetV1/Conv2d_1/Relu6", "aspp0/Relu"]),
    ]
    new = parse_op_profile(OPS_NEW)
    assert [(r.node_type, r.node, r.percent, r.times_called) for r in new] == [
        ("QUANTIZE", 0, 1.328, 1),
        ("Convolution (NHWC, F32) IGEMM", 0, 98.547, 13),
        ("MEAN", 4, 0.125, 1),
    ]
    assert new[1].name == "Delegate/Convolution (NHWC, F32) IGEMM:0" and new[1].tensors == []
    assert new[1].ms_per_run == pytest.approx(0.407 * 13)


def test_a_node_taking_the_whole_run_is_read_though_its_columns_touch() -> None:
    # a one-node model (the predictor's kernels): 100.000% fills its 7-wide column, as 1 GB fills the 10-wide
    # memory column; the stats calculator prints fixed widths with three decimals, so nothing separates them
    one = (
        OPS_NEW.replace(
            "                QUANTIZE    0.199    0.203  1.328%  1.328%     0.000        1\t[tfl.quantize]:0\n", ""
        )
        .replace("0.407 98.547% 99.875% 0.000 13", "0.224100.000%100.000%1048576.000 1")
        .replace("                    MEAN    0.008    0.008  0.125%100.000%     0.000        1\t[model;1]:4\n", "")
    )
    assert "0.224100.000%100.000%1048576.000" in one
    (row,) = parse_op_profile(one)
    assert (row.first_ms, row.avg_ms, row.percent, row.times_called) == (0.398, 0.224, 100.0, 1)
    assert row.name == "Delegate/Convolution (NHWC, F32) IGEMM:0"


def test_a_log_without_an_operator_profile_says_which_flag_makes_one() -> None:
    with pytest.raises(ToolOutputError, match="--enable_op_profiling=true"):
        parse_op_profile(PLAIN)


def test_monsoon_energy_is_the_integral_of_current_times_voltage() -> None:
    trace = parse_monsoon_csv(MONSOON)
    assert trace.joules == pytest.approx(0.8 + 1.2)  # (0.4+1.2)/2 W for 1 s, then 1.2 W for 1 s
    assert (trace.seconds, trace.samples) == (2.0, 3)


def test_monsoon_errors_name_the_line() -> None:
    with pytest.raises(ToolOutputError) as info:
        parse_monsoon_csv(MONSOON.replace("1000,300", "1000,abc"))
    assert info.value.line == 3


@pytest.mark.parametrize("times", [(0, 200, 100), (0, 400, 300), (0, 400, 400)])
def test_a_monsoon_time_that_goes_back_or_repeats_is_refused(times: tuple[int, int, int]) -> None:
    rows = "".join(f"{t},{ma},0,4.0\n" for t, ma in zip(times, (100, 200, 300), strict=True))
    with pytest.raises(ToolOutputError, match="time goes backwards or repeats") as info:
        parse_monsoon_csv("Time(ms),Main(mA),USB(mA),Main Voltage(V)\n" + rows)
    assert info.value.line == 4


def test_odpm_rails_are_read_by_name_with_the_device_timestamp() -> None:
    text = "t=1234567\nCH0(T=1234560)[S4M_VDD_CPUCL0], 98765\nCH1(T=1234560)[S2M_VDD_CPUCL2], 55\n"
    assert parse_energy_value(text) == (1234.567, {"S4M_VDD_CPUCL0": 98765, "S2M_VDD_CPUCL2": 55})


def test_board_meter_outputs() -> None:
    pmic = "  VDD_CORE_A current(7)=2.50000000A\n  VDD_CORE_V volt(15)=0.80000000V\n  EXT5V_V volt(24)=5.1V\n"
    assert parse_pmic(pmic) == pytest.approx({"VDD_CORE": 2.0})  # EXT5V has no current: left out
    jp6 = "RAM 2448/7620MB CPU [1%@729] VDD_IN 4556mW/4556mW VDD_CPU_GPU_CV 481mW/481mW VDD_SOC 1443mW/1443mW"
    assert parse_tegrastats(jp6) == pytest.approx({"VDD_IN": 4.556, "VDD_CPU_GPU_CV": 0.481, "VDD_SOC": 1.443})
    assert parse_tegrastats("RAM 1/2MB POM_5V_IN 1750/1628 POM_5V_GPU 40/40") == pytest.approx(
        {"POM_5V_IN": 1.75, "POM_5V_GPU": 0.04}
    )
    assert parse_powermetrics("Combined Power (CPU + GPU + ANE): 1020 mW") == {"combined": 1.02}
    assert parse_powermetrics("CPU Power: 1000 mW") == {"cpu": 1.0}


# --- fuzzing: garbled outputs raise ToolOutputError or parse; nothing else escapes ---------------

JUNK = st.sampled_from(["", "nan", "inf", "-1", "1e999", "0", "x", "=", ":", "count=", "avg=", "(MB)", "\x00", "é"])


@st.composite
def garbled(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.integers(0, 5))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[i])
        elif action == 2:  # replace a token
            tokens = lines[i].split(" ")
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[j] = tokens[j].split("=")[0] + "=" + draw(JUNK) if "=" in tokens[j] else draw(JUNK)
            lines[i] = " ".join(tokens)
        elif action == 3:  # truncate a line
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif action == 4:
            lines.insert(i, draw(st.text(max_size=80)))
        else:  # flip characters
            chars = list(lines[i])
            for _ in range(draw(st.integers(1, 4))):
                if chars:
                    chars[draw(st.integers(0, len(chars) - 1))] = draw(st.characters())
            lines[i] = "".join(chars)
    return "\n".join(lines)


FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_parse_errors(parse, text: str) -> None:
    try:
        parse(text)
    except ToolOutputError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(st.one_of(garbled(PLAIN), garbled(INFO), st.text(max_size=400)))
def test_fuzzed_benchmark_model_output_raises_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_benchmark_model, text)


@FUZZ
@given(st.one_of(garbled(PERF_TEST), st.text(max_size=400)))
def test_fuzzed_perf_test_output_raises_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_perf_test, text)


@FUZZ
@given(st.one_of(garbled(MONSOON), st.text(max_size=400)))
def test_fuzzed_monsoon_csv_raises_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_monsoon_csv, text)


@FUZZ
@given(st.one_of(garbled(OPS_OLD), garbled(OPS_NEW), st.text(max_size=400)))
def test_fuzzed_operator_profiles_raise_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_op_profile, text)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 10**6),
    avg=st.floats(0, 1e9, allow_nan=False),
    info=st.booleans(),
)
def test_generated_benchmark_model_numbers_round_trip(count: int, avg: float, info: bool) -> None:
    prefix = "INFO: " if info else ""
    r = parse_benchmark_model(f"{prefix}count={count} first=1 curr=1 min=0 max={avg:.6e} avg={avg:.6e} std=0\n")
    assert r.count == count and r.mean_ms == pytest.approx(float(f"{avg:.6e}") / 1e3)


@settings(max_examples=100, deadline=None)
@given(low=st.floats(1, 1e6), high=st.floats(1, 1e6), outside=st.floats(1.01, 100))
def test_statistics_out_of_order_are_refused_not_stored(low: float, high: float, outside: float) -> None:
    low, high = sorted((low, high))
    line = f"count=50 first={high:.0f} curr={low:.0f} min={low:.0f} max={high:.0f} avg={{}} std=1\n"
    with pytest.raises(ToolOutputError, match="is above max|is below min"):
        parse_benchmark_model(line.format(f"{high * outside + 10:.0f}"))  # e.g. a line cut as avg=6029 of 602943
    with pytest.raises(ToolOutputError, match="out of order"):
        parse_perf_test("Average inference time cost: 5 ms\nP50 Latency: 0.006 s\nP90 Latency: 0.005 s\n")


@pytest.mark.parametrize("keep", [2, 4, 6])  # cut after count=, after curr=, after avg=
def test_a_timed_runs_line_cut_before_its_last_field_is_refused(keep: int) -> None:
    whole = "count=50 first=2510 curr=2490 min=2478 max=2523 avg=2496.84 std=14"
    cut = " ".join(whole.split()[:keep])
    with pytest.raises(ToolOutputError, match="the timed-runs line has no .*std="):
        parse_benchmark_model(f"INFO: {cut}\n")
    assert parse_benchmark_model(f"INFO: {whole}\n").mean_ms == pytest.approx(2.49684)


# --- accelerators: every delegation outcome as the tools' stand-ins print it (SIMULATION) ------------

SIMULATOR = Path(__file__).parent / "simulators" / "native_tools.py"
QUICK = ("--num_runs=3", "--min_secs=0", "--warmup_runs=1", "--warmup_min_secs=0", "--max_secs=20")


@pytest.fixture
def phone(tmp_path: Path):
    """Run a stand-in on a simulated phone with the accelerators given (sim/accelerators.json):
    (exit code, stdout + stderr, the process's line of sim/delegates.log)."""
    sim = tmp_path / "sim"
    sim.mkdir()
    (sim / "busy_ns").write_text("0")

    def run(tool: str, accelerators: dict, *args: str) -> tuple[int, str, dict | None]:
        (sim / "accelerators.json").write_text(json.dumps(accelerators))
        log = sim / "delegates.log"
        before = len(log.read_text().splitlines()) if log.exists() else 0
        proc = subprocess.run(
            [sys.executable, str(SIMULATOR), tool, *args], capture_output=True, text=True, timeout=120,
            env={**os.environ, "SIM_ROOT": str(tmp_path)},
        )  # fmt: skip
        lines = log.read_text().splitlines()[before:] if log.exists() else []
        return proc.returncode, proc.stdout + proc.stderr, json.loads(lines[-1]) if lines else None

    return run


def bm(phone, tiny_files, accelerators: dict, *flags: str):
    return phone("benchmark_model", accelerators, f"--graph={tiny_files['tflite']}", *QUICK, *flags)


def only(delegates: list[dict], name: str) -> dict:
    [entry] = [d for d in delegates if d["delegate"] == name]
    return entry


def test_gpu_full_and_partial_delegation_read_as_the_stand_in_ran_it(phone, tiny_files) -> None:
    code, out, ran = bm(phone, tiny_files, {"gpu": {}}, "--use_gpu=true")
    r = parse_benchmark_model(out)
    assert code == 0 and ran["flags"] == {"use_gpu": "true"} and ran["pid"]
    assert "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate." in out
    assert only(r.delegates, "GPU") == {"delegate": "GPU", "execution": "full", "replaced": ran["delegates"]["GPU"][
        "total"], "total": ran["delegates"]["GPU"]["total"], "partitions": 1, "kernels": None}  # fmt: skip
    assert r.delegate_errors == [] and "Created TensorFlow Lite XNNPACK delegate" not in out  # no default XNNPACK

    code, out, ran = bm(phone, tiny_files, {"gpu": {"unsupported_ops": ["MEAN"]}}, "--use_gpu=true")
    r = parse_benchmark_model(out)
    gpu = ran["delegates"]["GPU"]
    assert "ERROR: Following operations are not supported by GPU delegate:\nMEAN: Operation is not supported.\n" in out
    assert f"{gpu['replaced']} operations will run on the GPU, and the remaining" in out
    assert only(r.delegates, "GPU") == {"delegate": "GPU", "execution": "partial", "replaced": gpu["replaced"],
                                        "total": gpu["total"], "partitions": 1, "kernels": 1}  # fmt: skip
    assert r.delegation == [{"delegate": "TfLiteGpuDelegateV2", "replaced": gpu["replaced"], "total": gpu["total"],
                             "partial": True}]  # fmt: skip
    assert r.partially_delegated and r.delegate_errors == []


def test_a_gpu_that_supports_nothing_leaves_the_run_on_the_cpu(phone, tiny_files) -> None:
    ops = ["CONV_2D", "MEAN", "FULLY_CONNECTED", "RESHAPE", "TRANSPOSE", "PAD", "ADD", "MUL", "RELU"]
    code, out, ran = bm(phone, tiny_files, {"gpu": {"unsupported_ops": ops}}, "--use_gpu=true")
    r = parse_benchmark_model(out)
    total = ran["delegates"]["GPU"]["total"]
    assert code == 0 and r.count == 3 and ran["delegates"]["GPU"]["execution"] == "none"
    assert f"No operations will run on the GPU, and all {total} operations will run on the CPU." in out
    assert "Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate." in out
    assert only(r.delegates, "GPU")["execution"] == "none" and only(r.delegates, "GPU")["total"] == total


def test_nnapi_reference_looks_like_full_coverage_but_is_the_cpu(phone, tiny_files) -> None:
    nnapi = {"nnapi": {"devices": ["google-edgetpu", "nnapi-reference"], "unsupported_ops": ["FULLY_CONNECTED"]}}
    code, out, ran = bm(phone, tiny_files, nnapi, "--use_nnapi=true")
    assert code == 0 and "INFO: NNAPI accelerators available: [google-edgetpu,nnapi-reference]" in out
    assert only(parse_benchmark_model(out).delegates, "NNAPI")["execution"] == "full"  # what the tool says ...
    assert ran["delegates"]["NNAPI"]["devices"]["nnapi-reference"] == 1  # ... while one node ran on NNAPI's CPU
    code, out, ran = bm(phone, tiny_files, nnapi, "--use_nnapi=true", "--disable_nnapi_cpu=true")
    nodes, truth = only(parse_benchmark_model(out).delegates, "NNAPI"), ran["delegates"]["NNAPI"]
    assert (nodes["execution"], nodes["replaced"], nodes["total"]) == ("partial", truth["replaced"], truth["total"])
    assert "nnapi-reference" not in truth["devices"]
    code, out, ran = bm(phone, tiny_files, {"nnapi": {"devices": ["nnapi-reference"]}}, "--use_nnapi=true",
                        "--disable_nnapi_cpu=true")  # fmt: skip
    assert code == 0 and only(parse_benchmark_model(out).delegates, "NNAPI")["execution"] == "none"
    assert "Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate." in out


def test_an_nnapi_accelerator_the_phone_lacks_fails_the_run_in_the_tools_words(phone, tiny_files) -> None:
    nnapi = {"nnapi": {"devices": ["google-edgetpu", "nnapi-reference"]}}
    code, out, ran = bm(phone, tiny_files, nnapi, "--use_nnapi=true", "--nnapi_accelerator_name=qti-dsp")
    missing = (
        "Could not find the specified NNAPI accelerator: qti-dsp. Must be one of: {google-edgetpu,nnapi-reference}."
    )
    assert code == 1 and ran["failed"].startswith("NNAPI")
    with pytest.raises(ToolFailed, match="Could not find the specified NNAPI accelerator: qti-dsp") as info:
        parse_benchmark_model(out)
    restored = "Restored original execution plan after delegate application failure."
    assert info.value.delegate_errors == [missing, restored, "Failed to apply NNAPI delegate."]
    assert only(read_delegation(out)["delegates"], "NNAPI")["execution"] == "none"


def test_a_delegate_that_fails_to_prepare_fails_the_run(phone, tiny_files) -> None:
    error = "FULLY_CONNECTED: Amount of input data should match weights width"
    code, out, ran = bm(phone, tiny_files, {"gpu": {"apply_error": error}}, "--use_gpu=true")
    assert code == 1 and ran["delegates"]["GPU"]["applied"] is False
    with pytest.raises(ToolFailed, match=f"TfLiteGpuDelegate Init: {error}") as info:
        parse_benchmark_model(out)
    assert "Failed to apply GPU delegate." in info.value.delegate_errors
    assert any(e.endswith("(TfLiteGpuDelegateV2) failed to prepare.") for e in info.value.delegate_errors)


def test_a_delegate_the_phone_lacks_is_warned_about_and_the_run_goes_on_on_the_cpu(phone, tiny_files) -> None:
    code, out, ran = bm(phone, tiny_files, {}, "--use_hexagon=true")
    r = parse_benchmark_model(out)
    assert code == 0 and r.count == 3 and ran["delegates"] == {"Hexagon": {"created": False}}
    assert r.delegate_errors == [
        "Could not create Hexagon delegate: platform may not support delegate or required libraries are missing"
    ]
    assert [d["delegate"] for d in r.delegates] == ["XNNPACK"]  # the default XNNPACK delegate runs it
    code, out, ran = bm(phone, tiny_files, {"gpu": {"create": False}}, "--use_gpu=true")
    said = parse_benchmark_model(out).delegate_errors
    assert code == 0 and said == ["GPU acceleration is unsupported on this platform."]


def test_a_delegated_run_pays_its_hand_over_per_partition(phone, tiny_files) -> None:
    cpu = parse_benchmark_model(bm(phone, tiny_files, {})[1])
    slow_gpu = {"gpu": {"unsupported_ops": ["MEAN"], "overhead_ms": 30.0}}
    code, out, ran = bm(phone, tiny_files, slow_gpu, "--use_gpu=true")
    gpu = parse_benchmark_model(out)
    assert ran["overhead_ms"] == 30.0 * ran["delegates"]["GPU"]["partitions"]
    # the fastest runs of each: a stall of this busy machine only ever adds to a run
    assert gpu.min_ms - cpu.min_ms > 0.8 * ran["overhead_ms"] and gpu.mean_ms > ran["overhead_ms"]


def perf(phone, tiny_files, accelerators: dict, *flags: str):
    return phone("onnxruntime_perf_test", accelerators, "-m", "times", "-r", "3", "-I", *flags, str(tiny_files["onnx"]))


def test_perf_test_placement_and_nnapi_capability_are_read(phone, tiny_files) -> None:
    code, out, ran = perf(phone, tiny_files, {"nnapi": {"unsupported_op_types": ["ReduceMean"]}}, "-e", "nnapi", "-v")
    r = parse_perf_test(out)
    assert code == 0 and "Node placements" in out and "] Some nodes were not assigned to the preferred" in out
    assert r.placement == ran["placement"] and r.placement["CPUExecutionProvider"] == 1
    assert r.placement["NnapiExecutionProvider"] == ran["partitions"]  # a fused partition is one node there
    assert r.delegates == [{"delegate": "NnapiExecutionProvider", "execution": "partial", "replaced": ran["replaced"],
                            "total": ran["total"], "partitions": ran["partitions"], "kernels": None}]  # fmt: skip
    assert r.delegation == [{"delegate": "NnapiExecutionProvider", "replaced": ran["replaced"], "total": ran["total"],
                             "partial": True}]  # fmt: skip


def test_perf_test_xnnpack_full_and_qnn_none(phone, tiny_files) -> None:
    code, out, ran = perf(phone, tiny_files, {"xnnpack": {}}, "-e", "xnnpack", "-v")
    r = parse_perf_test(out)
    assert f"]  All nodes placed on [XnnpackExecutionProvider]. Number of nodes: {ran['total']}" in out
    assert r.placement == {"XnnpackExecutionProvider": ran["total"]}
    assert [(d["delegate"], d["execution"]) for d in r.delegates] == [("XnnpackExecutionProvider", "full")]
    ops = ["Conv", "Relu", "ReduceMean", "Gemm", "MatMul", "Add", "Flatten", "Reshape", "Transpose"]
    code, out, ran = perf(phone, tiny_files, {"qnn": {"unsupported_op_types": ops}}, "-e", "qnn", "-v")
    r = parse_perf_test(out)
    assert code == 0 and "Number of partitions supported by QNN EP: 0\n" in out
    assert r.placement == {"CPUExecutionProvider": ran["total"]}
    assert [(d["delegate"], d["execution"], d["replaced"]) for d in r.delegates] == [
        ("QNNExecutionProvider", "none", 0)
    ]


def test_perf_test_provider_missing_from_the_build_fails_in_the_tools_words(phone, tiny_files) -> None:
    code, out, ran = perf(phone, tiny_files, {}, "-e", "nnapi", "-i", "NNAPI_FLAG_CPU_DISABLED")
    assert code == 255 and ran["failed"] == "NnapiExecutionProvider not in the build"
    assert "ort_test_session.cc:" in out and "NNAPI is not supported in this build" in out
    with pytest.raises(ToolFailed, match="NNAPI is not supported in this build") as info:
        parse_perf_test(out)
    assert info.value.delegate_errors == ["NNAPI is not supported in this build"]


# stand-in outputs of each new format (the tests above make them), fuzzed: only ToolOutputError escapes
GPU_PARTIAL = """\
INFO: Use gpu: [1]
INFO: Loaded model m.tflite
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Going to apply 1 delegates one after another.
ERROR: Following operations are not supported by GPU delegate:
MEAN: Operation is not supported.
4 operations will run on the GPU, and the remaining 2 operations will run on the CPU.
INFO: Replacing 4 out of 6 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.
INFO: Initialized OpenCL-based API.
INFO: Created 1 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 1 delegate \
kernels.
WARNING: Could not create Hexagon delegate: platform may not support delegate or required libraries are missing
ERROR: Could not find the specified NNAPI accelerator: x. Must be one of: {nnapi-reference}.
INFO: TfLiteHexagonDelegate delegate: 5 nodes delegated out of 6 nodes with 1 partitions.
INFO: count=3 first=2600 curr=2500 min=2500 max=2600 avg=2533 std=47
INFO: count=50 first=2510 curr=2490 min=2478 max=2523 avg=2496.84 std=14
INFO: Inference timings in us: Init: 351, First inference: 2600, Warmup (avg): 2533, Inference (avg): 2496.84
"""
ORT_PLACEMENT = """\
2026-11-30 05:50:40.920304348 [W:onnxruntime:Default, nnapi_execution_provider.cc:245 GetCapability] \
NnapiExecutionProvider::GetCapability, number of partitions supported by NNAPI: 2 number of nodes in the graph: 5 \
number of nodes supported by NNAPI: 4
2026-11-30 05:50:40.920405775 [V:onnxruntime:, session_state.cc:1598 VerifyEachNodeIsAssignedToAnEp] Node placements
2026-11-30 05:50:40.920585982 [V:onnxruntime:, session_state.cc:1604 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed \
on [NnapiExecutionProvider]. Number of nodes: 2
2026-11-30 05:50:40.920596617 [V:onnxruntime:, session_state.cc:1604 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed \
on [CPUExecutionProvider]. Number of nodes: 1
2026-11-30 05:50:40.920598811 [V:onnxruntime:, session_state.cc:1606 VerifyEachNodeIsAssignedToAnEp]   ReduceMean (m)
[I:onnxruntime:, qnn_execution_provider.cc:1152 GetCapability] Number of partitions supported by QNN EP: 1, number of \
nodes in the graph: 5, number of nodes supported by QNN: 5
All nodes have been placed on [CPUExecutionProvider].
 Provider: [XnnpackExecutionProvider]: [Conv (c), Relu (r), ]
 Node [Gemm (g)] has been placed on [CPUExecutionProvider].
NNAPI is not supported in this build
"""
ORT_PLACEMENT += PERF_TEST


@FUZZ
@given(st.one_of(garbled(GPU_PARTIAL), garbled(ORT_PLACEMENT), st.text(max_size=400)))
def test_fuzzed_delegation_lines_raise_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_benchmark_model, text)
    only_parse_errors(parse_perf_test, text)
    only_parse_errors(read_delegation, text)


def test_every_delegation_line_of_both_tools_is_read() -> None:
    r = parse_benchmark_model(GPU_PARTIAL)
    assert [(d["delegate"], d["execution"], d["replaced"], d["total"], d["partitions"]) for d in r.delegates] == [
        ("GPU", "partial", 4, 6, 1), ("Hexagon", "partial", 5, 6, 1)
    ]  # fmt: skip
    assert r.delegate_errors == [
        "Could not create Hexagon delegate: platform may not support delegate or required libraries are missing",
        "Could not find the specified NNAPI accelerator: x. Must be one of: {nnapi-reference}.",
    ]
    assert r.count == 50 and r.mean_ms == pytest.approx(2.49684)
    read = read_delegation(ORT_PLACEMENT)
    assert read["placement"] == {"XnnpackExecutionProvider": 2, "CPUExecutionProvider": 1}  # the last listing counts
    assert [(d["delegate"], d["replaced"], d["total"], d["partitions"]) for d in read["delegates"]] == [
        ("XnnpackExecutionProvider", 2, 3, None), ("NnapiExecutionProvider", 4, 5, 2), ("QNNExecutionProvider", 5, 5, 1)
    ]  # fmt: skip
    with pytest.raises(ToolFailed, match="NNAPI is not supported in this build"):
        parse_perf_test(ORT_PLACEMENT.replace(PERF_TEST, ""))
