"""Accelerators: the cell's accelerator dimension, the coverage rule, and every refusal before work.

Hardware accelerators cannot exist on this machine: the phone's delegates are simulated by the
emulated Pixel's benchmark_model / perf_test stand-ins (tests/simulators/native_tools.py); here the
real onnxruntime runs on its CPU execution provider and the real refusals are checked.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from bench.accelerators.base import Delegation, accelerators, get_accelerator, serving_for
from bench.accelerators.coverage import judge
from bench.devices.config import get_device
from bench.errors import BenchError
from bench.measure.harness import plan_cells
from bench.measure.measurement import Cell, Measurement
from bench.parsers.tool_output import placement_delegates
from bench.results.store import Store


def test_every_accelerator_names_how_each_runtime_it_serves_runs_it() -> None:
    known = accelerators()
    assert list(known)[0] == "cpu"
    assert {"cpu", "xnnpack", "gpu", "nnapi", "hexagon", "qnn", "cuda", "tensorrt", "openvino", "ane"} <= set(known)
    for accelerator in known.values():
        for runtime, serving in accelerator.serves.items():
            assert serving.agent or serving.why_not, (accelerator.name, runtime)
            assert serving.tool or serving.why_not, (accelerator.name, runtime)
            if accelerator.name != "cpu":
                assert serving.reports_as, (accelerator.name, runtime)  # how coverage is read


def test_delegate_flags_follow_benchmark_model_and_perf_test() -> None:
    gpu = serving_for("gpu", "litert", {"gpu_backend": "gl"})
    assert gpu.tool_flags == ("--use_gpu=true", "--gpu_backend=gl", "--gpu_precision_loss_allowed=true")
    tpu = serving_for("nnapi:google-edgetpu", "litert")
    assert tpu.tool_flags == ("--use_nnapi=true", "--disable_nnapi_cpu=true", "--nnapi_accelerator_name=google-edgetpu")
    assert "--disable_nnapi_cpu=false" in serving_for("nnapi", "litert", {"nnapi_cpu": "true"}).tool_flags
    assert serving_for("nnapi", "onnxruntime").tool_flags == ("-e", "nnapi", "-i", "NNAPI_FLAG_CPU_DISABLED")
    assert serving_for("cuda", "onnxruntime").options["providers"][0] == "CUDAExecutionProvider"
    assert serving_for("ane", "coreml").options == {"compute_units": "cpu_and_ne"}
    with pytest.raises(BenchError, match="only TFLite's NNAPI delegate"):
        serving_for("nnapi:google-edgetpu", "onnxruntime")
    with pytest.raises(BenchError, match="runs on litert, coreml, not onnxruntime"):
        serving_for("gpu", "onnxruntime")
    for bad, words in [("warp", "unknown accelerator 'warp'"), ("nnapi:", "empty variant"), ("gpu:x", "no variant"),
                       ("nnapi:a b", "must be a device name")]:  # fmt: skip
        with pytest.raises(BenchError, match=words):
            get_accelerator(bad)


def entry(delegate: str, replaced: int, total: int, **extra) -> dict:
    execution = "none" if replaced == 0 else "full" if replaced == total else "partial"
    return {"delegate": delegate, "execution": execution, "replaced": replaced, "total": total, **extra}


def test_coverage_rule_full_partial_none_and_missing() -> None:
    gpu = serving_for("gpu", "litert")
    full = judge("gpu", gpu, {"delegates": [entry("XNNPACK", 3, 3), entry("GPU", 66, 66, partitions=1)]})
    assert full.error is None and full.coverage == 1.0 and full.record["partial"] is False
    partial = judge("gpu", gpu, {"delegates": [entry("GPU", 60, 66, partitions=3)]})
    assert partial.error is None and partial.coverage == pytest.approx(60 / 66)
    assert partial.record == {"delegate": "GPU", "nodes": 60, "total_nodes": 66, "partitions": 3, "partial": True}
    strict = judge("gpu", gpu, {"delegates": [entry("GPU", 60, 66)]}, require_full=True)
    assert "took only 60 of 66 nodes" in strict.error
    none = judge("gpu", gpu, {"delegates": [entry("GPU", 0, 66)], "delegate_errors": ["GPU refused MEAN"]})
    assert none.coverage is None and "took none" in none.error and "GPU refused MEAN" in none.error
    missing = judge("gpu", gpu, {"delegates": [entry("XNNPACK", 66, 66)]})  # only the CPU's delegate ran
    assert "was not applied" in missing.error
    assert judge("cpu", serving_for("cpu", "litert"), {}).error is None  # the CPU is not judged


def test_onnxruntime_placement_counts_the_nodes_each_provider_ran(tiny_files) -> None:
    from bench.runtimes.onnxruntime import placement

    counts = placement(str(tiny_files["onnx"]), 1, {"providers": ["CPUExecutionProvider"]})
    import onnx

    assert counts == {"CPUExecutionProvider": len(onnx.load(str(tiny_files["onnx"])).graph.node)}
    (cuda,) = placement_delegates({"CUDAExecutionProvider": 5, "CPUExecutionProvider": 2})
    assert cuda == {"delegate": "CUDAExecutionProvider", "execution": "partial", "replaced": 5, "total": 7,
                    "partitions": None, "kernels": None, "cpu_nodes": 2}  # fmt: skip


def test_planning_crosses_accelerators_with_the_runtimes_they_serve() -> None:
    pixel = get_device("pixel6")
    cells = plan_cells(["m"], ["onnx", "tflite"], ["fp32"], None, [1], device=pixel,
                       accelerators=["cpu", "gpu", "nnapi"])  # fmt: skip
    assert sorted((c.runtime, c.accelerator) for c in cells) == [
        ("litert", "cpu"), ("litert", "gpu"), ("litert", "nnapi"), ("onnxruntime", "cpu"), ("onnxruntime", "nnapi")
    ]  # fmt: skip
    with pytest.raises(BenchError, match="has no accelerator cuda; its profile lists cpu, xnnpack, gpu"):
        plan_cells(["m"], ["onnx"], ["fp32"], None, [1], device=pixel, accelerators=["cuda"])
    with pytest.raises(BenchError, match="accelerator gpu runs on litert, coreml; this run's runtimes are onnxruntime"):
        plan_cells(["m"], ["onnx"], ["fp32"], None, [1], device=pixel, accelerators=["gpu"])
    assert plan_cells(["m"], ["tflite"], ["fp32"], None, [1], device=pixel, accelerators=["nnapi:google-edgetpu"])


def test_the_accelerator_is_part_of_the_cell_key_in_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite"))
    cpu = Cell("m", "tflite", "fp32", "litert", 1)
    gpu = Cell("m", "tflite", "fp32", "litert", 1, accelerator="gpu")
    assert cpu.key != gpu.key and gpu.label() == "m tflite/fp32 litert[gpu] x1"
    assert Cell.from_row(gpu.plan_entry()) == gpu and Cell.from_row(cpu.plan_entry()) == cpu
    run_id = store.start_run("p", {}, [cpu.plan_entry(), gpu.plan_entry()])
    for cell, coverage in [(cpu, None), (gpu, 0.9)]:
        store.add_measurement(Measurement(cell.on("p"), "ok", samples_ms=(1.0, 2.0), coverage=coverage, run_id=run_id))
    assert store.done_cells(run_id) == {cpu.on("p"), gpu.on("p")}
    rows = {r["accelerator"]: r for r in store.measurement_rows(run_id)}
    assert rows["gpu"]["coverage"] == 0.9 and rows["cpu"]["coverage"] is None
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("select count(distinct accelerator) from measurements").fetchone()[0] == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--accelerator", "warp"], ["unknown accelerator 'warp'", "known: cpu"]),
        (["--accelerator", "cuda"], ["CUDAExecutionProvider is not in onnxruntime", "pip install onnxruntime-gpu"]),
        (["--accelerator", "ane", "--format", "onnx"], ["accelerator ane runs on coreml"]),
        (["--accelerator", "ane", "--format", "coreml"], ["coreml runs only on macOS"]),
        (["--accelerator", "gpu", "--format", "tflite"], ["cannot run on this machine", "ai-edge-litert wheel"]),
        (["--accelerator", "cuda", "--delegate-option", "gpu_backend=cl"], ["belongs to accelerator gpu"]),
        (["--accelerator", "cuda", "--delegate-option", "speed=max"], ["unknown delegate option 'speed'"]),
        (["--accelerator", "cuda", "--option", "providers=CPUExecutionProvider"], ["contradicts --accelerator cuda"]),
        (["--require-full-delegation"], ["needs an --accelerator other than cpu"]),
        (["--option", "providers=CUDAExecutionProvider+CPUExecutionProvider"], ["is an accelerator: use"]),
        (["-a", "cuda", "--delegate-option", "nnapi_cpu=true", "--delegate-option", "nnapi_cpu=false"],
         ["nnapi_cpu is given twice"]),
        (["-a", "cuda", "--format", "onnx,tflite"], ["no chosen accelerator (cuda) runs litert, so the tflite cells"]),
    ],
    ids=["unknown", "provider-missing", "wrong-runtime", "needs-macos", "no-gpu-delegate", "option-of-another",
         "unknown-option", "providers-clash", "full-of-cpu", "provider-as-option", "option-twice", "format-dropped"],
)  # fmt: skip
def test_accelerators_that_cannot_run_here_are_refused_before_any_work(
    bench_here, tiny_files, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    store = tmp_path / "s.sqlite"
    result = bench_here("run", "-m", f"{tiny_files['source']}:tiny", "--input-shape", "1,3,64,64", "--store",
                       str(store), *args, *([] if "--format" in args else ["--format", "onnx"]))  # fmt: skip
    assert_one_line_error(result, *words)
    assert not store.exists()


def test_a_delegate_option_for_a_runtime_the_run_does_not_use_is_refused() -> None:
    pixel = get_device("pixel6")
    cells = plan_cells(["m"], ["onnx"], ["fp32"], None, [1], device=pixel, accelerators=["nnapi"])
    from bench.cli.options import delegation_settings

    with pytest.raises(BenchError, match="belongs to accelerator gpu"):
        delegation_settings(["nnapi"], ["gpu_backend=cl"], False, sorted({c.runtime for c in cells}))
    with pytest.raises(BenchError, match="nnapi_cpu takes true, false"):
        delegation_settings(["nnapi"], ["nnapi_cpu=maybe"], False, ["onnxruntime"])
    assert delegation_settings(["nnapi"], ["nnapi_cpu=true"], True, ["onnxruntime"]) == Delegation(
        {"nnapi_cpu": "true"}, True
    )


def test_a_results_file_from_before_accelerators_compares_as_cpu_cells(bench_here, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    row = {"model": "m", "format": "tflite", "precision": "fp32", "runtime": "litert", "device": "p", "threads": 1,
           "status": "ok"}  # fmt: skip
    old = [{**row, "samples_ms": list(rng.normal(10.0, 0.2, 200))}]  # saved before the accelerator column
    new = [{**row, "accelerator": "cpu", "samples_ms": list(rng.normal(10.0, 0.2, 200))},
           {**row, "accelerator": "gpu", "coverage": 1.0, "samples_ms": list(rng.normal(4.0, 0.1, 200))}]  # fmt: skip
    files = [tmp_path / "old.json", tmp_path / "new.json"]
    for file, rows in zip(files, (old, new), strict=True):
        file.write_text(json.dumps(rows))
    result = bench_here("compare", "--baseline", str(files[0]), "--candidate", str(files[1]))
    said = " ".join(result.stdout.split())
    assert result.code == 0, result.stdout + result.stderr
    assert "unchanged" in said and "litert[gpu]" in said and "missing-in-baseline" in said


def test_probe_tries_each_accelerator_of_the_profile_and_says_why_one_does_not_work(bench_cli) -> None:
    result = bench_cli("devices", "--probe", "host")
    assert result.code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "accelerator cuda (onnxruntime) │ no: load: RuntimeError: execution provider CUDAExecutionProvider" in said
    assert "accelerator gpu (litert) │ no: accelerator gpu on litert cannot run through the measurement agent" in said
    assert "accelerator ane (coreml) │ not tried: coreml runs only on macOS" in said


# --- on the emulated phone (SIMULATION: the stand-ins print what benchmark_model / perf_test print) ---


def phone_run(bench_cli, phone, files: dict, fmt: str, *args: str, store: Path) -> tuple[int, list[dict], str]:
    result = bench_cli("run", "--device-file", str(phone.profile), "--store", str(store), "--json", "-m",
                       str(files[fmt]), "--warmup", "2", "--min-runs", "20", "--min-time", "0.3", *args)  # fmt: skip
    rows = json.loads(result.stdout) if result.stdout.strip().startswith("[") else []
    return result.code, rows, result.stderr


def simulate(phone, accelerators_json: dict) -> list[dict]:
    """Give the emulated phone these accelerators; returns a reader of what the stand-ins ran."""
    (phone.root / "sim/accelerators.json").write_text(json.dumps(accelerators_json))


def ran(phone) -> list[dict]:
    """What the stand-ins ran with a delegate or provider (``sim/delegates.log``), in order."""
    path = phone.root / "sim/delegates.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def by_accelerator(rows: list[dict]) -> dict[str, dict]:
    return {r["accelerator"]: r for r in rows}


@pytest.mark.slow
def test_a_fully_delegated_gpu_cell_is_stored_with_coverage_1_and_its_own_latency(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    simulate(emulated_pixel, {"gpu": {"overhead_ms": 3.0}})
    code, rows, stderr = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "cpu,gpu",
                                   store=tmp_path / "s.sqlite")  # fmt: skip
    assert code == 0, stderr
    cells = by_accelerator(rows)
    gpu, cpu = cells["gpu"], cells["cpu"]
    assert gpu["status"] == "ok" and gpu["coverage"] == 1.0 and cpu["coverage"] is None
    (record,) = [r for r in ran(emulated_pixel) if "GPU" in r.get("delegates", {})][-1:]
    assert record["flags"]["use_gpu"] == "true" and record["delegates"]["GPU"]["execution"] == "full"
    assert gpu["source"]["accelerator"] == {"delegate": "GPU", "nodes": record["delegates"]["GPU"]["replaced"],
                                            "total_nodes": record["delegates"]["GPU"]["total"], "partitions": 1,
                                            "partial": False}  # fmt: skip
    assert gpu["median_ms"] - cpu["median_ms"] > 0.8 * 3.0  # the GPU's own latency, not the CPU's
    assert gpu["source"]["output_check"]["status"] == "not checked"  # no inference_diff in this profile


@pytest.mark.slow
def test_one_unsupported_op_gives_a_partial_cell_and_require_full_delegation_fails_it(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    simulate(emulated_pixel, {"gpu": {"unsupported_ops": ["MEAN"]}})
    code, rows, stderr = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "gpu",
                                   store=tmp_path / "s.sqlite")  # fmt: skip
    assert code == 0, stderr
    (row,) = rows
    truth = ran(emulated_pixel)[-1]["delegates"]["GPU"]
    assert 0 < truth["replaced"] < truth["total"] and truth["execution"] == "partial"
    assert row["status"] == "ok" and row["coverage"] == pytest.approx(truth["replaced"] / truth["total"])
    assert row["source"]["accelerator"]["partial"] is True
    assert row["source"]["accelerator"]["partitions"] == truth["partitions"]
    table = bench_cli("results", "--store", str(tmp_path / "s.sqlite"))
    assert "partial" in table.stdout
    code, rows, _ = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "gpu",
                              "--require-full-delegation", store=tmp_path / "strict.sqlite")  # fmt: skip
    (row,) = rows
    assert code == 1 and row["status"] == "failed" and row["median_ms"] is None
    assert f"took only {truth['replaced']} of {truth['total']} nodes" in row["error"]


@pytest.mark.slow
def test_a_refused_delegate_is_a_failed_cell_with_the_tools_reason_and_no_latency(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    simulate(emulated_pixel, {"gpu": {"create": False}})  # the tool warns and runs on the CPU
    code, rows, _ = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "gpu",
                              store=tmp_path / "s.sqlite")  # fmt: skip
    (row,) = rows
    assert code == 1 and row["status"] == "failed" and row["median_ms"] is None and row["n_samples"] is None
    assert "accelerator gpu (GPU) was not applied" in row["error"]
    assert "GPU acceleration is unsupported on this platform" in row["error"]


@pytest.mark.slow
def test_nnapi_cannot_fall_back_to_its_cpu_reference_unless_asked(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    simulate(emulated_pixel, {"nnapi": {"devices": ["google-edgetpu", "nnapi-reference"], "unsupported_ops": ["MEAN",
             "FULLY_CONNECTED", "CONV_2D", "TRANSPOSE"]}})  # fmt: skip
    code, rows, _ = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "nnapi",
                              store=tmp_path / "s.sqlite")  # fmt: skip
    (row,) = rows
    assert ran(emulated_pixel)[-1]["flags"]["disable_nnapi_cpu"] == "true"
    assert code == 1 and row["status"] == "failed" and "took none of the graph's nodes" in row["error"]
    code, rows, stderr = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "nnapi",
                                   "--delegate-option", "nnapi_cpu=true", store=tmp_path / "t.sqlite")  # fmt: skip
    (row,) = rows
    assert code == 0 and row["status"] == "ok", stderr
    assert ran(emulated_pixel)[-1]["delegates"]["NNAPI"]["on_nnapi_reference"] > 0  # what the user allowed
    code, rows, _ = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "nnapi:qti-dsp",
                              store=tmp_path / "u.sqlite")  # fmt: skip
    (row,) = rows
    assert code == 1 and "Could not find the specified NNAPI accelerator: qti-dsp" in row["error"]


@pytest.mark.parametrize(
    ("unsupported", "outcome"),
    [([], "full"), (["ReduceMean"], "partial"), (["Conv", "Relu", "ReduceMean", "Gemm"], "none"), (None, "failure")],
)
@pytest.mark.slow
def test_perf_test_execution_providers_follow_the_same_rule(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path, unsupported, outcome: str
) -> None:
    simulate(emulated_pixel, {} if unsupported is None else {"nnapi": {"unsupported_op_types": unsupported}})
    code, rows, stderr = phone_run(bench_cli, emulated_pixel, tiny_files, "onnx", "--accelerator", "nnapi",
                                   store=tmp_path / "s.sqlite")  # fmt: skip
    (row,) = rows
    truth = ran(emulated_pixel)[-1]
    assert truth["flags"] == {"-e": "nnapi", "-i": "NNAPI_FLAG_CPU_DISABLED", "-v": True}
    if outcome in ("full", "partial"):
        assert code == 0 and row["status"] == "ok", (stderr, row["error"])
        assert row["coverage"] == pytest.approx(truth["replaced"] / truth["total"])
        assert row["source"]["accelerator"]["partial"] is (outcome == "partial")
    else:
        assert code == 1 and row["status"] == "failed" and row["median_ms"] is None
        assert ("took none" if outcome == "none" else "NNAPI is not supported in this build") in row["error"]


@pytest.mark.slow
def test_inference_diff_checks_the_delegates_outputs_and_flags_wrong_ones(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    from conftest import tool_wrapper

    tool = tool_wrapper(tmp_path, "run_eval")
    profile = emulated_pixel.profile
    profile.write_text(profile.read_text().replace("\n[accelerators]", f'inference_diff = "{tool}"\n\n[accelerators]'))
    simulate(emulated_pixel, {"gpu": {}, "nnapi": {"output_error": 0.5}})
    code, rows, stderr = phone_run(bench_cli, emulated_pixel, tiny_files, "tflite", "--accelerator", "gpu,nnapi",
                                   "--delegate-option", "nnapi_cpu=true", store=tmp_path / "s.sqlite")  # fmt: skip
    assert code == 0, stderr
    cells = by_accelerator(rows)
    good, bad = cells["gpu"]["source"]["output_check"], cells["nnapi"]["source"]["output_check"]
    assert good["status"] == "checked" and good["runs"] == 50 and good["max_error"] < 1e-6 and not good["flagged"]
    assert bad["flagged"] and bad["max_error"] == pytest.approx(0.5, rel=1e-3)
    assert "outputs OFF" in bench_cli("results", "--store", str(tmp_path / "s.sqlite")).stdout


def nvidia_gpu() -> str | None:
    """Why this machine cannot run the CUDA test, or None when it can."""
    import shutil
    import subprocess

    import onnxruntime as ort

    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU here (nvidia-smi not found)"
    if subprocess.run(["nvidia-smi"], capture_output=True).returncode != 0:
        return "nvidia-smi fails: no usable NVIDIA GPU"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(nvidia_gpu() is not None, reason=str(nvidia_gpu()))
def test_a_zoo_model_on_cuda_through_the_agent_is_measured_with_nvml_energy(bench_cli, tmp_path: Path) -> None:
    result = bench_cli("run", "-m", "mobilenetv2_100", "--format", "onnx", "--accelerator", "cpu,cuda", "--json",
                       "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert result.code == 0, result.stderr
    cells = by_accelerator(json.loads(result.stdout))
    cuda = cells["cuda"]
    assert cuda["status"] == "ok" and cuda["coverage"] > 0.5
    assert cuda["source"]["placement"]["CUDAExecutionProvider"] > 0
    assert cuda["source"]["output_check"]["status"] == "checked" and not cuda["source"]["output_check"]["flagged"]
    assert cuda["energy"]["meter"] == "nvml", cuda["energy_note"]
    assert cuda["median_ms"] != cells["cpu"]["median_ms"]


@pytest.mark.slow
def test_probe_on_the_phone_says_which_accelerators_work(bench_cli, emulated_pixel) -> None:
    simulate(emulated_pixel, {"gpu": {}, "hexagon": {"create": False}})
    result = bench_cli("devices", "--device-file", str(emulated_pixel.profile))
    assert result.code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "accelerator gpu (litert) │ works:" in said and "100% of nodes" in said
    assert "accelerator hexagon (litert) │ no: accelerator hexagon (Hexagon) was not applied" in said
    assert "accelerator nnapi (onnxruntime) │ no:" in said  # the phone has no NNAPI


def test_a_format_no_chosen_accelerator_runs_is_refused_not_dropped(tmp_path: Path) -> None:
    pixel = get_device("pixel6")
    with pytest.raises(BenchError, match=r"no chosen accelerator \(gpu\) runs onnxruntime, so the onnx cells"):
        plan_cells(["m"], ["onnx", "tflite"], ["fp32"], None, [1], device=pixel, accelerators=["gpu"])


def test_the_delegate_flags_come_before_xnnpack_so_the_accelerator_takes_the_graph_first() -> None:
    from bench.measure.runners.native_tools import tool_command

    flags = serving_for("gpu", "litert").tool_flags
    argv = tool_command("litert", "/t/bm", "/t/m.tflite", 1, runs=5, seconds=1, max_secs=9, warmup=1, accelerator=flags)
    assert argv.index("--use_gpu=true") < argv.index("--use_xnnpack=true")  # benchmark_model ranks by flag position


def test_profile_accelerators_are_normalised_and_listed_once(tmp_path: Path) -> None:
    from bench.devices.config import load_device

    profile = tmp_path / "p.toml"
    profile.write_text(
        'name = "p"\ntransport = "local"\n[accelerators]\navailable = ["cpu", " gpu", "gpu", "nnapi: tpu"]\n'
    )
    assert load_device(profile).accelerators == ("cpu", "gpu", "nnapi:tpu")
    profile.write_text('name = "p"\ntransport = "local"\n[accelerators]\navailable = ["gpu", 3]\n')
    with pytest.raises(BenchError, match=r"p.toml:4: '\[accelerators\] available' lists 3"):
        load_device(profile)
