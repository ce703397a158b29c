"""Parsers of the native tools' output: both benchmark_model formats, perf_test, Monsoon CSV, and
the energy meters' text formats; garbled outputs are fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.devices.energy.jetson import parse_tegrastats
from bench.devices.energy.macos import parse_powermetrics
from bench.devices.energy.monsoon import parse_monsoon_csv
from bench.devices.energy.odpm import parse_energy_value
from bench.devices.energy.rpi import parse_pmic
from bench.parsers.tool_output import ToolOutputError, parse_benchmark_model, parse_op_profile, parse_perf_test

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
Inference timings in us: Init: 3510, First inference: 251000, Warmup (avg): 250123, Inference (avg): 249684
Peak memory footprint (MB): init=2.14 overall=12.7
"""

INFO = """\
INFO: STARTING!
INFO: Graph: [/data/local/tmp/mobilenet.tflite]
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 60 out of 66 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 3 partitions.
INFO: Initialized session in 3.51ms.
INFO: count=3 first=2.6e+05 curr=250500 min=250500 max=260000 avg=2.5525e+05 std=4750 p5=250500 median=255000 p95=260000
INFO: count=50 first=251000 min=247812 max=252301 avg=2.49684e+05 std=1442 p5=247900 median=249600 p95=251800
INFO: Inference timings in us: Init: 3510, First inference: 251000, Warmup (avg): 250123, Inference (avg): 249684
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
    assert (r.init_ms, r.first_ms) == pytest.approx((3.51, 251.0)) and r.warmup_count == 2
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
