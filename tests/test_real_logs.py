"""Outputs that people posted publicly (tests/fixtures/real-logs/, sources in SOURCES.md there), read
field by field with the values a careful reader states; then every variant of each fault's kind
(issue 15) that the tools' sources print, and fuzzing over the new formats."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import assert_one_line_error
from hypothesis import given
from hypothesis import strategies as st
from test_tool_output import FUZZ, OPS_NEW, OPS_OLD, garbled, only_parse_errors

from bench.devices.energy.jetson import TegrastatsMeter, board_total, parse_tegrastats, parse_tegrastats_log
from bench.devices.energy.macos import PowermetricsMeter, parse_powermetrics, parse_powermetrics_log
from bench.measure.runners.tool_results import tool_source
from bench.measure.thermal import parse_thermalservice
from bench.parsers.tool_output import (
    ToolFailed,
    ToolOutputError,
    parse_benchmark_model,
    parse_op_profile,
    parse_perf_test,
    read_delegation,
)

LOGS = Path(__file__).parent / "fixtures" / "real-logs"


def log(name: str) -> str:
    return (LOGS / name).read_text()


TI_AM62 = log("bm_tf2.18_ti_am62_xnnpack_partial.txt")
TF114 = log("bm_tf1.14_plain_old_timings_zedboard_armv7.txt")
APK_LOGCAT = log("bm_tf2.9_apk_logcat_nnapi_partial_excerpt.txt")
ORT_OLD = log("ort_pre1.1_oldformat_issue17313.txt")
POWERMETRICS_11 = log("powermetrics_macos11_m1_macmini_2samples.txt")
XAVIER = log("tegrastats_jp4.4_agx_xavier_log10.txt")
GPU_43541 = log("bm_tf2.x_android_gpu_full_issue43541_excerpt.txt")
FLEX_802 = log("bm_tf2.x_plus_flex_cpu_google_research_issue802_excerpt.txt")
TF113 = log("bm_tf1.13_android_oldsummary_yuenshome_issue77_excerpt.txt")
ORT_ACL = log("ort_1.3_acl_android_issue850.txt")
ORT_2020 = log("ort_2020_windows_nospace_warning_pr2798.txt")
THOR = log("tegrastats_jp7.2_agx_thor_wendyos_pr1316.txt")
AGX_ORIN = log("tegrastats_jp6_agx_orin64_jetson_exporter_issue14.txt")
HEXAGON_49247 = log("bm_tf2.x_hexagon_apply_failed_issue49247.txt")
NNAPI_NONE_56301 = log("bm_tf2.9_apk_logcat_nnapi_none_issue56301_excerpt.txt")
GPU_58379 = log("bm_tf2.7_windows_gpu_full_issue58379_excerpt.txt")
ORT_MIGRAPHX = log("ort_2023_migraphx_verbose_placement_amdmigraphx_issue1641_excerpt.txt")
# onnxruntime's NNAPI execution provider as posted from Android Studio's logcat
# (https://github.com/microsoft/onnxruntime/issues/9054)
ORT_NNAPI_9054 = (
    "W/onnxruntime:  [W:onnxruntime:ort-java, nnapi_execution_provider.cc:178 GetCapability] "
    "NnapiExecutionProvider::GetCapability, number of partitions supported by NNAPI: 17 number of nodes in the graph: "
    "87 number of nodes supported by NNAPI: 53\n"
)


# --- the six posted outputs, field by field ----------------------------------------------------


def test_tf218_ti_am62_xnnpack_is_partial_with_one_kernel_and_memory_is_a_delta() -> None:
    r = parse_benchmark_model(TI_AM62)
    assert (r.variant, r.count, r.warmup_count) == ("info", 50, 1)
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((602.943, 27.690, 568.228, 722.188))
    assert (r.init_ms, r.first_ms, r.warmup_mean_ms) == pytest.approx((592.232, 633.430, 633.430))
    assert r.delegation == []  # this build prints no "Replacing N out of M" line ...
    assert r.delegates == [  # ... only "Explicitly applied XNNPACK delegate ... partially ... w/ 1 delegate kernels"
        {"delegate": "XNNPACK", "execution": "partial", "replaced": None, "total": None, "partitions": None,
         "kernels": 1}
    ]  # fmt: skip
    assert r.partially_delegated
    assert r.memory == {"delta_init_mb": 133.086, "delta_overall_mb": 149.531}
    assert r.peak_memory_mb == 149.531 and r.init_memory_mb == 133.086
    assert r.memory_meaning.startswith("delta") and "not a peak" in r.memory_meaning
    assert {"count", "avg", "std", "min", "max", "warmup", "init", "first", "peak_memory", "delegation"} <= set(r.found)


def test_tf114_old_summary_reads_warmup_as_first_and_init() -> None:
    r = parse_benchmark_model(TF114)
    assert (r.variant, r.count, r.summary_format) == ("plain", 50, "TF 1.x 'Average inference timings'")
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((747.733, 0.293, 747.331, 748.577))
    assert (r.warmup_count, r.warmup_mean_ms) == (1, pytest.approx(751.932))  # "count=1 curr=751932"
    assert r.first_ms == pytest.approx(751.932)  # the warm-up run, not the first timed run (747.738)
    assert r.init_ms == pytest.approx(21.039)
    assert {"first", "init", "warmup"} <= set(r.found)  # stored values are never listed as missing
    assert r.peak_memory_mb is None and r.memory_meaning is None and r.delegates == []


def test_tf29_apk_read_from_logcat_nnapi_partial() -> None:
    r = parse_benchmark_model(APK_LOGCAT)
    assert (r.line_prefix, r.count, r.warmup_count) == ("logcat", 75, 40)
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((12.1676, 0.325, 11.787, 13.649))
    assert (r.warmup_mean_ms, r.init_ms, r.first_ms) == pytest.approx((12.5819, 126.059, 32.942))
    assert [(d["delegate"], d["execution"], d["kernels"]) for d in r.delegates] == [("NNAPI", "partial", 44)]
    assert r.peak_memory_mb is None  # the excerpt has no memory lines


def test_another_processs_logcat_lines_are_not_the_tools() -> None:
    # a second app's TFLite logs a GPU delegation between the tool's lines: not this run's
    other = "05-30 15:16:44.857  9999  9999 I tflite  : Replacing 60 out of 60 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.\n"  # noqa: E501
    lines = APK_LOGCAT.splitlines(keepends=True)
    r = parse_benchmark_model("".join([lines[0], other, *lines[1:]]))
    assert [(d["delegate"], d["execution"]) for d in r.delegates] == [("NNAPI", "partial")]
    assert r.count == 75 and r.mean_ms == pytest.approx(12.1676)


def test_a_restored_execution_plan_undoes_the_delegation_before_it() -> None:
    # subgraph.cc restores the original plan after a delegate failed to apply: whatever the lines
    # before said, the graph runs on the CPU, even when the excerpt lacks "Failed to apply"
    restored = GPU_FULL.replace(
        "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
        "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.\n"
        "ERROR: Restored original execution plan after delegate application failure.",
    )
    r = parse_benchmark_model(restored)
    assert [(d["delegate"], d["execution"]) for d in r.delegates] == [("GPU", "none"), ("NNAPI", "none")]
    assert r.delegates[0]["replaced"] == 0  # it had claimed 58 of 58
    assert r.delegate_errors == ["Restored original execution plan after delegate application failure."]


def test_perf_test_before_2020_reads_every_latency() -> None:
    r = parse_perf_test(ORT_OLD)
    assert (r.count, r.mean_ms, r.median_ms) == (1000, pytest.approx(58.8053), pytest.approx(58.7108))
    assert (r.min_ms, r.max_ms) == pytest.approx((55.9777, 62.3472))
    assert r.percentiles_ms == pytest.approx(
        {"p50": 58.7108, "p90": 59.9845, "p95": 60.5676, "p99": 61.9517, "p999": 62.3472}
    )
    assert r.extra == pytest.approx({"total_s": 58.8053, "total_run_s": 58.8102})


def test_powermetrics_macos11_package_power_per_sample() -> None:
    trace = parse_powermetrics_log(POWERMETRICS_11)
    assert trace.samples == 2 and trace.total_rails == ["package"]
    assert trace.seconds == pytest.approx(1.00480 + 1.01186)
    assert trace.joules == pytest.approx(0.045 * 1.00480 + 0.021 * 1.01186)  # 45 mW, then 21 mW
    assert trace.rails_j["clusters_total"] == pytest.approx(0.009 * 1.00480 + 0.007 * 1.01186)
    assert trace.rails_j["dram"] == pytest.approx(0.002 * 1.00480 + 0.005 * 1.01186)
    assert trace.rails_j["gpu"] == pytest.approx(0.001 * (1.00480 + 1.01186)) and trace.rails_j["ane"] == 0
    assert parse_powermetrics("E-Cluster Power: 3 mW") == {"e-cluster": 0.003}
    assert parse_powermetrics("Package Power: 45 mW") == {"package": 0.045}
    assert parse_powermetrics("Intel energy model derived package power (CPUs+GT+SA): 1.23W") == {"package": 1.23}


def test_tegrastats_agx_xavier_reads_every_unprefixed_rail() -> None:
    line = XAVIER.splitlines()[0]
    rails = parse_tegrastats(line)
    assert rails == pytest.approx(
        {"GPU": 18.102, "CPU": 2.455, "SOC": 4.604, "CV": 0.0, "VDDRQ": 2.915, "SYS5V": 4.592}
    )  # not RAM 10889/31919MB, SWAP, nor the GPU@49.5C temperature
    assert board_total(rails) == list(rails) and sum(rails.values()) == pytest.approx(32.668)  # about 32.7 W
    trace = parse_tegrastats_log(XAVIER)  # 10 lines at tegrastats' default 1 s
    assert (trace.samples, trace.seconds) == (10, 9.0) and set(trace.total_rails) == set(rails)
    totals = [sum(parse_tegrastats(x).values()) for x in XAVIER.splitlines()]
    assert trace.joules == pytest.approx(sum((a + b) / 2 for a, b in zip(totals, totals[1:], strict=False)))


# --- more posted outputs (second round), field by field ------------------------------------------


def test_tf2x_android_gpu_delegate_complete_excerpt() -> None:
    r = parse_benchmark_model(GPU_43541)
    assert (r.variant, r.count, r.warmup_count, r.summary_format) == ("plain", 50, 4, "'Inference timings in us'")
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((119.375, 1.948, 113.737, 124.776))
    assert (r.init_ms, r.first_ms, r.warmup_mean_ms) == pytest.approx((870.557, 130.565, 122.373))
    assert r.delegates == [
        {"delegate": "GPU", "execution": "full", "replaced": None, "total": None, "partitions": None,
         "kernels": None}
    ]  # fmt: skip
    assert not r.partially_delegated and r.delegation == []  # no "Replacing N out of M" line in this build
    assert r.peak_memory_mb is None and r.memory == {} and r.memory_meaning is None  # excerpt: memory not posted
    assert r.warnings == [] and r.runs == 1


def test_tf2x_plus_flex_cpu_run_with_478_warmups() -> None:
    r = parse_benchmark_model(FLEX_802)
    assert (r.variant, r.count, r.warmup_count) == ("plain", 1000, 478)
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((1.03966, 0.022, 1.012, 1.190))
    assert (r.init_ms, r.first_ms, r.warmup_mean_ms) == pytest.approx((17.851, 2.104, 1.04115))
    assert r.delegates == [] and r.delegation == [] and r.peak_memory_mb is None
    assert {"count", "avg", "std", "min", "max", "warmup", "init", "first"} <= set(r.found)


def test_tf113_old_summary_with_several_warmups_and_a_run_cut_off() -> None:
    r = parse_benchmark_model(TF113)
    assert (r.count, r.summary_format) == (15, "TF 1.x 'Average inference timings'")
    assert (r.mean_ms, r.std_ms, r.min_ms, r.max_ms) == pytest.approx((66.7676, 0.039, 66.699, 66.838))
    assert (r.warmup_count, r.warmup_mean_ms) == (7, pytest.approx(76.6059))
    assert r.first_ms == pytest.approx(127.425)  # the first of 7 warm-up runs, not the first timed run (66.753)
    assert r.init_ms == pytest.approx(9.933) and r.warnings == []
    # the same run cut off after its timed stage began: the warm-up line is not read as the timed runs
    cut = TF113[: TF113.index("count=15")]
    with pytest.raises(ToolOutputError, match=r"line 7: a benchmark stage began .* cut off") as info:
        parse_benchmark_model(cut)
    assert "line 5" in str(info.value)  # (before: count 7, avg 76.6059 ms, the warm-up, stored as the result)
    with pytest.raises(ToolFailed, match="Segmentation fault"):
        parse_benchmark_model(cut + "Segmentation fault\n")


def test_perf_test_acl_run_reads_every_line_with_units() -> None:
    r = parse_perf_test(ORT_ACL)
    assert (r.count, r.mean_ms, r.init_ms) == (10, pytest.approx(144.871), pytest.approx(127.918))  # init: 0.127918 s
    assert r.extra == pytest.approx({"total_inference_s": 1.44871, "total_run_s": 1.44916, "cpu_usage_percent": 68})
    assert r.peak_memory_mb == pytest.approx(158171136 / 2**20) and r.memory_meaning.startswith("peak working set")
    assert r.percentiles_ms == {} and r.median_ms is None and r.first_ms is None  # no -s: no percentiles printed
    assert r.summary_format == "'Average inference time cost'" and r.warnings == []


def test_perf_test_2020_without_space_after_colon_keeps_the_warning() -> None:
    r = parse_perf_test(ORT_2020)
    assert (r.count, r.mean_ms, r.init_ms) == (1, pytest.approx(734.606), pytest.approx(1841.49))
    assert r.extra == pytest.approx({"total_inference_s": 0.734606, "total_run_s": 0.734761})
    assert r.peak_memory_mb is None and r.memory == {}
    assert len(r.warnings) == 1 and "[W:onnxruntime:, graph.cc:2412" in r.warnings[0]


def test_tegrastats_jetpack72_thor_three_values_and_vin_is_the_total() -> None:
    rails = parse_tegrastats(THOR)
    # before: {} (the now/avg/max format matched nothing); the temperatures and RAM are not rails
    assert rails == pytest.approx({"VDD_GPU": 37.528, "VDD_CPU_SOC_MSS": 18.961, "VIN_SYS_5V0": 18.331, "VIN": 87.426})
    assert board_total(rails) == ["VIN"]  # the board input; never VIN + its parts (162.246 W)
    meter = TegrastatsMeter(Lines())
    idle = window("VIN 0mW/0mW/0mW", "VIN 0mW/0mW/0mW", 0.0, 1.0)
    energy = meter.energy_per_inference(window(THOR, THOR, 10.0, 11.0), idle, 10)
    assert energy.window_j == pytest.approx(87.426) and energy.total_rails == ["VIN"]
    assert energy.rails_j["VDD_GPU"] == pytest.approx(37.528) and energy.mj_per_inference == pytest.approx(8742.6)
    log2 = parse_tegrastats_log(THOR + THOR, interval_s=1.0)  # the copied line's stamp repeats: no interval from it
    assert (log2.samples, log2.seconds, log2.total_rails, log2.joules) == (2, 1.0, ["VIN"], pytest.approx(87.426))


def test_tegrastats_agx_orin_total_leaves_out_the_dram_rail_fed_from_sys5v() -> None:
    rails = parse_tegrastats(AGX_ORIN)
    assert rails == pytest.approx(
        {"VDD_GPU_SOC": 2.340, "VDD_CPU_CV": 0.390, "VIN_SYS_5V0": 4.025, "VDDQ_VDD2_1V8AO": 0.301}
    )  # both NC channels skipped; VIC_FREQ 729, APE 174 and CV0@-256C are not rails
    total = board_total(rails)
    assert total == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
    assert sum(rails[r] for r in total) == pytest.approx(6.755)  # before: 7.056 W (VDDQ_VDD2_1V8AO added twice)
    assert board_total(["VDD_GPU_SOC", "VDDQ_VDD2_1V8AO"]) == ["VDD_GPU_SOC", "VDDQ_VDD2_1V8AO"]  # parent not printed


def test_tegrastats_below_zero_is_read_noted_and_never_a_silent_total() -> None:
    idle_thor = "VDD_GPU -392mW/-392mW VDD_CPU_SOC_MSS 3924mW/3835mW VIN_SYS_5V0 5064mW/5055mW VIN 15004mW/15096mW"
    assert parse_tegrastats(idle_thor)["VDD_GPU"] == pytest.approx(-0.392)  # before: the rail was dropped silently
    trace = parse_tegrastats_log(idle_thor + "\n" + idle_thor)
    assert trace.total_rails == ["VIN"] and trace.joules == pytest.approx(15.004)
    assert "VDD_GPU down to -0.392 W" in trace.note
    with pytest.raises(ToolOutputError, match="board total rail VIN below zero"):
        parse_tegrastats_log("VIN -5mW/-5mW VDD_GPU 1mW/1mW\nVIN 5mW/5mW VDD_GPU 1mW/1mW\n")


# --- fault 1 and 2: every rail, never a sub-rail added to the board input -----------------------


class Lines:
    """A stand-in transport: meters here only read lines handed to them."""

    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = ""):
        self.done = SimpleNamespace(stdout=stdout, returncode=returncode, stderr=stderr)

    def run(self, argv, timeout=None):
        return self.done


def window(line_before: str, line_after: str, t0: float, t1: float) -> dict:
    return {"before": {"t": t0, "values": {"line": line_before}}, "after": {"t": t1, "values": {"line": line_after}}}


def test_orin_sub_rails_are_never_added_to_vdd_in() -> None:
    orin = "RAM 2448/7620MB VDD_IN 7000mW/7000mW VDD_CPU_GPU_CV 2000mW/2000mW VDD_SOC 1200mW/1200mW"
    meter = TegrastatsMeter(Lines())
    idle = window("VDD_IN 0mW/0mW VDD_SOC 0mW/0mW", "VDD_IN 0mW/0mW VDD_SOC 0mW/0mW", 0.0, 1.0)
    energy = meter.energy_per_inference(window(orin, orin, 10.0, 11.0), idle, 100)
    assert energy.window_j == pytest.approx(7.0)  # not 10.2 J
    assert energy.total_rails == ["VDD_IN"] and energy.rails_j["VDD_SOC"] == pytest.approx(1.2)
    assert energy.mj_per_inference == pytest.approx(70.0) and "total = VDD_IN" in energy.note
    assert board_total(parse_tegrastats("POM_5V_IN 1750/1628 POM_5V_GPU 40/40 POM_5V_CPU 312/312")) == ["POM_5V_IN"]
    tx2 = "VDD_IN 3456/3456 VDD_SYS_CPU 229/229 VDD_SYS_GPU 152/152 VDD_SYS_SOC 687/687 VDD_SYS_DDR 591/591"
    assert board_total(parse_tegrastats(tx2)) == ["VDD_IN"]
    agx_orin = "VDD_GPU_SOC 2400mW/2400mW VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 3128mW/3128mW NC 0mW/0mW"
    assert board_total(parse_tegrastats(agx_orin)) == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]  # NC skipped
    stamped = "08-15-2023 10:21:58 RAM 2020/7620MB VDD_IN 5071mW/5071mW VDD_SOC 1436mW/1436mW"
    assert parse_tegrastats(stamped) == pytest.approx({"VDD_IN": 5.071, "VDD_SOC": 1.436})


def test_tegrastats_log_time_stamps_or_interval_set_the_span() -> None:
    text = "\n".join(f"08-15-2023 10:22:0{k} VDD_IN 5000mW/5000mW VDD_SOC 1000mW/1000mW" for k in (0, 2, 4))
    assert parse_tegrastats_log(text).seconds == pytest.approx(4.0)
    trace = parse_tegrastats_log(text, interval_s=0.5)
    assert (trace.seconds, trace.joules, trace.total_rails) == (1.0, pytest.approx(5.0), ["VDD_IN"])
    with pytest.raises(ToolOutputError, match="no tegrastats line with rails"):
        parse_tegrastats_log("RAM 1/2MB SWAP 0/1MB")


# --- fault 8: powermetrics says why, never a wrong cause ----------------------------------------


def test_powermetrics_probe_reads_macos11_and_names_the_real_problem() -> None:
    assert PowermetricsMeter(Lines(POWERMETRICS_11)).counter_spec()["period_s"] == 0.1
    meter = PowermetricsMeter(Lines(""))
    assert meter.total_rails(["cpu", "gpu", "ane", "dram"]) == ["cpu", "gpu", "ane"]
    assert meter.total_rails(["cpu", "gpu", "ane", "combined"]) == ["combined"]
    with pytest.raises(Exception, match="needs passwordless sudo") as info:
        PowermetricsMeter(Lines("", 1, "sudo: a password is required")).counter_spec()
    assert "a password is required" in str(info.value)
    with pytest.raises(Exception, match="ran but printed no power line") as info:
        PowermetricsMeter(Lines("*** Sampled system activity ***\nSoC Power Draw: 5 watts\n")).counter_spec()
    assert "SoC Power Draw" in str(info.value)


# --- fault 3: delegation from any message real builds print -------------------------------------

GPU_FULL = """\
INFO: Created TensorFlow Lite delegate for GPU.
VERBOSE: Replacing 58 out of 58 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions for the \
whole graph.
INFO: Created 1 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.
INFO: count=13 first=115098 curr=36666 min=32079 max=115098 avg=40199.8 std=21694
INFO: count=1694 first=35688 curr=33419 min=30394 max=42335 avg=35134.9 std=1733
INFO: Inference timings in us: Init: 842225, First inference: 115098, Warmup (avg): 40199.8, Inference (avg): 35134.9
INFO: Overall peak memory footprint (MB) via periodic monitoring: 74.6641
"""


def test_full_none_and_counted_delegation() -> None:
    r = parse_benchmark_model(GPU_FULL)
    assert r.delegation == [{"delegate": "TfLiteGpuDelegateV2", "replaced": 58, "total": 58, "partial": False}]
    assert [(d["delegate"], d["execution"], d["replaced"], d["partitions"]) for d in r.delegates] == [
        ("GPU", "full", 58, 1),
        ("NNAPI", "none", None, None),
    ]
    assert not r.partially_delegated and r.count == 1694 and r.first_ms == pytest.approx(115.098)
    assert r.peak_memory_mb == pytest.approx(74.6641) and r.memory_meaning.startswith("absolute peak")
    counted = parse_benchmark_model(GPU_FULL.replace("58 out of 58", "40 out of 58").replace("completely", "X"))
    assert counted.delegates[0]["execution"] == "partial" and counted.partially_delegated


# --- accelerators (issue 19): every delegation outcome as posted ---------------------------------


def test_hexagon_that_fails_to_prepare_fails_the_run_with_each_of_its_lines() -> None:
    said = [
        "hexagon_nn_config failed. Error: -1",
        "Delegate kernel was not initialized",
        "Node number 125 (TfLiteHexagonDelegate) failed to prepare.",
        "Restored original execution plan after delegate application failure.",
        "Failed to apply Hexagon delegate.",
    ]
    with pytest.raises(ToolFailed, match="hexagon_nn_config failed. Error: -1") as info:
        parse_benchmark_model(HEXAGON_49247)
    assert info.value.delegate_errors == said and "Benchmarking failed" in str(info.value)
    read = read_delegation(HEXAGON_49247)
    assert read["delegate_errors"] == said
    # it claimed 125 of 125 nodes, then the original plan came back: nothing ran on the DSP
    assert read["delegates"] == [
        {"delegate": "Hexagon", "execution": "none", "replaced": 0, "total": 125, "partitions": None, "kernels": None}
    ]


def test_nnapi_that_takes_no_node_is_none_in_a_logcat_excerpt() -> None:
    read = read_delegation(NNAPI_NONE_56301)
    assert [(d["delegate"], d["execution"]) for d in read["delegates"]] == [("NNAPI", "none")]
    assert read["delegate_errors"] == [] and read["delegation"] == []
    with pytest.raises(ToolOutputError) as info:  # an excerpt without the timed runs: refused, not a failed run
        parse_benchmark_model(NNAPI_NONE_56301)
    assert not isinstance(info.value, ToolFailed)


def test_windows_gpu_full_is_read_though_the_excerpt_ends_in_the_timed_stage() -> None:
    read = read_delegation(GPU_58379)
    assert read["delegates"] == [
        {"delegate": "GPU", "execution": "full", "replaced": None, "total": None, "partitions": None, "kernels": None}
    ]
    with pytest.raises(ToolOutputError, match="began on line 24"):  # never the 20 warm-up runs as the timed ones
        parse_benchmark_model(GPU_58379)


def test_onnxruntime_node_placement_counts_each_provider() -> None:
    read = read_delegation(ORT_MIGRAPHX)
    assert read["placement"] == {"MIGraphXExecutionProvider": 2, "CPUExecutionProvider": 39}
    assert read["delegates"] == [
        {"delegate": "MIGraphXExecutionProvider", "execution": "partial", "replaced": 2, "total": 41,
         "partitions": None, "kernels": None, "cpu_nodes": 39}
    ]  # fmt: skip
    assert read["delegation"] == [
        {"delegate": "MIGraphXExecutionProvider", "replaced": 2, "total": 41, "partial": True}
    ]


def test_onnxruntime_nnapi_capability_gives_the_graphs_coverage_and_partitions() -> None:
    read = read_delegation(ORT_NNAPI_9054)
    assert read["delegates"] == [
        {"delegate": "NnapiExecutionProvider", "execution": "partial", "replaced": 53, "total": 87, "partitions": 17,
         "kernels": None}
    ]  # fmt: skip
    assert read["placement"] == {} and read["delegate_errors"] == []


# --- fault 4: every summary format; unknown ones say what is known ------------------------------


def test_older_statistics_lines_and_summary_only_logs() -> None:
    same = parse_benchmark_model("count=1 curr=5000\ncount=50 curr=1000(all same)\n")
    assert (same.count, same.mean_ms, same.min_ms, same.std_ms, same.first_ms) == (50, 1.0, 1.0, 0.0, 5.0)
    apk = parse_benchmark_model(
        "... tflite  : Average inference timings in us: Warmup: 91471, Init: 4108, Inference: 80660.1"
    )
    assert apk.count == 0 and (apk.mean_ms, apk.init_ms, apk.warmup_mean_ms) == pytest.approx((80.6601, 4.108, 91.471))
    assert "count" not in apk.found


def _cut_after(text: str, fragment: str) -> str:
    """``text`` cut just after the first ``fragment``, as a log saved while the tool was still writing."""
    return text[: text.index(fragment) + len(fragment)]


def test_a_log_cut_inside_a_number_or_after_the_warm_up_is_refused_never_read_short() -> None:
    with pytest.raises(ToolOutputError):  # the timed line cut at avg=6029 (of 602943): never 6.029 ms
        parse_benchmark_model(_cut_after(TI_AM62, "avg=6029"))
    with pytest.raises(ToolOutputError):  # TF 1.14 cut at avg=74 (of 747...): never 0.074 ms
        parse_benchmark_model(_cut_after(TF114, "avg=74"))
    warm_up_only = "".join(GPU_43541.splitlines(keepends=True)[:20])
    assert warm_up_only.rstrip().splitlines()[-1].startswith("count=4 ")  # the warm-up stage's line, whole
    with pytest.raises(ToolOutputError, match="ends after the warm-up stage"):
        parse_benchmark_model(warm_up_only)
    with pytest.raises(ToolOutputError):  # a warm-up line cut to count=1 curr=63
        parse_benchmark_model(_cut_after(TI_AM62, "count=1 curr=63"))


def test_a_last_line_without_a_line_end_is_not_read_and_said() -> None:
    r = parse_benchmark_model(_cut_after(TI_AM62, "overall=14"))  # of overall=149.531: never 14 MB
    assert r.peak_memory_mb is None and r.mean_ms == pytest.approx(602.943)
    assert any("no line end" in w and "overall=14" in w for w in r.warnings)


def test_a_value_the_log_ends_on_is_not_read_even_with_a_line_end_added() -> None:
    # an editor saving a cut log adds the line end it lacked: the last value may still be short
    cut_std = parse_benchmark_model(_cut_after(TI_AM62, "std=276") + "\n")  # of std=27690: never 0.276 ms
    assert cut_std.std_ms is None and cut_std.mean_ms == pytest.approx(602.943)
    assert "the log ends on its timed-runs line (line 18), so its last value (std=276)" in cut_std.warnings[0]
    cut_init = parse_benchmark_model(_cut_after(TI_AM62, "Init: 59") + "\n")  # of Init: 592232 us
    assert cut_init.init_ms == pytest.approx(592.232)  # from 'Initialized session in 592.232ms' instead
    cut_first = parse_benchmark_model(_cut_after(TI_AM62, "First inference: 63343") + "\n")  # of 633430
    assert cut_first.first_ms == pytest.approx(633.43)  # from the warm-up line's first=
    assert "(first 63343) may be cut short" in cut_first.warnings[0]
    whole = parse_benchmark_model(TI_AM62)
    assert (whole.std_ms, whole.init_ms, whole.first_ms) == (27.69, 592.232, 633.43)
    assert not any("may be cut short" in w for w in whole.warnings)


def test_a_time_printed_twice_that_disagrees_is_not_read() -> None:
    damaged = TI_AM62.replace("Init: 592232,", "Init: 59,").replace("First inference: 633430,", "First inference: 63,")
    r = parse_benchmark_model(damaged)
    assert r.init_ms is None and r.first_ms is None and r.mean_ms == pytest.approx(602.943)
    assert any("'Initialized session in 592.232ms' differ" in w for w in r.warnings)
    assert any("warm-up line's first= (633.43 ms) differ" in w for w in r.warnings)


def test_perf_test_values_without_their_unit_are_refused() -> None:
    with pytest.raises(ToolOutputError, match="no unit"):
        parse_perf_test(ORT_OLD.replace("P90 Latency is 0.0599845 sec", "P90 Latency is 0.05"))
    with pytest.raises(ToolOutputError, match="no unit"):
        parse_perf_test(ORT_ACL.replace("158171136 bytes", "1581"))


LOGCAT_FORMATS = {  # adb logcat -v FORMAT of the same line (AOSP liblog logprint.cpp)
    "tag": "I/tflite  : {}",
    "year": "2022-05-30 15:16:44.857  3380  3380 I tflite  : {}",
    "epoch": "1653923804.857  3380  3380 I tflite  : {}",
    "uid": "05-30 15:16:44.857 u0_a123  3380  3380 I tflite  : {}",
    "zone": "05-30 15:16:44.857 +0200  3380  3380 I tflite  : {}",
    "process": "I( 3380) {}  (tflite)",
    "thread": "I( 3380: 3380) {}",
    "time": "05-30 15:16:44.857 I/tflite  ( 3380): {}",
    "color": "\x1b[38;5;40m05-30 15:16:44.857  3380  3380 I tflite  : {}\x1b[0m",
}


@pytest.mark.parametrize("fmt", sorted(LOGCAT_FORMATS))
def test_every_logcat_format_reads_the_same_values(fmt: str) -> None:
    bare = [line.split(" : ", 1)[1] for line in APK_LOGCAT.splitlines() if " : " in line]
    r = parse_benchmark_model("".join(LOGCAT_FORMATS[fmt].format(line) + "\n" for line in bare))
    threadtime = parse_benchmark_model(APK_LOGCAT)
    assert (r.count, r.mean_ms, r.std_ms, r.warmup_count) == (
        threadtime.count,
        threadtime.mean_ms,
        threadtime.std_ms,
        threadtime.warmup_count,
    )
    assert r.line_prefix == "logcat" and r.delegates == threadtime.delegates


def test_a_statistics_line_behind_an_unknown_prefix_is_refused_not_dropped() -> None:
    hidden = "".join(f"[12:00:01] tflite> {line}\n" for line in TI_AM62.splitlines())
    with pytest.raises(ToolOutputError, match="prefix this parser does not know"):
        parse_benchmark_model(hidden)


def test_each_run_of_a_pasted_tf113_session_is_read_whole() -> None:
    first, second = (parse_benchmark_model(TF113 + TF113, run=k) for k in (1, 2))
    alone = parse_benchmark_model(TF113)
    for r in (first, second):
        assert (r.count, r.mean_ms, r.warmup_count, r.init_ms) == (
            alone.count,
            alone.mean_ms,
            alone.warmup_count,
            alone.init_ms,
        )


@pytest.mark.slow
def test_the_threads_a_log_states_are_read_and_must_agree_with_the_command_line(bench_here, tmp_path: Path) -> None:
    assert (parse_benchmark_model(TI_AM62).threads, parse_benchmark_model(GPU_43541).threads) == (4, 4)
    assert parse_perf_test(ORT_2020).threads is None  # "intra_op_num_threads to 0": onnxruntime's default
    assert parse_benchmark_model("Setting intra_op_num_threads to 2\n" + TI_AM62).threads == 4  # perf_test's line
    path = tmp_path / "am62.log"
    path.write_text(TI_AM62)
    args = ["ingest", str(path), "--tool", "benchmark_model", "--device", "am62", "-m", "m", "--store",
            str(tmp_path / "s.sqlite")]  # fmt: skip
    stored = bench_here(*args, "--json")
    assert stored.code == 0, stored.stderr
    assert json.loads(stored.stdout)["threads"] == 4  # not the default 1
    assert_one_line_error(bench_here(*args, "--threads", "1"), "--threads 1", "used 4 threads")


def test_unknown_formats_list_the_known_ones() -> None:
    with pytest.raises(ToolOutputError, match="formats read: .*TF 1.x"):
        parse_benchmark_model("hello\nworld\n")
    with pytest.raises(ToolOutputError, match="formats read: .*before early 2020"):
        parse_perf_test("hello\n")


# --- fault 5: several runs refused, never merged; whitespace tables -----------------------------

FAILED = """\
STARTING!
Graph: [/data/local/tmp/missing.tflite]
ERROR: Could not open '/data/local/tmp/missing.tflite'.
ERROR: Failed to load model
Benchmarking failed.
"""


def test_a_file_with_several_runs_is_refused_with_the_list_and_one_can_be_picked() -> None:
    session = TF114 + "\n" + TI_AM62 + "\n" + FAILED
    with pytest.raises(ToolOutputError) as info:
        parse_benchmark_model(session)
    message = str(info.value)
    assert "3 benchmark_model runs" in message and "--run N" in message
    assert "mobilenet_v1_1.0_224_quant.tflite): 50 timed runs, avg 747.7 ms" in message
    assert "ssd_mobilenet_v2_coco.tflite): 50 timed runs, avg 602.9 ms" in message
    assert "missing.tflite): failed: " in message and "Failed to load model" in message
    second = parse_benchmark_model(session, run=2)
    assert (second.run, second.runs, second.mean_ms) == (2, 3, pytest.approx(602.943))
    assert [d["delegate"] for d in second.delegates] == ["XNNPACK"]  # nothing merged from the other runs
    assert parse_benchmark_model(session, run=1).delegates == []
    with pytest.raises(ToolFailed, match="Could not open"):
        parse_benchmark_model(session, run=3)
    with pytest.raises(ToolOutputError, match="run 4 asked for"):
        parse_benchmark_model(session, run=4)
    with pytest.raises(ToolOutputError, match="2 onnxruntime_perf_test runs"):
        parse_perf_test(ORT_OLD + ORT_OLD)
    assert parse_perf_test(ORT_OLD + ORT_OLD.replace("58.8053 ms", "60 ms"), run=2).mean_ms == 60.0


def test_op_profiles_whose_tabs_became_spaces() -> None:
    for table in (OPS_OLD, OPS_NEW):
        spaced = table.replace("\t", "    ")
        assert [(r.node_type, r.avg_ms, r.node, r.name) for r in parse_op_profile(spaced)] == [
            (r.node_type, r.avg_ms, r.node, r.name) for r in parse_op_profile(table)
        ]
    logcat = "\n".join(f"05-30 15:16:46.366  3380  3380 I tflite  : {line}" for line in OPS_NEW.splitlines())
    assert [r.node_type for r in parse_op_profile(logcat)] == ["QUANTIZE", "Convolution (NHWC, F32) IGEMM", "MEAN"]


# --- fault 8: failed runs carry the tool's reason -----------------------------------------------


def test_failed_runs_give_the_tools_reason() -> None:
    with pytest.raises(ToolFailed, match="Failed to allocate tensors"):
        parse_benchmark_model("INFO: STARTING!\nERROR: Failed to allocate tensors!\nBenchmarking failed.\n")
    with pytest.raises(ToolFailed, match="count=0"):
        parse_benchmark_model("INFO: STARTING!\nINFO: count=0\nINFO: count=0\n")
    with pytest.raises(ToolFailed, match="Load model from m.onnx failed"):
        parse_perf_test("[E:onnxruntime:, inference_session.cc:1] Load model from m.onnx failed: Protobuf parsing\n")


# --- faults 6 and 7: stored row keeps everything, memory says what it is; thermal temperatures ---


def test_the_stored_source_keeps_everything_the_tool_printed() -> None:
    source = tool_source(parse_benchmark_model(TI_AM62))
    assert source["tool_values"]["warmup_count"] == 1 and source["tool_values"]["init_ms"] == pytest.approx(592.232)
    assert source["tool_values"]["memory"] == {"delta_init_mb": 133.086, "delta_overall_mb": 149.531}
    assert source["memory_meaning"].startswith("delta") and source["delegates"][0]["kernels"] == 1
    assert any(note.startswith("peak_memory_mb is the delta") for note in source["notes"])
    info = tool_source(parse_perf_test(ORT_OLD))
    assert info["tool_values"]["percentiles_ms"]["p999"] == pytest.approx(62.3472)


THERMALSERVICE = """\
IsStatusOverride: false
ThermalEventListeners:
	callbacks: 1
