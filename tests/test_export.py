"""Export to ONNX, TFLite and CoreML: verification, precisions, the cache, and failures."""

from __future__ import annotations

import json
import platform
import shutil
import textwrap
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, share_zoo_artifacts

from export.pipeline import export_model
from export.source import resolve

FAMILIES = ["edgevit_xxs", "shiftvit_tiny_light", "stvit_deit_tiny", "stvit_swin_tiny", "ast_xxs", "vast_tiny",
            "mobilenetv2_100"]  # fmt: skip

USER_MODELS = textwrap.dedent(
    """
    import torch
    import torch.nn as nn


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(self.conv(x).relu().mean((2, 3)))


    class HostSide(Small):
        # leaves the graph through numpy: the TFLite converter cannot express it
        def forward(self, x):
            return super().forward(x) * int(x.numpy().argmax())


    def small():
        return Small()


    def host_side():
        return HostSide()
    """
)


@pytest.fixture(scope="module")
def artifacts_home(tmp_path_factory, zoo_artifacts: Path) -> Path:
    """One results folder for the module, so exports are shared between tests as a user's cache is
    (zoo models through the session's cache, user models in this folder only)."""
    home = share_zoo_artifacts(tmp_path_factory.mktemp("results"), zoo_artifacts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_RESULTS", str(home))
        yield home


@pytest.fixture(scope="module")
def user_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "user_models.py"
    path.write_text(USER_MODELS)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_onnx_fp32_matches_pytorch(name: str, artifacts_home: Path) -> None:
    artifact = export_model(resolve(name), "onnx", "fp32")
    assert artifact.error is None, artifact.error
    assert artifact.verified is True, artifact.verification
    assert artifact.verification.top1_agreement == 1.0
    assert artifact.inputs[0]["shape"] == list(resolve(name).input_shape)
    assert Path(artifact.path).is_file() and artifact.size_bytes > 0 and len(artifact.sha256) == 64


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_tflite_fp32_matches_pytorch(name: str, artifacts_home: Path) -> None:
    artifact = export_model(resolve(name), "tflite", "fp32")
    assert artifact.error is None, artifact.error
    assert artifact.verified is True, artifact.verification
    assert artifact.verification.max_abs_diff < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_coreml_converts_and_is_never_reported_verified_off_macos(name: str, artifacts_home: Path) -> None:
    artifact = export_model(resolve(name), "coreml", "fp32")
    assert artifact.error is None, artifact.error
    assert Path(artifact.path, "Manifest.json").is_file()  # an .mlpackage bundle
    if platform.system() != "Darwin":
        assert artifact.verified is None
        assert artifact.verification.reason.startswith("not verified: needs macOS")


@pytest.mark.slow
def test_tflite_fp16_and_int8_are_smaller_and_still_close(artifacts_home: Path) -> None:
    spec = resolve("edgevit_xxs")
    fp32 = export_model(spec, "tflite", "fp32")
    fp16 = export_model(spec, "tflite", "fp16")
    int8 = export_model(spec, "tflite", "int8")
    assert (fp16.precision, int8.precision) == ("fp16", "int8")
    assert fp16.verified and int8.verified, (fp16.verification, int8.verification)
    assert fp16.size_bytes < 0.6 * fp32.size_bytes
    assert int8.size_bytes < 0.35 * fp32.size_bytes
    assert fp32.verification.max_abs_diff < fp16.verification.max_abs_diff < int8.verification.max_abs_diff


@pytest.mark.slow
def test_onnx_int8_is_dynamic_range_quantized(artifacts_home: Path) -> None:
    import onnx

    artifact = export_model(resolve("mobilenetv2_100"), "onnx", "int8")
    assert artifact.verified, artifact.verification
    ops = {node.op_type for node in onnx.load(artifact.path).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops or "ConvInteger" in ops
    assert artifact.settings["quantization"] == "dynamic QInt8"


@pytest.mark.slow
def test_coreml_fp16_is_recorded(artifacts_home: Path) -> None:
    artifact = export_model(resolve("mobilenetv2_100"), "coreml", "fp16")
    assert artifact.error is None and artifact.precision == "fp16"
    fp32 = export_model(resolve("mobilenetv2_100"), "coreml", "fp32")
    assert artifact.size_bytes < 0.6 * fp32.size_bytes


# --- the cache ---------------------------------------------------------------------------------


def test_second_export_is_a_cache_hit(artifacts_home: Path) -> None:
    spec = resolve("ast_xxs")
    first = export_model(spec, "onnx", "fp32")
    start = time.perf_counter()
    second = export_model(spec, "onnx", "fp32")
    assert second.cached and second.sha256 == first.sha256 and second.path == first.path
    assert time.perf_counter() - start < first.export_seconds / 5


def test_changed_settings_miss_the_cache(artifacts_home: Path, user_file: Path) -> None:
    small = resolve(f"{user_file}:small", input_shape=(1, 3, 32, 32))
    wider = resolve(f"{user_file}:small", input_shape=(1, 3, 48, 48))
    a = export_model(small, "onnx", "fp32")
    b = export_model(wider, "onnx", "fp32")
    assert not b.cached and a.cache_key != b.cache_key
    assert b.inputs[0]["shape"] == [1, 3, 48, 48]
    assert export_model(small, "onnx", "int8").cache_key != a.cache_key


@pytest.mark.slow
def test_different_weights_miss_the_cache_and_reach_the_artifact_from_the_command_line(
    artifacts_home: Path, bench_cli, tmp_path: Path
) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    import models

    torch.manual_seed(3)
    original = models.create_model("ast_xxs")
    path = tmp_path / "ast_xxs.pth"
    torch.save(original.state_dict(), path)
    random = export_model(resolve("ast_xxs"), "onnx", "fp32")
    loaded = export_model(resolve("ast_xxs", weights=path), "onnx", "fp32")
    assert not loaded.cached and loaded.cache_key != random.cache_key and loaded.sha256 != random.sha256
    assert loaded.verified
    # `bench export --weights` keys its export by the same weights: it gets this artifact from the
    # session's cache (no second conversion), and the file computes what the weights' model computes
    result = bench_cli("export", "ast_xxs", "--weights", str(path), "--json")
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["sha256"] == loaded.sha256 != random.sha256
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    exported = ort.InferenceSession(row["path"]).run(None, {"input": x})[0]
    with torch.no_grad():
        expected = original(torch.from_numpy(x)).numpy()
    assert np.abs(exported - expected).max() < 1e-4


@pytest.mark.parametrize(("fmt", "precision"), [("onnx", "int8"), ("tflite", "fp16")])
def test_a_lower_precision_is_quantized_from_the_cached_fp32_export(
    artifacts_home: Path, user_file: Path, fmt: str, precision: str
) -> None:
    spec = resolve(f"{user_file}:small", input_shape=(1, 3, 40, 40))
    lower = export_model(spec, fmt, precision)  # an empty cache: the fp32 file is exported first
    fp32 = export_model(spec, fmt, "fp32")
    assert fp32.cached and fp32.verified  # made by the lower precision's request: one conversion for both
    assert lower.verified and f"quantized from the verified fp32 export (sha256 {fp32.sha256[:12]}...)" in lower.notes
    shutil.rmtree(Path(fp32.path).parent)  # no fp32 file to start from: converted from the model
    converted = export_model(spec, fmt, precision, use_cache=False)
    assert converted.verified and not any("quantized from" in n for n in converted.notes)
    assert converted.cache_key == lower.cache_key
    assert converted.sha256 == lower.sha256  # the same file a conversion gives: the same graph, quantized


def test_a_cached_verification_failure_is_converted_again_only_with_retry_failed(
    artifacts_home: Path, user_file: Path
) -> None:
    spec = resolve(f"{user_file}:small", input_shape=(1, 3, 36, 36))
    good = export_model(spec, "onnx", "fp32")
    meta = Path(good.path).parent / "artifact.json"
    record = json.loads(meta.read_text())
    record["verification"]["passed"] = False  # as a file that failed its verification is cached
    meta.write_text(json.dumps(record))
    cached = export_model(spec, "onnx", "fp32")
    assert cached.cached and not cached.ok  # the failure stands: no silent re-conversion
    again = export_model(spec, "onnx", "fp32", retry_failed=True)
    assert not again.cached and again.ok and again.sha256 == good.sha256


def test_corrupted_cached_file_is_exported_again(artifacts_home: Path, user_file: Path) -> None:
    spec = resolve(f"{user_file}:small", input_shape=(1, 3, 32, 32))
    good = export_model(spec, "onnx", "fp32")
    with open(good.path, "r+b") as f:
        f.seek(good.size_bytes // 2)
        f.write(b"\x00garbage\x00")
    again = export_model(spec, "onnx", "fp32")
    assert not again.cached and again.sha256 == good.sha256 and again.verified


def test_out_dir_gets_a_copy(artifacts_home: Path, user_file: Path, tmp_path: Path) -> None:
    artifact = export_model(
        resolve(f"{user_file}:small", input_shape=(1, 3, 32, 32)), "onnx", "fp32", out_dir=tmp_path / "out"
    )
    assert Path(artifact.path) == tmp_path / "out" / "user_models.small-fp32.onnx"
    assert Path(artifact.path).is_file()


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_export_json_is_the_only_stdout_and_a_converter_failure_is_recorded_while_the_rest_goes_on(
    bench_cli, user_file: Path
) -> None:
    # one results folder throughout: the later commands find the earlier ones' exports (and the
    # converter's failure) in its cache, as a user's second command would
    result = bench_cli(
        "export", f"{user_file}:small", "--format", "onnx,tflite", "--input-shape", "1,3,32,32", "--json"
    )
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["format"], r["precision"]) for r in rows] == [("onnx", "fp32"), ("tflite", "fp32")]
    for row in rows:
        assert {
            "model",
            "format",
            "precision",
            "path",
            "sha256",
            "size_bytes",
            "verified",
            "max_abs_diff",
            "top1_agreement",
            "cached",
            "error",
        } <= set(row)
        assert row["verified"] is True and row["error"] is None and row["cached"] is False
    cached = bench_cli(
        "export", f"{user_file}:small", "--format", "onnx,tflite", "--input-shape", "1,3,32,32", "--json"
    )
    assert [r["cached"] for r in json.loads(cached.stdout)] == [True, True]
    # re-verifying the cached files runs them: the runtimes' own lines go to the export's log, not the terminal
    assert "XNNPACK" not in cached.stderr and "INFO:" not in cached.stderr, cached.stderr
    # a converter failure is recorded and the rest goes on
    result = bench_cli(
        "export",
        f"{user_file}:host_side",
        f"{user_file}:small",
        "--format",
        "tflite",
        "--input-shape",
        "1,3,32,32",
        "--json",
    )
    assert result.code == 1
    rows = json.loads(result.stdout)
    failed, ok = rows
    assert failed["model"] == "user_models.host_side" and failed["error"] and failed["path"] is None
    assert "numpy" in failed["error"]
    assert ok["error"] is None and ok["verified"] is True
    assert "1 of 2 exports failed" in result.stderr and "Traceback" not in result.stderr
    # and the table's summary names it
    result = bench_cli("export", f"{user_file}:host_side", "--format", "tflite", "--input-shape", "1,3,32,32")
    assert result.code == 1 and "failed" in result.stdout and "numpy" in result.stdout


def test_unknown_format_lists_the_supported(bench_here) -> None:
    assert_one_line_error(
        bench_here("export", "edgevit_xxs", "--format", "tensorrt"), "unknown format 'tensorrt'", "onnx, tflite, coreml"
    )


def test_unknown_precision_lists_the_supported(bench_here) -> None:
    assert_one_line_error(
        bench_here("export", "edgevit_xxs", "--precision", "fp8"),
        "does not support precision 'fp8'",
        "onnx: fp32,int8",
        "tflite: fp32,fp16,int8",
    )


def test_unsupported_combination_exits_2(bench_cli) -> None:
    assert_one_line_error(
        bench_cli("export", "edgevit_xxs", "--format", "coreml", "--precision", "int8"),
        "coreml does not support precision 'int8'",
    )


def test_missing_backend_names_the_pip_extra(bench_cli, hide_module) -> None:
    hide_module("coremltools")
    result = bench_cli("export", "edgevit_xxs", "--format", "coreml")
    assert_one_line_error(result, "pip install 'edge-bench[coreml]'")


def test_bad_user_model_references_exit_2(bench_here, user_file: Path, tmp_path: Path) -> None:
    assert_one_line_error(bench_here("export", str(tmp_path / "none.py:f")), "model file not found")
    assert_one_line_error(bench_here("export", f"{user_file}:nothing"), "no callable 'nothing'")
    assert_one_line_error(bench_here("export", str(user_file)), "path/to/file.py:factory")
    assert_one_line_error(bench_here("export", f"{user_file}:small", "--input-shape", "1,3,x"), "--input-shape")


def test_weights_for_several_models_is_refused(bench_here, tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    assert_one_line_error(
        bench_here("export", "edgevit_xxs", "edgevit_xs", "--weights", str(weights)), "--weights applies to one model"
    )


def test_cache_key_differs_per_model_format_and_precision() -> None:
    from export.pipeline import cache_key

    keys = {
        cache_key(resolve(name), fmt, precision)[0]
        for name in ("edgevit_xxs", "edgevit_xs")
        for fmt, precision in (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"))
    }
    assert len(keys) == 6
