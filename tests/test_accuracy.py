"""``bench accuracy`` on real labelled images (issue #18): scikit-learn's handwritten digits, two
small models trained on them here (tests/digits.py), exported and scored as a user would."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, share_zoo_artifacts
from digits import DIGITS_OPTIONS, MODELS_FILE, train_digits_models, write_digits_imagefolder

from bench.results.store import Store
from bench.runtimes.onnxruntime import int8_kernel_caveat


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, zoo_artifacts: Path) -> Path:
    """One results folder for this module's ``bench`` commands, so an export of the digits models is
    made once and served from its cache to every test that scores it (as a user's folder would);
    each test still keeps its own store (``--store``)."""
    return share_zoo_artifacts(tmp_path_factory.mktemp("accuracy-results"), zoo_artifacts)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("digits")
    paths = train_digits_models(write_digits_imagefolder(home / "all"), home / "models")
    return paths


def accuracy(bench, digits, factory: str, *args: str, weights: str = "convnet", data: Path | None = None):
    result = bench(
        "accuracy", f"{MODELS_FILE}:{factory}", "--weights", str(digits[weights]), "--data",
        str(data or digits["heldout"]), *DIGITS_OPTIONS, *args,
    )  # fmt: skip
    rows = json.loads(result.stdout) if result.stdout.strip().startswith("[") else []
    return result, {(r["format"], r["precision"]): r for r in rows}


def check_exports_keep_accuracy(bench_cli, digits, factory: str, store: Path) -> None:
    # --max-drop 2: the bound this issue sets for int8-static (on an AVX2 host onnxruntime's int8 kernels
    # cost the ConvNet 2.0 points: int8_kernel_caveat)
    result, rows = accuracy(
        bench_cli, digits, factory, "-f", "pytorch,onnx,tflite", "--precision", "fp32,fp16,int8-static",
        "--calibration", str(digits["train"]), "--store", str(store), "--json", "--max-drop", "2", weights=factory,
    )  # fmt: skip
    assert result.code == 0, {k: (v["top1"], v.get("drop_points"), v.get("error")) for k, v in rows.items()}
    reference = rows[("pytorch", "fp32")]
    # x86-64 without VNNI: onnxruntime's int8 kernels may saturate; said, with the file's score in float QDQ
    caveat = int8_kernel_caveat()
    in_float = [n for n in rows[("onnx", "int8-static")]["notes"] if "QDQ nodes run in float" in n]
    assert len(in_float) == (1 if caveat else 0) and all(n.startswith(caveat) for n in in_float)
    for note in in_float:
        score = float(re.search(r"this file scores ([\d.]+)% top-1", note).group(1))
        assert abs(score - 100 * reference["top1"]) <= 2.0, note
    assert reference["n_images"] == 602 and reference["top1"] >= 0.9 and reference["agreement"] == 1.0
    for fmt in ("onnx", "tflite"):
        fp32 = rows[(fmt, "fp32")]
        assert fp32["agreement"] >= 0.995 and abs(fp32["drop_points"]) <= 0.2, fp32
        assert abs(rows[(fmt, "int8-static")]["drop_points"]) <= 2.0, rows[(fmt, "int8-static")]
    assert abs(rows[("tflite", "fp16")]["drop_points"]) <= 0.5  # ONNX has no fp16 export: skipped with a note
    assert ("onnx", "fp16") not in rows and "skipped onnx fp16" in result.stderr
    stored = Store(str(store)).accuracy_rows()
    assert len(stored) == len(rows) and {r["dataset_fingerprint"] for r in stored} == {
        reference["dataset"]["fingerprint"]
    }
    assert all(r["artifact_sha256"] for r in stored if r["format"] != "pytorch")


@pytest.mark.slow
def test_exported_convnet_keeps_its_accuracy_in_fp32_fp16_and_int8_static(bench_cli, digits, tmp_path: Path) -> None:
    check_exports_keep_accuracy(bench_cli, digits, "convnet", tmp_path / "s.sqlite")


@pytest.mark.slow
def test_exported_vit_keeps_its_accuracy_in_fp32_fp16_and_int8_static(bench_cli, digits, tmp_path: Path) -> None:
    check_exports_keep_accuracy(bench_cli, digits, "vit", tmp_path / "s.sqlite")


@pytest.mark.slow
def test_an_outlier_activation_channel_collapses_under_int8_static_and_is_flagged(
    bench_cli, digits, tmp_path: Path
) -> None:
    result, rows = accuracy(
        bench_cli, digits, "convnet_outlier", "-f", "onnx", "--precision", "fp32,int8-static",
        "--calibration", str(digits["train"]), "--limit", "200", "--store", str(tmp_path / "s.sqlite"), "--json",
    )  # fmt: skip
    assert result.code == 1 and "1 accuracy collapse" in result.stderr
    collapsed = rows[("onnx", "int8-static")]
    assert collapsed["status"] == "accuracy collapse" and collapsed["collapsed"] and collapsed["drop_points"] > 10
    assert rows[("onnx", "fp32")]["status"] == "ok"
    (stored,) = [r for r in Store(str(tmp_path / "s.sqlite")).accuracy_rows() if r["precision"] == "int8-static"]
    assert stored["status"] == "accuracy collapse" and stored["collapsed"]
    table = bench_cli(
        "accuracy", f"{MODELS_FILE}:convnet_outlier", "--weights", str(digits["convnet"]), "--data",
        str(digits["heldout"]), *DIGITS_OPTIONS, "-f", "onnx", "--precision", "int8-static", "--calibration",
        str(digits["train"]), "--limit", "50", "--store", str(tmp_path / "s.sqlite"),
    )  # fmt: skip
    assert table.code == 1 and "accuracy collapse" in table.stdout
    store = str(tmp_path / "s.sqlite")  # the collapsed file measured, then the CI gate on its run
    run = bench_cli("run", "-m", collapsed["artifact_path"], "--min-runs", "5", "--min-time", "0.05", "--warmup", "1",
                    "--store", store, "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    assert [r["precision"] for r in json.loads(run.stdout)] == ["int8-static"]  # read from the file's operators
    run_id = Store(store).list_runs()[-1]["run_id"]
    gate = bench_cli("compare", "--baseline", run_id, "--candidate", run_id, "--store", store)
    assert gate.code == 1 and "REGRESSION:" in gate.stdout and "accuracy collapse (top-1" in gate.stdout


@pytest.mark.slow
def test_int8_input_and_output_tensors_for_npus_keep_the_accuracy(bench_cli, digits, tmp_path: Path) -> None:
    result, rows = accuracy(
        bench_cli, digits, "convnet", "-f", "tflite", "--precision", "int8-static", "--io", "int8",
        "--calibration", str(digits["train"]), "--limit", "200", "--store", str(tmp_path / "s.sqlite"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    row = rows[("tflite", "int8-static")]
    assert row["settings"]["io"] == "int8" and abs(row["drop_points"]) <= 2.0 and row["agreement"] >= 0.97
    from export.base import get_exporter

    inputs, outputs = get_exporter("tflite").io_signature(Path(row["artifact_path"]))
    assert inputs[0]["dtype"] == "int8" and outputs[0]["dtype"] == "int8"
    assert_one_line_error(bench_cli("accuracy", "x.py:f", "--data", str(tmp_path), "--io", "int4"), "--io int4")


@pytest.mark.slow
def test_without_a_calibration_folder_int8_static_sets_images_of_the_data_aside(
    bench_cli, digits, tmp_path: Path
) -> None:
    result, rows = accuracy(
        bench_cli, digits, "convnet", "-f", "onnx", "--precision", "int8-static", "--limit", "100", "--store",
        str(tmp_path / "s.sqlite"), "--json", "--max-drop", "100", data=digits["heldout"],  # not about accuracy
    )  # fmt: skip
    assert result.code == 0, result.stderr
    row = rows[("onnx", "int8-static")]
    assert row["n_images"] == 100 and "150 images of --data" in row["settings"]["calibration"]
    assert "452 images are scored" in result.stderr  # 602 less the 150 set aside; --limit then picks 100
    assert "set aside (not scored)" in result.stderr


@pytest.mark.slow
def test_corrupt_and_unreadable_images_are_skipped_and_counted(bench_cli, digits, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(digits["heldout"], data)
    victim = sorted((data / "3").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:40])  # a truncated PNG
    (data / "5" / "notes.png").write_text("not an image")
    (data / "7" / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a dangling link
    result, rows = accuracy(bench_cli, digits, "convnet", "-f", "onnx", "--json", "--store",
                            str(tmp_path / "s.sqlite"), data=data)  # fmt: skip
    assert result.code == 0, result.stderr
    row = rows[("onnx", "fp32")]
    assert row["skipped"] == 3 and row["n_images"] == 601
    (note,) = row["notes"]
    assert note.startswith("3 images could not be decoded") and "5/notes.png" in note and "7/gone.png" in note


@pytest.mark.slow
def test_bad_data_and_calibration_folders_are_one_line_errors(bench_here, digits, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(next((digits["heldout"] / "1").iterdir()), flat / "a.png")
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "readme.txt").write_text("no images here")
    three = tmp_path / "three"
    for label in ("0", "1", "2"):
        shutil.copytree(digits["heldout"] / label, three / label)
    store = ("--store", str(tmp_path / "s.sqlite"))
    cases = [
        (empty, (), "the folder is empty"),
        (flat, (), "no class sub-folders"),
        (three, (), "outputs 10 classes but --data"),
        (digits["heldout"], ("--precision", "int8-static", "--calibration", str(texts)), "--calibration"),
        (digits["heldout"], ("--batch", "0"), "--batch"),
        (digits["heldout"], ("-f", "onnx", "--precision", "fp64"), "fp64"),
    ]
    for data, extra, fragment in cases:
        result, _ = accuracy(bench_here, digits, "convnet", "-f", "onnx", *store, *extra, data=data)
        assert_one_line_error(result, fragment)
    assert not (tmp_path / "s.sqlite").exists() or Store(str(tmp_path / "s.sqlite")).accuracy_rows() == []


def test_export_of_int8_static_without_calibration_images_names_the_option(bench_here) -> None:
    result = bench_here("export", f"{ROOT}/tests/user_models/digits_models.py:convnet", "--precision", "int8-static")
    assert_one_line_error(result, "--calibration DIR")


@pytest.mark.slow
def test_bench_run_of_int8_static_says_how_to_measure_it(bench_here) -> None:
    result = bench_here("run", "-m", "mobilenetv2_100", "--precision", "int8-static")
    assert_one_line_error(result, "bench export MODEL --precision int8-static --calibration DIR --out OUT")


def test_calibration_is_keyed_by_image_content_and_batched_as_the_model_takes_it(digits, tmp_path: Path) -> None:
    from PIL import Image

    from bench.accuracy.preprocess import Preprocess
    from export.calibration import Calibration
    from export.reference import Inputs

    folder = tmp_path / "cal"
    folder.mkdir()
    sources = sorted((digits["train"] / "4").iterdir())[:9]
    for i, png in enumerate(sources):  # BMP: uncompressed, so other pixels keep the file's size
        Image.open(png).convert("RGB").save(folder / f"{i}.bmp")
    preprocess = Preprocess(size=32, crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)
    before = Calibration.from_folder(folder, preprocess).digest
    size = (folder / "0.bmp").stat().st_size
    Image.open(sources[5]).convert("RGB").save(folder / "0.bmp")  # same name, same size, other pixels
    assert (folder / "0.bmp").stat().st_size == size
    after = Calibration.from_folder(folder, preprocess)
    assert after.digest != before
    batched = after.samples(Inputs.of_shape((4, 3, 32, 32)))
    assert len(batched) == 2 and all(s[0].shape == (4, 3, 32, 32) for s in batched)  # 9 images: 2 batches
    assert after.samples(Inputs.of_shape((1, 3, 32, 32)))[0][0].shape == (1, 3, 32, 32)
    # a channels-last model gets the same images channels last
    last = after.samples(Inputs.of_shape((4, 32, 32, 3)))
    assert all(np.array_equal(a[0], b[0].transpose(0, 2, 3, 1)) for a, b in zip(last, batched, strict=True))


def _shipped(bench_cli, digits, factory: str, fmt: str, shape: str, folder: Path) -> Path:
    """A copy of the trained ConvNet exported by ``factory`` (as a user ships it, outside our cache)."""
    result = bench_cli("export", f"{MODELS_FILE}:{factory}", "--weights", str(digits["convnet"]),
                       "--input-shape", shape, "-f", fmt, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    shipped = folder / f"shipped-{factory}{Path(row['path']).suffix}"
    shutil.copy(row["path"], shipped)
    return shipped


def _with_input_type(source: Path, target: Path, elem_type: int) -> Path:
    """``source`` (a float-input ONNX file of the digits preprocessing) taking integer images that
    it normalises itself (pixel / 127.5 - 1), as graphs exported with their preprocessing do."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(source)
    graph = model.graph
    original = graph.input[0]
    dims = [d.dim_param or d.dim_value for d in original.type.tensor_type.shape.dim]
    graph.initializer.extend([numpy_helper.from_array(np.float32(v).reshape(()), n) for n, v in
                              (("half_range", 127.5), ("one", 1.0))])  # fmt: skip
    nodes = [
        helper.make_node("Cast", ["pixels"], ["pixels_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["pixels_f", "half_range"], ["pixels_d"]),
        helper.make_node("Sub", ["pixels_d", "one"], [original.name]),
    ]
    for n in reversed(nodes):
        graph.node.insert(0, n)
    graph.input.pop()
    graph.input.append(helper.make_tensor_value_info("pixels", elem_type, dims))
    onnx.save(model, target)
    return target


@pytest.mark.slow
def test_a_model_file_converted_elsewhere_is_scored_as_it_is_with_its_layout_batch_and_reference(
    bench_cli, bench_here, digits, tmp_path: Path
) -> None:
    import onnx

    options = [*DIGITS_OPTIONS[2:], "--limit", "300"]  # the preprocessing (the size comes from the file)
    store = str(tmp_path / "s.sqlite")
    # a channels-last TFLite file (as TensorFlow exports images), scored against its fp32 PyTorch model
    nhwc = _shipped(bench_cli, digits, "convnet_nhwc", "tflite", "1,32,32,3", tmp_path)
    result = bench_cli("accuracy", str(nhwc), "--data", str(digits["heldout"]), "--reference",
                       f"{MODELS_FILE}:convnet", "--weights", str(digits["convnet"]), *options, "--store", store,
                       "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    rows = {r["format"]: r for r in json.loads(result.stdout)}
    shipped = rows["tflite"]
    assert shipped["model"] == str(nhwc.resolve()) and shipped["precision"] == "fp32"
    assert shipped["settings"]["layout"] == "NHWC" and shipped["n_images"] == rows["pytorch"]["n_images"] == 300
    assert shipped["agreement"] >= 0.995 and abs(shipped["drop_points"]) <= 0.2 and shipped["top1"] >= 0.9
    # an ONNX file with a dynamic batch, no reference: scored, nothing judged
    plain = _shipped(bench_cli, digits, "convnet", "onnx", "1,3,32,32", tmp_path)
    graph = onnx.load(plain)
    for value in (*graph.graph.input, *graph.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(graph, plain)
    result = bench_cli("accuracy", str(plain), "--data", str(digits["heldout"]), "--batch", "4", *options,
                       "--store", store, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["settings"]["batch"] == 4 and row["settings"]["layout"] == "NCHW"
    assert abs(row["top1"] - shipped["top1"]) <= 0.002 and row["drop_points"] is None and not row["collapsed"]
    assert "no --reference" in result.stderr
    # each file measured by bench run (the dynamic batch run at 1) carries the top-1 measured on it
    run = bench_cli("run", "-m", str(nhwc), "-m", str(plain), "--min-runs", "3", "--min-time", "0.05", "--warmup",
                    "1", "--store", store, "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    measured = {r["format"]: r for r in json.loads(run.stdout)}
    for fmt, scored in (("tflite", shipped), ("onnx", row)):
        assert measured[fmt]["top1"] == pytest.approx(100 * scored["top1"]), measured[fmt]
        assert measured[fmt]["top1_source"].startswith("measured")
    # a uint8 input that normalises itself is fed the 0..255 pixels
    pixels = _with_input_type(plain, tmp_path / "pixels.onnx", onnx.TensorProto.UINT8)
    result = bench_cli("accuracy", str(pixels), "--data", str(digits["heldout"]), "--reference",
                       f"{MODELS_FILE}:convnet", "--weights", str(digits["convnet"]), *options, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (fed,) = [r for r in json.loads(result.stdout) if r["format"] == "onnx"]
    assert fed["settings"]["input"] == "uint8 pixels 0..255" and fed["agreement"] >= 0.995, fed
    data = ["--data", str(digits["heldout"]), *options]
    int64 = _with_input_type(plain, tmp_path / "int64.onnx", onnx.TensorProto.INT64)
    turned = onnx.load(plain)  # logits (classes, N): the batch is not first
    (out,) = turned.graph.output
    turned.graph.node.append(onnx.helper.make_node("Transpose", [out.name], ["turned"], perm=[1, 0]))
    turned.graph.output.pop()
    turned.graph.output.append(onnx.helper.make_tensor_value_info("turned", onnx.TensorProto.FLOAT, [10, "batch"]))
    onnx.save(turned, tmp_path / "turned.onnx")
    for args, fragment in (
        ([str(int64)], "takes int64 images"),
        ([str(tmp_path / "turned.onnx")], "turned has shape 10,"),
        ([str(nhwc), "--batch", "8"], "has a fixed batch of 1"),
        ([str(nhwc), "--weights", str(digits["convnet"])], "--weights apply to --reference"),
        ([str(plain), "-f", "onnx"], "--format would choose what to export"),
        ([str(plain), f"{MODELS_FILE}:convnet"], "not both in one call"),
        ([str(plain), "--reference", "mobilenetv2_100"], "--reference mobilenetv2_100 takes 1,3,224,224"),
        ([str(tmp_path / "nope.onnx")], "model file not found"),
        ([str(shutil.copy(nhwc, tmp_path / "renamed.onnx"))], "contradicts its name"),
        ([f"{MODELS_FILE}:convnet", "--reference", "vit"], "--reference is for model files"),
    ):
        assert_one_line_error(bench_here("accuracy", *args, *data), fragment)


@pytest.mark.slow
def test_a_channels_last_model_is_fed_channels_last_and_scores_as_its_channels_first_twin(
    bench_cli, digits, tmp_path: Path
) -> None:
    store = str(tmp_path / "s.sqlite")
    limit = ["--limit", "300", "--store", store, "--json"]
    nhwc_options = ["--input-shape", "1,32,32,3", *DIGITS_OPTIONS[2:]]  # the digits preprocessing, channels last
    twin, twin_rows = accuracy(bench_cli, digits, "convnet", "-f", "pytorch", *limit)
    assert twin.code == 0, twin.stderr
    expected = twin_rows[("pytorch", "fp32")]
    # the PyTorch model, its exports (their inputs channels last too) and int8-static calibrated channels last
    result = bench_cli("accuracy", f"{MODELS_FILE}:convnet_nhwc", "--weights", str(digits["convnet"]), "--data",
                       str(digits["heldout"]), *nhwc_options, "-f", "pytorch,onnx,tflite", "--precision",
                       "fp32,int8-static", "--calibration", str(digits["train"]), "--max-drop", "2",
                       *limit)  # fmt: skip
    rows = {(r["format"], r["precision"]): r for r in json.loads(result.stdout or "[]")}
    assert result.code == 0, result.stderr
    reference = rows[("pytorch", "fp32")]
    assert reference["top1"] == expected["top1"] and reference["n_images"] == expected["n_images"] == 300
    for fmt in ("onnx", "tflite"):
        assert rows[(fmt, "fp32")]["agreement"] >= 0.995 and abs(rows[(fmt, "fp32")]["drop_points"]) <= 0.2
        assert abs(rows[(fmt, "int8-static")]["drop_points"]) <= 2.0, rows[(fmt, "int8-static")]
    # a channels-last file converted elsewhere, judged against the channels-last model it came from
    shipped = _shipped(bench_cli, digits, "convnet_nhwc", "tflite", "1,32,32,3", tmp_path)
    result = bench_cli("accuracy", str(shipped), "--data", str(digits["heldout"]), "--reference",
                       f"{MODELS_FILE}:convnet_nhwc", "--weights", str(digits["convnet"]), *nhwc_options,
                       *limit)  # fmt: skip
    assert result.code == 0, result.stderr
    rows = {r["format"]: r for r in json.loads(result.stdout)}
    assert rows["pytorch"]["top1"] == expected["top1"] and rows["tflite"]["settings"]["layout"] == "NHWC"
    assert rows["tflite"]["agreement"] >= 0.995 and abs(rows["tflite"]["drop_points"]) <= 0.2
