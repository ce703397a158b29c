"""A user's model file is loaded as Python would run it, named the same way by every command, and
cached under everything its code depends on (issue #16, faults 1, 6, 7, 8 and 9's input ranks).

The models are small files written for these tests, in tests/user_models/load_*.py.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error

import export.source
from bench.errors import BenchError
from bench.measure.harness import prepare_workload
from bench.measure.measurement import Cell
from export.pipeline import cache_key
from export.reference import USER_INPUT_SHAPE, is_model_file, is_user_reference, parse_reference
from export.source import resolve

MODELS = ROOT / "tests/user_models"
SHAPE = "1,3,16,16"
FAST_RUN = ("--warmup", "1", "--min-runs", "5", "--min-time", "0.05")


@pytest.fixture
def results(results_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("BENCH_RESULTS", str(results_dir))
    return results_dir


def exported(result) -> list[dict]:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def params(spec) -> int:
    return sum(p.numel() for p in spec.build().parameters())


# --- loading a model file (fault 6) ------------------------------------------------------------


@pytest.mark.slow
def test_a_dataclass_config_under_future_annotations_loads_and_exports(bench_cli) -> None:
    (artifact,) = exported(
        bench_cli("export", f"{MODELS}/load_dataclass_config.py:make", "--input-shape", SHAPE, "--json")
    )
    assert artifact["model"] == "load_dataclass_config.make"
    assert artifact["verified"] is True and artifact["outputs"][0]["shape"] == [1, 3]


def test_a_helper_module_beside_the_model_file_is_imported_and_counted() -> None:
    spec = resolve(f"{MODELS}/load_uses_helper.py:make", (1, 3, 8, 8))
    assert type(spec.build().block).__module__ == "load_helper_blocks"
    # imported at the top of the file, and only inside the factory: both are the model's code
    assert {"load_uses_helper.py", "load_helper_blocks.py", "load_helper_stem.py"} <= set(spec.dependencies)
    assert spec.dependencies["torch"] == export.source.installed_version("torch")
    assert str(MODELS) not in sys.path  # the folder is on the import path only while loading


def test_two_model_files_with_helpers_of_the_same_name_each_import_their_own(tmp_path: Path) -> None:
    for name, width in (("a", 2), ("b", 5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "helpers.py").write_text(f"WIDTH = {width}\n")
        (tmp_path / name / "net.py").write_text(
            "import torch.nn as nn\nimport helpers\n\n\ndef make():\n    return nn.Linear(4, helpers.WIDTH)\n"
        )
    a, b = (resolve(f"{tmp_path / name / 'net.py'}:make", (1, 4)) for name in ("a", "b"))
    assert (a.build().out_features, b.build().out_features) == (2, 5)
    assert a.dependencies["helpers.py"] != b.dependencies["helpers.py"]


def test_a_model_file_that_fails_to_import_leaves_the_interpreter_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "broken_helper.py").write_text("VALUE = 1\n")
    (tmp_path / "broken.py").write_text("import broken_helper\nraise RuntimeError('not today')\n")
    modules, path = set(sys.modules), list(sys.path)
    with pytest.raises(BenchError, match="cannot import .*broken.py: RuntimeError: not today"):
        resolve(f"{tmp_path / 'broken.py'}:make")
    assert set(sys.modules) <= modules and sys.path == path  # neither the file nor its helper stays loaded


# --- the cache key covers what the code depends on (fault 1, the key) --------------------------


@pytest.mark.slow
def test_editing_an_imported_helper_misses_the_cache_and_nothing_changed_hits_it(bench_cli, tmp_path: Path) -> None:
    for name in ("load_uses_helper.py", "load_helper_blocks.py", "load_helper_stem.py"):
        shutil.copy(MODELS / name, tmp_path / name)
    args = ("export", f"{tmp_path}/load_uses_helper.py:make", "--input-shape", SHAPE, "--json")
    (first,) = exported(bench_cli(*args))
    (again,) = exported(bench_cli(*args))
    assert first["cached"] is False and again["cached"] is True and again["sha256"] == first["sha256"]
    helper = tmp_path / "load_helper_blocks.py"
    helper.write_text(helper.read_text().replace("SCALE = 1.0", "SCALE = 2.0"))
    (edited,) = exported(bench_cli(*args))
    assert edited["cached"] is False and edited["verified"] is True
    assert edited["sha256"] != first["sha256"] and edited["path"] != first["path"]


def test_a_different_installed_version_changes_the_cache_key(monkeypatch) -> None:
    ref = f"{MODELS}/load_uses_timm.py:make"
    spec = resolve(ref, (1, 3, 8, 8))
    assert spec.dependencies["timm"] == export.source.installed_version("timm")
    before = cache_key(spec, "onnx", "fp32")[0]
    assert cache_key(resolve(ref, (1, 3, 8, 8)), "onnx", "fp32")[0] == before  # loading again: the same key
    real = export.source.installed_version
    monkeypatch.setattr(export.source, "installed_version", lambda d: "0.0.1" if d == "timm" else real(d))
    changed = resolve(ref, (1, 3, 8, 8))
    assert changed.dependencies["timm"] == "0.0.1"
    assert cache_key(changed, "onnx", "fp32")[0] != before


def test_a_zoo_models_key_names_the_installed_timm_and_torch(monkeypatch) -> None:
    spec = resolve("mobilenetv2_100")
    assert set(spec.dependencies) == {"models", "timm", "torch"}
    before = spec.code_hash
    monkeypatch.setattr(export.source, "installed_version", lambda d: "9.9.9")
    assert resolve("mobilenetv2_100").code_hash != before


# --- factory arguments and their errors (faults 7 and 8) ---------------------------------------


def test_factory_arguments_reach_the_factory_in_both_syntaxes() -> None:
    file = f"{MODELS}/load_factory_args.py"
    written = resolve(f"{file}:make(width=0.5, classes=5)", (1, 3, 8, 8))
    given = resolve(f"{file}:make", (1, 3, 8, 8), factory_args=((), {"width": 0.5, "classes": 5}))
    mixed = resolve(f"{file}:make(0.5)", (1, 3, 8, 8), factory_args=((), {"classes": 5}))
    default = resolve(f"{file}:make", (1, 3, 8, 8))
    assert written.reference == given.reference == f"{file}:make(classes=5, width=0.5) --input-shape 1,3,8,8"
    assert written.code_hash == given.code_hash != default.code_hash
    assert params(written) == params(given) < params(default)
    assert mixed.build().fc.out_features == 5 and mixed.reference.startswith(f"{file}:make(0.5, classes=5)")


@pytest.mark.slow
def test_factory_args_option_reaches_the_factory_through_the_cli(bench_cli) -> None:
    (artifact,) = exported(
        bench_cli(
            "export",
            f"{MODELS}/load_factory_args.py:make",
            "--factory-args",
            '{"classes": 7}',
            "--input-shape",
            "1,3,8,8",
            "--json",
        )  # fmt: skip
    )
    assert artifact["model"] == "load_factory_args.make(classes=7)" and artifact["outputs"][0]["shape"] == [1, 7]
    assert artifact["verified"] is True


@pytest.mark.slow
def test_a_factory_missing_arguments_is_one_line_naming_what_to_pass(bench_here) -> None:
    needs = f"{MODELS.relative_to(ROOT)}/load_needs_args.py:make"
    assert_one_line_error(
        bench_here("export", needs, "--input-shape", SHAPE),
        f"{needs} needs argument 'width'",
        f"pass it as {needs}(width=...) or --factory-args",
    )
    assert_one_line_error(
        bench_here("run", "-m", f"{needs}(depth=2)", *FAST_RUN),
        f"pass it as {needs}(depth=2, width=...) or --factory-args",
    )


@pytest.mark.slow
def test_a_factory_returning_no_module_is_one_line(bench_here) -> None:
    assert_one_line_error(
        bench_here("export", f"{MODELS}/load_not_a_module.py:make"),
        "load_not_a_module.py:make returned dict, not a torch.nn.Module",
    )
    assert_one_line_error(
        bench_here("run", "-m", f"{MODELS}/load_not_a_module.py:make", *FAST_RUN), "not a torch.nn.Module"
    )


def test_factory_arguments_must_be_literals_that_fit_the_factory(bench_here) -> None:
    file = f"{MODELS}/load_factory_args.py"
    assert_one_line_error(bench_here("export", f"{file}:make(__import__('os'))"), "must be Python literals")
    with pytest.raises(BenchError, match="unexpected keyword argument 'wdth'.*its parameters: width, classes"):
        resolve(f"{file}:make(wdth=2)")
    with pytest.raises(BenchError, match="positional factory arguments are given twice"):
        resolve(f"{file}:make(1)", factory_args=((2,), {}))
    with pytest.raises(BenchError, match="must be values Python writes as literals"):
        resolve(f"{file}:make", factory_args=((), {"width": float("nan")}))


# --- model references: one grammar for every command and every cell (fault 7) ------------------


def test_a_reference_reads_back_from_its_canonical_form() -> None:
    ref = parse_reference("tests/user_models/net.py:make(width=0.5, depth=2) --weights w.pt", input_shape=(1, 8))
    assert ref.target.startswith("/") and ref.target.endswith("tests/user_models/net.py")
    assert ref.call == "make(depth=2, width=0.5)" and ref.inputs.shape == (1, 8) and ref.weights.endswith("/w.pt")
    assert parse_reference(ref.canonical) == ref
    assert ref.canonical.endswith(" --input-shape 1,8 --weights " + ref.weights)
    zoo = parse_reference("edgevit_xxs --input-shape 1,3,160,160")
    assert (zoo.target, zoo.inputs.shape, zoo.is_user) == ("edgevit_xxs", (1, 3, 160, 160), False)
    assert is_user_reference(ref.canonical) and not is_model_file(ref.canonical)
    assert is_model_file("a/b.onnx") and is_model_file("m.mlpackage") and not is_model_file("edgevit_xxs")
    with pytest.raises(BenchError, match="names --input-shape already"):
        parse_reference("edgevit_xxs --input-shape 1,3,8,8", input_shape=(1, 3, 16, 16))
    with pytest.raises(BenchError, match="given twice"):
        parse_reference("net.py:make(width=1)", factory_args=((), {"width": 2}))


def test_a_users_default_shape_is_left_out_of_the_canonical_reference() -> None:
    spec = resolve(f"{MODELS}/load_dataclass_config.py:make", USER_INPUT_SHAPE)
    assert spec.reference == f"{MODELS}/load_dataclass_config.py:make" and spec.input_shape == USER_INPUT_SHAPE


def test_a_cell_names_everything_a_resume_or_a_farm_needs(results: Path) -> None:
    ref = resolve(f"{MODELS}/load_factory_args.py:make(classes=4)", (1, 3, 12, 12)).reference
    workload, error = prepare_workload(Cell(ref, "onnx", "fp32", "onnxruntime", 1))
    assert error is None and workload.input_shape == (1, 3, 12, 12)
    artifact = json.loads((Path(workload.path).parent / "artifact.json").read_text())
    assert artifact["outputs"][0]["shape"] == [1, 4]
    gone, why = prepare_workload(Cell(f"{MODELS}/gone.py:make", "onnx", "fp32", "onnxruntime", 1))
    assert gone is None and "model file not found" in why  # a failed cell, not a crash of the run


@pytest.mark.slow
def test_bench_run_measures_a_user_factory_at_its_input_shape(bench_cli, results_dir: Path) -> None:
    result = bench_cli(
        "run", "-m", f"{MODELS}/load_factory_args.py:make(width=0.5)", "--input-shape", SHAPE, "--format", "onnx",
        *FAST_RUN, "--store", str(results_dir / "s.sqlite"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "ok" and row["median_ms"] > 0
    assert row["model"] == f"{MODELS}/load_factory_args.py:make(width=0.5) --input-shape {SHAPE}"


def test_bench_run_refuses_eager_pytorch_for_a_user_model(bench_here) -> None:
    assert_one_line_error(
        bench_here("run", "-m", f"{MODELS}/load_factory_args.py:make", "--format", "pytorch"), "format pytorch"
    )


# --- input shapes of any rank for a user's model (fault 9) -------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("factory", "shape", "output"), [("linear", "1,16", [1, 3]), ("signal", "1,2,32", [1, 4])])
def test_inputs_of_rank_2_and_3_export_for_a_users_model(bench_cli, factory: str, shape: str, output) -> None:
    (artifact,) = exported(
        bench_cli("export", f"{MODELS}/load_sequence.py:{factory}", "--input-shape", shape, "--json")
    )
    assert artifact["verified"] is True and artifact["inputs"][0]["shape"] == [int(d) for d in shape.split(",")]
    assert artifact["outputs"][0]["shape"] == output


@pytest.mark.slow
def test_a_zoo_model_keeps_the_rank_of_its_card(bench_here) -> None:
    assert_one_line_error(bench_here("export", "edgevit_xxs", "--input-shape", "1,16"), "rank 4")
    assert_one_line_error(bench_here("export", f"{MODELS}/load_sequence.py:linear", "--input-shape", "1,0"), "positive")


@pytest.mark.slow
def test_a_factory_or_file_that_calls_sys_exit_is_one_line_not_a_silent_exit(bench_here, tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text(
        "import sys\nimport torch.nn as nn\n\ndef boom():\n    sys.exit(3)\n\ndef fine():\n    return nn.Identity()\n"
    )
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit('configured for training only')\n")
    assert_one_line_error(bench_here("profile", f"{tmp_path}/exits.py:boom"), "the factory raised SystemExit: 3")
    assert_one_line_error(
        bench_here("export", f"{tmp_path}/exits_on_import.py:make"), "SystemExit: configured for training only"
    )