Thermal Status: 2
Cached temperatures:
	Temperature{mValue=28.000002, mType=2, mName=battery, mStatus=0}
HAL Ready: true
HAL connection:
	ThermalHAL 2.0 connected: yes
Current temperatures from HAL:
	Temperature{mValue=37.899998, mType=0, mName=cpu0-silver-usr, mStatus=0}
	Temperature{mValue=41.5, mType=1, mName=gpu0-usr, mStatus=2}
"""


def test_thermalservice_temperatures_are_kept_with_the_status() -> None:
    assert parse_thermalservice(THERMALSERVICE) == (2, {"cpu0-silver-usr": 37.899998, "gpu0-usr": 41.5})
    assert parse_thermalservice("Thermal Status: 0\n") == (0, {})


# --- bench ingest of the real logs and of power logs --------------------------------------------


def ingest(bench, tmp_path: Path, name: str, text: str, *args: str):
    path = tmp_path / name
    path.write_text(text)
    return bench("ingest", str(path), "--store", str(tmp_path / "s.sqlite"), "--device", "d", "-m", "m", *args)


@pytest.mark.slow
def test_ingest_real_logs_and_power_logs(bench_here, tmp_path: Path) -> None:
    row = json.loads(ingest(bench_here, tmp_path, "a.log", TF114, "--tool", "benchmark_model", "--json").stdout)
    assert (row["first_ms"], row["init_ms"], row["mean_ms"]) == pytest.approx((751.932, 21.039, 747.733))
    assert "first" not in row["source"]["missing"] and "init" not in row["source"]["missing"]
    power = ingest(bench_here, tmp_path, "t.log", XAVIER, "--tool", "tegrastats", "-f", "onnx",
                   "--inferences", "100", "--idle-w", "30", "--json")  # fmt: skip
    assert power.code == 0, power.stderr
    row = json.loads(power.stdout)
    joules = parse_tegrastats_log(XAVIER).joules
    assert row["energy_mj_per_inference"] == pytest.approx((joules - 30 * 9.0) / 100 * 1e3)
    assert row["energy"]["meter"] == "tegrastats" and len(row["energy"]["total_rails"]) == 6
    mac = ingest(bench_here, tmp_path, "p.txt", POWERMETRICS_11, "--tool", "powermetrics", "-f", "coreml",
                 "--inferences", "10", "--json")  # fmt: skip
    assert mac.code == 0, mac.stderr
    assert json.loads(mac.stdout)["energy"]["total_rails"] == ["package"]
    several = ingest(bench_here, tmp_path, "s.log", TF114 + TI_AM62, "--tool", "benchmark_model")
    assert_one_line_error(several, "2 benchmark_model runs", "--run N")
    picked = ingest(bench_here, tmp_path, "s.log", TF114 + TI_AM62, "--tool", "benchmark_model", "--run", "2", "--json")
    assert json.loads(picked.stdout)["source"]["delegates"][0]["execution"] == "partial"
    failed = ingest(bench_here, tmp_path, "f.log", FAILED, "--tool", "benchmark_model")
    assert_one_line_error(failed, "run in this file failed", "Could not open")


# --- fuzzing over the new formats --------------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        garbled(TI_AM62),
        garbled(TF114),
        garbled(APK_LOGCAT),
        garbled(GPU_FULL),
        garbled(TF114 + FAILED),
        garbled(GPU_43541),
        garbled(FLEX_802),
        garbled(TF113),
        garbled(TF113[: TF113.index("count=15")]),
        garbled(HEXAGON_49247),
        garbled(NNAPI_NONE_56301 + APK_LOGCAT),
        garbled(GPU_58379 + GPU_FULL),
    )
)
def test_fuzzed_real_benchmark_model_logs_raise_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_benchmark_model, text)
    only_parse_errors(read_delegation, text)


@FUZZ
@given(
    st.one_of(
        garbled(ORT_OLD),
        garbled(ORT_OLD + ORT_OLD),
        garbled(ORT_ACL),
        garbled(ORT_2020),
        garbled(ORT_MIGRAPHX + ORT_NNAPI_9054 + ORT_ACL),
    )
)
def test_fuzzed_old_perf_test_logs_raise_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_perf_test, text)
    only_parse_errors(read_delegation, text)


@FUZZ
@given(
    st.one_of(
        garbled(XAVIER), garbled(POWERMETRICS_11), garbled(THOR + THOR), garbled(AGX_ORIN * 3), st.text(max_size=400)
    )
)
def test_fuzzed_power_logs_raise_only_parse_errors(text: str) -> None:
    only_parse_errors(parse_tegrastats_log, text)
    only_parse_errors(parse_powermetrics_log, text)


def test_inference_diff_results_are_read_per_model_as_posted() -> None:
    from bench.parsers.inference_diff import parse_inference_diff

    text = (LOGS / "inference_diff_tf2.3_gpu_issue42294_excerpt.txt").read_text()
    first, second = (parse_inference_diff(part) for part in text.split("\n\n"))
    assert (first.runs, first.reference_ms, first.test_ms, first.errors) == (5, 0.3506, 7.78833, [0.0])
    assert second.reference_ms == pytest.approx(51.5052) and second.test_ms == pytest.approx(76.1893)
    assert second.errors == [5.65735e-08] and second.error_std == [1.23668e-10]
    with pytest.raises(ToolOutputError, match="printed no result"):
        parse_inference_diff("ERROR: GPU delegate could not be created.\nERROR: Could not create test stage.\n")
