"""A user's own model is exported as written, or fails with the converter's one-line reason; never
a wrong artifact (issue #16, faults 2, 3, 5, 8, 9 and the re-verified cache of fault 1). The models
are in tests/user_models/export_kinds.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, assert_one_line_error

import models
from bench.errors import BenchError
from export.pipeline import export_model
from export.reference import Inputs, parse_inputs, parse_reference
from export.source import ModelSpec, resolve
from export.verify import InputSpec

KINDS = ROOT / "tests/user_models/export_kinds.py"
SHAPE = (1, 3, 16, 16)


@pytest.fixture
def results(results_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("BENCH_RESULTS", str(results_dir))
    return results_dir


def kind(name: str) -> ModelSpec:
    return resolve(f"{KINDS}:{name}", input_shape=SHAPE)


def test_a_users_zero_initialised_parameters_are_exported_as_zeros(results: Path) -> None:
    spec = kind("zero_initialised")
    artifact = export_model(spec, "onnx", "fp32")
    assert artifact.error is None and artifact.verified is True
    assert artifact.weights_changed == [] and "zero" not in artifact.weights
    import onnxruntime as ort

    x = np.random.default_rng(3).random(SHAPE, dtype=np.float32)
    session = ort.InferenceSession(artifact.path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(KINDS.read_text(), str(KINDS), "exec"), namespace)  # the model as the user wrote it
    as_written = namespace["zero_initialised"]().eval()
    assert not as_written.pos.any() and not as_written.gate.weight.any()
    with torch.no_grad():
        want = as_written(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_only_a_zoo_models_zeroed_norm_scales_are_set_and_the_artifact_says_so() -> None:
    _, changed = resolve("mobilevit_xxs").build_noting()
    assert changed and all(name.endswith(".weight") for name in changed)
    model = models.create_model("mobilevit_xxs")
    norms = dict(model.named_modules())
    norm = torch.nn.modules.batchnorm._NormBase
    assert all(isinstance(norms[name.removesuffix(".weight")], norm) for name in changed)
    _, changed = resolve("deit_tiny_patch16_224").build_noting()  # zeroed pos_embed / cls_token stay zero
    assert changed == []


@pytest.mark.parametrize("name", ["branch_on_mean", "divide_by_max"])
def test_coreml_refuses_data_dependent_code_instead_of_freezing_it(results: Path, name: str) -> None:
    artifact = export_model(kind(name), "coreml", "fp32")
    assert artifact.error and "data-dependent" in artifact.error and "export_kinds.py:" in artifact.error
    assert artifact.path is None and not artifact.ok


def test_coreml_off_macos_is_checked_through_its_traced_graph(results: Path) -> None:
    artifact = export_model(kind("zero_initialised"), "coreml", "fp32")
    assert artifact.error is None and artifact.verified is None
    assert artifact.verification.checks and "traced graph matches" in artifact.verification.checks[0]
    assert artifact.ok


def test_nan_from_pytorch_itself_is_not_blamed_on_the_export(results: Path) -> None:
    spec = kind("log1p")
    normal = export_model(spec, "onnx", "fp32")
    assert normal.error is None and normal.verified is None and not normal.ok
    assert "PyTorch itself" in normal.verification.reason and "--input-range" in normal.verification.reason
    images = export_model(spec, "onnx", "fp32", inputs=InputSpec.parse_range("0,1"))
    assert images.verified is True and images.verification.inputs == "uniform[0, 1]"
    assert images.cache_key != normal.cache_key  # the inputs are part of what was verified


def test_real_inputs_from_a_folder_verify_the_model(results: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        np.save(folder / f"{i}.npy", rng.random(SHAPE[1:], dtype=np.float32))  # CHW, batch added
    artifact = export_model(kind("log1p"), "onnx", "fp32", inputs=InputSpec.from_folder(folder))
    assert artifact.verified is True and artifact.verification.samples == 3


def test_a_zoo_model_is_verified_on_its_own_preprocessing_range(results: Path) -> None:
    low, high = models.get_card("mobilevit_xxs").input_range
    assert low == (0.0, 0.0, 0.0) and high == (1.0, 1.0, 1.0)
    low, high = models.get_card("edgevit_xxs").input_range
    assert low[0] == pytest.approx(-0.485 / 0.229, abs=1e-5) and high[2] == pytest.approx(0.594 / 0.225, abs=1e-5)


def test_a_converter_failure_names_the_operator_is_cached_and_can_be_retried(results: Path) -> None:
    spec = kind("adaptive_max_pool")
    failed = export_model(spec, "onnx", "fp32")
    assert failed.error and "aten.adaptive_max_pool2d" in failed.error and "\x1b" not in failed.error
    assert "export.log" in failed.error and "Next steps" not in failed.error and not failed.cached
    again = export_model(spec, "onnx", "fp32")
    assert again.cached and again.error == failed.error
    retried = export_model(spec, "onnx", "fp32", retry_failed=True)
    assert not retried.cached and retried.error == failed.error


def test_a_cache_hit_is_re_verified_and_a_changed_model_is_exported_again(results: Path) -> None:
    def make(scale: float) -> ModelSpec:
        def factory() -> torch.nn.Module:
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Dropout(0), _Scale(scale))

        return ModelSpec("reverify.net", SHAPE, source="same-code", factory=factory)

    first = export_model(make(1.0), "onnx", "fp32")
    hit = export_model(make(1.0), "onnx", "fp32")
    assert hit.cached and hit.reverified is True and hit.sha256 == first.sha256
    changed = export_model(make(3.0), "onnx", "fp32")  # the key cannot see this change
    assert not changed.cached and changed.sha256 != first.sha256 and changed.verified is True
    assert any("no longer matches" in note for note in changed.notes)


class _Scale(torch.nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


@pytest.mark.slow
def test_export_cli_exits_1_on_an_export_neither_verified_nor_checked(bench_cli) -> None:
    result = bench_cli("export", f"{KINDS}:log1p", "--input-shape", "1,3,16,16", "--format", "onnx", "--json")
    assert result.code == 1
    (row,) = json.loads(result.stdout)
    assert row["verified"] is None and "PyTorch itself" in row["verification"]["reason"]


@pytest.mark.slow
def test_export_cli_takes_the_input_range_and_skips_a_precision_one_format_lacks(bench_cli) -> None:
    result = bench_cli("export", f"{KINDS}:log1p", "--input-shape", "1,3,16,16", "--format", "onnx,tflite",
                       "--precision", "fp16", "--input-range", "0,1", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["format"], row["precision"], row["verified"]) == ("tflite", "fp16", True)
    assert "skipped onnx fp16: onnx has no fp16" in result.stderr


@pytest.mark.slow
def test_export_cli_retries_a_cached_failure_only_when_asked(bench_cli) -> None:
    args = ["export", f"{KINDS}:adaptive_max_pool", "--input-shape", "1,3,16,16", "--format", "onnx", "--json"]
    first, again, retried = bench_cli(*args), bench_cli(*args), bench_cli(*args, "--retry-failed")
    assert first.code == again.code == retried.code == 1
    rows = [json.loads(r.stdout)[0] for r in (first, again, retried)]
    assert [r["cached"] for r in rows] == [False, True, False]
    assert "aten.adaptive_max_pool2d" in rows[1]["error"]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--input-range", "1,0"], "LOW must be below HIGH"),
        (["--input-range", "nan,1"], "LOW must be below HIGH"),
        (["--input-range", "zero"], "is not two numbers"),
        (["--inputs", "/nonexistent"], "not a folder"),
        (["--input-range", "0,1", "--inputs", "."], "give one"),
        (["--precision", "fp64"], "does not support precision 'fp64'"),
    ],
)
def test_bad_verification_options_are_one_line_errors(bench_here, args: list[str], fragment: str) -> None:

    assert_one_line_error(bench_here("export", f"{KINDS}:log1p", "--input-shape", "1,3,16,16", *args), fragment)


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "coreml"])
def test_a_model_with_several_outputs_is_verified_output_by_output(results: Path, fmt: str) -> None:
    artifact = export_model(kind("tuple_and_dict"), fmt, "fp32")
    assert artifact.error is None and artifact.ok, (artifact.error, artifact.verification)
    assert artifact.verified is (None if fmt == "coreml" else True)  # CoreML off macOS: its trace is checked
    assert [o["shape"] for o in artifact.outputs] == [[1, 4], [1, 4, 16, 16], [1, 16, 16]]


def test_a_wrong_output_is_named_among_several() -> None:
    from export.verify import compare_outputs

    rng = np.random.default_rng(0)
    reference = [[rng.random((1, 10)), rng.random((1, 4, 8, 8))] for _ in range(3)]
    candidate = [[a.copy(), b * 1.5] for a, b in reference]
    verdict = compare_outputs(reference, candidate, "fp32")
    assert verdict.passed is False and verdict.reason.startswith("output 1: max abs diff")
    assert compare_outputs(reference, [[a] for a, _ in reference], "fp32").reason.startswith("the file has")


TOKENS = "image:1,3,16,16;ids:1,6:int64"


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "coreml"])
def test_a_model_with_an_image_and_integer_ids_is_exported_and_verified(results: Path, fmt: str) -> None:
    spec = resolve(f"{KINDS}:image_and_tokens", input_shape=parse_inputs(TOKENS))
    artifact = export_model(spec, fmt, "fp32")
    assert artifact.error is None and artifact.ok, (artifact.error, artifact.verification)
    assert artifact.verified is (None if fmt == "coreml" else True)
    assert [i["shape"] for i in artifact.inputs] == [[1, 3, 16, 16], [1, 6]]
    assert [o["shape"] for o in artifact.outputs] == [[1, 5], [1, 6, 8]]
    if fmt == "onnx":  # the names the user gave are the file's, ids stay integers
        assert [(i["name"], i["dtype"]) for i in artifact.inputs] == [
            ("image", "tensor(float)"),
            ("ids", "tensor(int64)"),
        ]
        assert artifact.settings["inputs"][1] == {"name": "ids", "shape": [1, 6], "dtype": "int64"}


def test_unnamed_inputs_take_the_forwards_parameter_names(results: Path) -> None:
    spec = resolve(f"{KINDS}:two_inputs", input_shape=parse_inputs("1,3,16,16;1,1,16,16"))
    artifact = export_model(spec, "onnx", "fp32")
    assert artifact.ok and [i["name"] for i in artifact.inputs] == ["image", "mask"]


def test_named_inputs_out_of_the_forwards_order_are_refused_not_swapped(results: Path) -> None:
    swapped = resolve(f"{KINDS}:two_inputs", input_shape=parse_inputs("mask:1,1,16,16;image:1,3,16,16"))
    with pytest.raises(BenchError, match=r"input 1 is 'image' in forward, --input-shape names it 'mask'"):
        swapped.check_runs()
    artifact = export_model(swapped, "onnx", "fp32")
    assert artifact.error and "give the inputs in the forward's order" in artifact.error and artifact.path is None


def test_an_input_the_model_never_reads_fails_onnx_with_the_reason(results: Path) -> None:
    spec = resolve(f"{KINDS}:unused_input", input_shape=parse_inputs("x:1,8;unused:1,8"))
    artifact = export_model(spec, "onnx", "fp32")
    assert artifact.error and "never uses input unused" in artifact.error and artifact.path is None


def test_too_few_input_shapes_name_the_forwards_inputs(results: Path) -> None:
    artifact = export_model(kind("two_inputs"), "onnx", "fp32")
    assert artifact.error and "forward takes 2 input(s) (image, mask)" in artifact.error and artifact.path is None
    with pytest.raises(BenchError, match=r"forward takes 2 input\(s\) \(image, mask\).*'image:SHAPE;mask:SHAPE'"):
        kind("two_inputs").check_runs()


def test_several_inputs_verify_on_npz_files_with_an_array_per_input(results: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        np.savez(folder / f"{i}.npz", ids=rng.integers(0, 4, (1, 6)), image=rng.random((1, 3, 16, 16)))
    spec = resolve(f"{KINDS}:image_and_tokens", input_shape=parse_inputs(TOKENS))
    artifact = export_model(spec, "onnx", "fp32", inputs=InputSpec.from_folder(folder))
    assert artifact.ok and artifact.verification.samples == 2
    np.savez(folder / "2.npz", rng.random((1, 3, 16, 16)))  # one array for two inputs
    with pytest.raises(BenchError, match="2.npz holds 1 arrays, the model takes 2 inputs"):
        InputSpec.from_folder(folder).check(spec.inputs)
    bad = [
        ({"ids": rng.random((1, 6)), "image": rng.random((1, 3, 16, 16))}, "holds fractions for the int64 input ids"),
        ({"tokens": rng.integers(0, 4, (1, 6)), "pixels": rng.random((1, 3, 16, 16))}, "name them as the inputs"),
    ]
    for arrays, fragment in bad:
        (folder / "2.npz").unlink()
        np.savez(folder / "2.npz", **arrays)
        with pytest.raises(BenchError, match=fragment):
            InputSpec.from_folder(folder).check(spec.inputs)


def test_input_files_the_model_cannot_take_are_exit_2_before_any_export(bench_cli, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    np.savez(folder / "0.npz", image=np.zeros((1, 3, 16, 16)), ids=np.full((1, 6), 50))  # the embedding has 4 rows
    result = bench_cli("export", f"{KINDS}:image_and_tokens", "--input-shape", TOKENS, "--inputs", str(folder))
    assert_one_line_error(result, "does not run on its first input file", "IndexError")
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("artifact.json"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a:1,3;a:1,4", "names an input twice"),
        ("ids:1,6:int128", "dtype 'int128'"),
        ("1,3;;1,4", "empty item"),
        ("9x:1,3", "use ASCII letters, digits and _"),
        ("a:1,3:int64:x", "not SHAPE or NAME:SHAPE"),
        ("a-b:1,3", "use ASCII letters, digits and _"),
    ],
)
def test_a_malformed_input_list_is_one_line(text: str, fragment: str) -> None:
    with pytest.raises(BenchError, match=fragment):
        parse_inputs(text)


def test_an_input_list_reads_back_from_its_canonical_reference() -> None:
    ref = parse_reference(f"{KINDS}:image_and_tokens --input-shape {TOKENS}")
    assert ref.inputs == parse_inputs(TOKENS) and parse_reference(ref.canonical) == ref
    assert parse_inputs("1x3x8x8") == Inputs.of_shape((1, 3, 8, 8)) and Inputs.of_shape((1, 3)).plain


def test_coreml_does_not_count_a_trace_the_tracer_warned_about_at_the_users_line(results: Path) -> None:
    artifact = export_model(kind("std_gate"), "coreml", "fp32")
    assert artifact.error is None and artifact.verified is None and not artifact.ok
    assert artifact.verification.checks == [] and "export_kinds.py:" in artifact.verification.reason


def test_onnx_failure_on_data_dependent_code_names_the_users_line(results: Path) -> None:
    artifact = export_model(kind("branch_on_mean"), "onnx", "fp32")
    assert artifact.error and "at export_kinds.py:" in artifact.error


def test_a_stale_coreml_hit_is_caught_by_the_outputs_kept_at_export(results: Path) -> None:
    def make(scale: float) -> ModelSpec:
        def factory() -> torch.nn.Module:
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), _Scale(scale))

        return ModelSpec("stale.coreml", SHAPE, source="same-code", factory=factory)

    first = export_model(make(1.0), "coreml", "fp32")
    hit = export_model(make(1.0), "coreml", "fp32")
    assert first.ok and hit.cached and hit.reverified is True
    changed = export_model(make(2.0), "coreml", "fp32")  # e.g. the factory loaded other weights
    assert not changed.cached and any("no longer matches" in note for note in changed.notes)


def test_edited_input_files_are_new_inputs(results: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    np.save(folder / "0.npy", np.full(SHAPE[1:], 0.5, dtype=np.float32))
    before = InputSpec.from_folder(folder)
    np.save(folder / "0.npy", np.full(SHAPE[1:], 0.25, dtype=np.float32))
    assert InputSpec.from_folder(folder).describe() != before.describe()


def test_a_helper_named_like_the_zoo_package_is_the_users(results: Path) -> None:
    artifact = export_model(resolve(f"{KINDS.parent}/shadow/net.py:make", input_shape=SHAPE), "onnx", "fp32")
    assert artifact.error is None and artifact.verified is True
    import models as zoo

    assert hasattr(zoo, "create_model")  # this program's zoo is back in place afterwards


@pytest.mark.slow
def test_bad_input_files_and_shapes_are_exit_2_before_any_export(bench_here, tmp_path: Path) -> None:
    from conftest import assert_one_line_error

    cases = {"shape": np.zeros((1, 3, 32, 32), np.float32), "nan": np.full(SHAPE, np.nan, np.float32),
             "text": np.array(["a", "b"])}  # fmt: skip
    for name, array in cases.items():
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "x.npy", array)
    export = ["export", f"{KINDS}:log1p", "--input-shape", "1,3,16,16", "--format", "onnx"]
    assert_one_line_error(bench_here(*export, "--inputs", str(tmp_path / "shape")), "has shape (1, 3, 32, 32)")
    assert_one_line_error(bench_here(*export, "--inputs", str(tmp_path / "nan")), "holds NaN or inf")
    assert_one_line_error(bench_here(*export, "--inputs", str(tmp_path / "text")), "as a numeric array")
    assert_one_line_error(
        bench_here("export", f"{KINDS}:log1p", "--input-shape", "1,3,16", "--format", "onnx"),
        "does not run on input shape 1,3,16",
    )


@pytest.mark.slow
def test_bench_run_does_not_measure_an_export_that_was_not_verified(bench_cli) -> None:
    result = bench_cli("run", "-m", f"{KINDS}:log1p", "--input-shape", "1,3,16,16", "--format", "onnx",
                       "--min-runs", "5", "--min-time", "0", "--json")  # fmt: skip
    assert result.code == 1, result.stderr
    rows = json.loads(result.stdout)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert rows[0]["status"] == "failed" and "neither verified nor checked" in rows[0]["error"]


@pytest.mark.slow
def test_bench_run_measures_a_model_with_two_inputs_given_by_repeated_input_shapes(bench_cli, results: Path) -> None:
    result = bench_cli(
        "run", "-m", f"{KINDS}:image_and_tokens", "--input-shape", "image:1,3,16,16", "--input-shape", "ids:1,6:int64",
        "--format", "onnx,tflite", "--warmup", "1", "--min-runs", "5", "--min-time", "0.05",
        "--store", str(results / "s.sqlite"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(r["median_ms"] > 0 for r in rows)
    assert rows[0]["model"] == f"{KINDS}:image_and_tokens --input-shape {TOKENS}"
    one = bench_cli("run", "-m", f"{KINDS}:image_and_tokens", "--input-shape", "1,3,16,16", "--format", "onnx")
    assert_one_line_error(one, "forward takes 2 input(s) (image, ids)", "'image:SHAPE;ids:SHAPE'")


@pytest.mark.slow
def test_two_processes_exporting_one_artifact_at_once_export_it_once(results_dir: Path) -> None:
    """A second `bench export` sharing the results folder waits for the first and takes its artifact from
    the cache, instead of deleting the folder the first is writing."""
    import os
    import subprocess
    import sys
    import time

    start_at = time.time() + 3  # after both have imported what they need
    code = (
        "import sys, time\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "from bench.cli import main\n"
        "sys.argv = ['bench', *sys.argv[2:]]\n"
        "main()\n"
    )
    args = ["export", f"{KINDS}:tuple_and_dict", "--input-shape", "1,3,16,16", "--format", "onnx", "--json"]
    env = {**os.environ, "BENCH_RESULTS": str(results_dir), "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(start_at), *args],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    rows = [json.loads(out)[0] for out, _ in outputs]
    assert sorted(r["cached"] for r in rows) == [False, True]
    assert rows[0]["sha256"] == rows[1]["sha256"] and all(r["verified"] for r in rows)
