"""Labelled image folders, the model's preprocessing, the accuracy metrics, and the digits models."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from digits import DIGITS_PREPROCESS, MODELS_FILE, train_digits_models, write_digits_imagefolder
from PIL import Image
from scipy import special

from bench.accuracy import (
    AccuracyResult,
    Preprocess,
    accuracy,
    batches,
    check_class_count,
    decode,
    load_dataset,
    load_images_only,
    split_calibration,
)
from bench.errors import BenchError


def _png(path: Path, value: int = 0, size: tuple[int, int] = (6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def _imagefolder(root: Path, per_class: dict[str, int]) -> Path:
    for name, count in per_class.items():
        for i in range(count):
            _png(root / name / f"{i}.png", value=i)
    return root


def _one_line_error(excinfo: pytest.ExceptionInfo, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- layouts ---------------------------------------------------------------------------------------------


def test_imagefolder_labels_are_sorted_class_folder_indices(tmp_path: Path):
    root = _imagefolder(tmp_path / "data", {"cat": 2, "ant": 1, "bee": 3})
    _png(root / "bee" / "nested" / "deep.JPG")  # recursive, extension in any case
    (root / "cat" / "notes.txt").write_text("not an image")
    _imagefolder(root / ".ipynb_checkpoints", {"x": 1})  # hidden: not a class
    ds = load_dataset(root)
    assert ds.layout == "imagefolder"
    assert ds.classes == ("ant", "bee", "cat")
    by_file = {ds.relative(f): label for f, label in zip(ds.files, ds.labels, strict=True)}
    assert by_file == {
        "ant/0.png": 0,
        "bee/0.png": 1,
        "bee/1.png": 1,
        "bee/2.png": 1,
        "bee/nested/deep.JPG": 1,
        "cat/0.png": 2,
        "cat/1.png": 2,
    }
    assert (ds.n_images, ds.n_classes, ds.class_counts) == (7, 3, (1, 4, 2))


def test_labels_csv_with_class_indices(tmp_path: Path):
    root = tmp_path / "data"
    for name in ("a.png", "b.png", "sub/c.png"):
        _png(root / name)
    (root / "labels.csv").write_text("file,label\na.png,3\nsub/c.png,0\n\nb.png,7\n")
    ds = load_dataset(root)
    assert ds.layout == "labels.csv"
    assert [(ds.relative(f), label) for f, label in zip(ds.files, ds.labels, strict=True)] == [
        ("a.png", 3),
        ("sub/c.png", 0),
        ("b.png", 7),
    ]
    assert ds.n_classes == 8 and not ds.class_count_exact


def test_labels_csv_with_class_names_sorts_them_like_imagefolder(tmp_path: Path):
    root = tmp_path / "data"
    for name in ("a.png", "b.png", "c.png"):
        _png(root / name)
    (root / "labels.csv").write_text("\ufefffile,label\na.png,zebra\nb.png,ant\nc.png,zebra\n")  # with a BOM
    ds = load_dataset(root)
    assert ds.classes == ("ant", "zebra")
    assert ds.labels == (1, 0, 1)
    assert ds.class_count_exact


def test_a_label_map_orders_the_class_names_of_a_labels_csv_and_of_class_folders(tmp_path: Path):
    order = tmp_path / "classes.txt"
    order.write_text("zero\none\ntwo\nthree\n")  # the order the model was trained in, not the sorted one
    root = tmp_path / "data"
    for name in ("a.png", "b.png", "c.png"):
        _png(root / name)
    (root / "labels.csv").write_text("file,label\na.png,two\nb.png,zero\nc.png,three\n")
    ds = load_dataset(root, labels=order)
    assert ds.layout == "labels.csv" and ds.classes == ("zero", "one", "two", "three") and ds.labels == (2, 0, 3)
    folders = load_dataset(_imagefolder(tmp_path / "folders", {"two": 1, "one": 1}), labels=order)
    assert sorted(zip((folders.relative(f) for f in folders.files), folders.labels, strict=True)) == [
        ("one/0.png", 1),
        ("two/0.png", 2),
    ]
    (root / "labels.csv").write_text("file,label\na.png,two\nb.png,seven\n")
    with pytest.raises(BenchError) as excinfo:
        load_dataset(root, labels=order)
    _one_line_error(excinfo, "row 3", "'seven'", "not in --labels")
    (root / "labels.csv").write_text("file,label\na.png,2\n")
    with pytest.raises(BenchError) as excinfo:
        load_dataset(root, labels=order)
    _one_line_error(excinfo, "class index", "--labels")


def _label_map(path: Path) -> Path:
    path.write_text(
        "n01440764 tench, Tinca tinca\n"
        "n01443537 goldfish, Carassius auratus\n"
        "n01484850 great white shark\n"
        "n01491361 tiger shark, Galeocerdo cuvieri\n"
        "n01494475\n"
    )
    return path


def test_synset_subset_keeps_the_label_maps_indices(tmp_path: Path):
    root = _imagefolder(tmp_path / "val", {"n01494475": 2, "n01443537": 1})
    ds = load_dataset(root, labels=_label_map(tmp_path / "LOC_synset_mapping.txt"))
    assert ds.layout == "synsets"
    assert ds.n_classes == 5  # the map's length, not the 2 folders present
    assert sorted(zip((ds.relative(f) for f in ds.files), ds.labels, strict=True)) == [
        ("n01443537/0.png", 1),
        ("n01494475/0.png", 4),
        ("n01494475/1.png", 4),
    ]


def test_synset_subset_without_a_label_map_is_refused(tmp_path: Path):
    root = _imagefolder(tmp_path / "val", {"n01494475": 1, "n01443537": 1})
    with pytest.raises(BenchError) as excinfo:
        load_dataset(root)
    _one_line_error(excinfo, str(root), "--labels", "2 ImageNet synset folders")


def test_images_only_finds_every_image_recursively_without_labels(tmp_path: Path):
    root = tmp_path / "calib"
    _png(root / "a.png")
    _png(root / "x" / "y" / "b.jpeg")
    (root / "readme.md").write_text("hi")
    ds = load_images_only(root)
    assert ds.layout == "images"
    assert sorted(ds.relative(f) for f in ds.files) == ["a.png", "x/y/b.jpeg"]
    assert ds.labels == (-1, -1) and ds.n_classes == 0


# --- fingerprint -------------------------------------------------------------------------------------------


def test_fingerprint_is_the_same_for_the_same_files_and_labels_anywhere(tmp_path: Path):
    root = _imagefolder(tmp_path / "a" / "data", {"cat": 2, "dog": 2})
    copy = shutil.copytree(root, tmp_path / "b" / "elsewhere")
    first = load_dataset(root).fingerprint
    assert len(first) == 64 and int(first, 16) >= 0
    assert load_dataset(root).fingerprint == first
    assert load_dataset(copy).fingerprint == first
    (root / "cat" / "notes.txt").write_text("not an image, not in the data set")
    assert load_dataset(root).fingerprint == first


@pytest.mark.parametrize("change", ["add a file", "grow a file", "rename a file", "move to another class"])
def test_fingerprint_changes_when_a_file_or_a_label_changes(tmp_path: Path, change: str):
    root = _imagefolder(tmp_path / "data", {"cat": 2, "dog": 2})
    before = load_dataset(root).fingerprint
    if change == "add a file":
        _png(root / "dog" / "9.png")
    elif change == "grow a file":
        _png(root / "dog" / "1.png", size=(7, 4))
    elif change == "rename a file":
        (root / "dog" / "1.png").rename(root / "dog" / "5.png")
    else:
        (root / "dog" / "1.png").rename(root / "cat" / "1b.png")
    assert load_dataset(root).fingerprint != before


def test_fingerprint_changes_when_a_csv_label_changes(tmp_path: Path):
    root = tmp_path / "data"
    _png(root / "a.png")
    _png(root / "b.png")
    (root / "labels.csv").write_text("file,label\na.png,0\nb.png,1\n")
    before = load_dataset(root).fingerprint
    (root / "labels.csv").write_text("file,label\nb.png,1\na.png,0\n")  # same rows, other order
    assert load_dataset(root).fingerprint == before
    (root / "labels.csv").write_text("file,label\na.png,1\nb.png,1\n")
    assert load_dataset(root).fingerprint != before


# --- errors: one line naming the path ------------------------------------------------------------------------


def _error_cases(tmp: Path) -> dict[str, tuple]:
    """name -> (callable, fragments the one-line message must contain)."""
    empty = tmp / "empty"
    empty.mkdir()
    flat = tmp / "flat"
    _png(flat / "a.png")
    no_images = tmp / "no-images"
    (no_images / "cat").mkdir(parents=True)
    (no_images / "cat" / "a.txt").write_text("x")
    missing_file = tmp / "missing-file"
    _png(missing_file / "a.png")
    (missing_file / "labels.csv").write_text("file,label\na.png,0\ngone.png,1\n")
    negative = tmp / "negative"
    _png(negative / "a.png")
    (negative / "labels.csv").write_text("file,label\na.png,-1\n")
    mixed = tmp / "mixed"
    _png(mixed / "a.png")
    _png(mixed / "b.png")
    (mixed / "labels.csv").write_text("file,label\na.png,cat\nb.png,1\n")
    header = tmp / "header"
    _png(header / "a.png")
    (header / "labels.csv").write_text("path,class\na.png,1\n")
    synsets = _imagefolder(tmp / "synsets", {"n01440764": 1, "n09999999": 1})
    label_map = _label_map(tmp / "map.txt")
    no_calibration = tmp / "no-calibration"
    (no_calibration / "sub").mkdir(parents=True)
    (no_calibration / "sub" / "a.txt").write_text("x")
    return {
        "missing folder": (lambda: load_dataset(tmp / "nope"), (str(tmp / "nope"), "--data", "no such folder")),
        "empty folder": (lambda: load_dataset(empty), (str(empty), "empty")),
        "no class sub-folders": (lambda: load_dataset(flat), (str(flat), "no class sub-folders", "labels.csv")),
        "no images in the classes": (lambda: load_dataset(no_images), (str(no_images), "no images")),
        "csv row names a missing file": (
            lambda: load_dataset(missing_file),
            (str(missing_file / "labels.csv"), "row 3", "gone.png"),
        ),
        "csv negative label": (lambda: load_dataset(negative), (str(negative / "labels.csv"), "row 2", "'-1'")),
        "csv mixed labels": (lambda: load_dataset(mixed), (str(mixed / "labels.csv"), "row 3", "'1'")),
        "csv header": (lambda: load_dataset(header), (str(header / "labels.csv"), "file,label")),
        "synset not in the map": (
            lambda: load_dataset(synsets, labels=label_map),
            (str(label_map), "n09999999", str(synsets)),
        ),
        "label map missing": (lambda: load_dataset(synsets, labels=tmp / "none.txt"), (str(tmp / "none.txt"),)),
        "calibration without images": (
            lambda: load_images_only(no_calibration),
            ("--calibration", str(no_calibration), "no images"),
        ),
    }


ERROR_CASES = [
    "missing folder",
    "empty folder",
    "no class sub-folders",
    "no images in the classes",
    "csv row names a missing file",
    "csv negative label",
    "csv mixed labels",
    "csv header",
    "synset not in the map",
    "label map missing",
    "calibration without images",
]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_unusable_data_is_one_error_line_naming_the_path(tmp_path: Path, case: str):
    cases = _error_cases(tmp_path)
    assert sorted(cases) == sorted(ERROR_CASES)
    call, fragments = cases[case]
    with pytest.raises(BenchError) as excinfo:
        call()
    _one_line_error(excinfo, *fragments)


# --- calibration split ------------------------------------------------------------------------------------


def test_calibration_split_is_disjoint_deterministic_and_spread_over_classes(tmp_path: Path):
    ds = load_dataset(_imagefolder(tmp_path / "data", {str(c): 10 for c in range(5)}))
    calibration, evaluation = split_calibration(ds, count=15, seed=0)
    assert len(calibration) == 15 and len(evaluation) == 35
    assert not set(calibration.files) & set(evaluation.files)
    assert set(calibration.files) | set(evaluation.files) == set(ds.files)
    assert calibration.class_counts == (3, 3, 3, 3, 3)
    again, _ = split_calibration(ds, count=15, seed=0)
    assert again == calibration
    assert split_calibration(ds, count=15, seed=1)[0].files != calibration.files
    for part in (calibration, evaluation):
        assert all(ds.labels[ds.files.index(f)] == label for f, label in zip(part.files, part.labels, strict=True))


def test_calibration_split_that_leaves_nothing_to_evaluate_is_refused(tmp_path: Path):
    ds = load_dataset(_imagefolder(tmp_path / "data", {"a": 2, "b": 2}))
    with pytest.raises(BenchError) as excinfo:
        split_calibration(ds, count=4)
    _one_line_error(excinfo, str(ds.root), "--calibration")


# --- decoding and preprocessing -----------------------------------------------------------------------------


def _with_corrupt_images(root: Path) -> Path:
    _imagefolder(root, {"a": 3, "b": 3})
    _noise(64, 64).save(root / "a" / "1.png")
    whole = (root / "a" / "1.png").read_bytes()
    (root / "a" / "1.png").write_bytes(whole[: len(whole) * 2 // 3])  # a PNG cut inside its pixel data
    (root / "b" / "0.png").write_text("this is a text file named .png\n")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_images_are_skipped_and_counted(tmp_path: Path, workers: int):
    ds = load_dataset(_with_corrupt_images(tmp_path / "data"))
    stream = batches(ds, Preprocess(size=4, crop_pct=1.0), batch=2, workers=workers)
    got = list(stream)
    assert [len(b) for b in got] == [2, 2]
    decoded = [ds.relative(ds.files[i]) for b in got for i in b.indices]
    assert decoded == ["a/0.png", "a/2.png", "b/1.png", "b/2.png"]
    assert [label for b in got for label in b.labels] == [0, 0, 1, 1]
    assert [ds.relative(f) for f, _ in stream.skipped] == ["a/1.png", "b/0.png"]
    assert "truncated" in stream.skipped[0][1] and "UnidentifiedImageError" in stream.skipped[1][1]
    assert stream.decoded == 4
    assert all(b.images.shape == (len(b), 3, 4, 4) and b.images.dtype == np.float32 for b in got)


def test_decode_gives_none_and_a_reason_for_an_unreadable_file(tmp_path: Path):
    skipped: list = []
    assert decode(tmp_path / "missing.png", skipped=skipped) is None
    assert skipped[0][0] == tmp_path / "missing.png" and "FileNotFoundError" in skipped[0][1]
    pixels = decode(_png(tmp_path / "ok.png", value=7))
    assert pixels.shape == (4, 6, 3) and pixels.dtype == np.uint8 and (pixels == 7).all()


def test_batches_decode_ahead_in_order_and_stop_when_closed(tmp_path: Path):
    ds = load_dataset(_imagefolder(tmp_path / "data", {"a": 7, "b": 6}))
    got = list(batches(ds, Preprocess(size=2, crop_pct=1.0), batch=4, workers=3, prefetch=1))
    assert [len(b) for b in got] == [4, 4, 4, 1]
    assert np.concatenate([b.indices for b in got]).tolist() == list(range(13))
    stream = batches(ds, Preprocess(size=2, crop_pct=1.0), batch=4, workers=2)
    next(stream)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)


def test_preprocess_crops_the_centre_and_normalises_by_hand():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)  # H=4, W=6
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    # crop_pct 1.0: the shorter side is already 4, so no resize; the centre 4x4 starts at column 1.
    got = Preprocess(size=4, crop_pct=1.0, interpolation="bilinear", mean=mean, std=std)(Image.fromarray(pixels))
    expected = (pixels[:, 1:5, :] / 255.0 - np.array(mean)) / np.array(std)
    assert got.shape == (3, 4, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected.transpose(2, 0, 1), rtol=1e-6, atol=1e-6)


def test_preprocess_resizes_the_shorter_side_to_size_over_crop_pct():
    pixels = np.arange(8 * 8, dtype=np.uint8).reshape(8, 8)
    prep = Preprocess(size=3, crop_pct=0.75, interpolation="nearest", mean=(0, 0, 0), std=(1, 1, 1))
    assert prep.scale_size == 4  # floor(3 / 0.75)
    got = prep(Image.fromarray(pixels))  # grayscale: converted to RGB
    # Nearest 8 -> 4 samples pixel centres 1, 3, 5, 7; the 3x3 centre crop of 4 starts at round(0.5) = 0.
    expected = pixels[1::2, 1::2][0:3, 0:3] / 255.0
    for channel in got:
        np.testing.assert_allclose(channel, expected, atol=1e-7)


def _noise(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(width * 1000 + height)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def mobilenet_cfg() -> dict:
    timm = pytest.importorskip("timm")
    from timm.data import resolve_data_config

    return resolve_data_config({}, model=timm.create_model("mobilenetv3_small_050", pretrained=False))


@pytest.mark.parametrize("image_size", [(300, 257), (180, 260), (224, 224)])
def test_preprocess_matches_timms_own_transform(mobilenet_cfg: dict, image_size: tuple[int, int]):
    import timm.data

    image = _noise(*image_size)
    expected = timm.data.create_transform(**mobilenet_cfg)(image).numpy()
    got = Preprocess.from_timm(mobilenet_cfg)(image)
    assert got.shape == expected.shape == (3, 224, 224)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [
        {"input_size": (3, 64, 64), "crop_pct": 1.15, "interpolation": "bicubic"},  # VOLO: padded crop
        {"input_size": (3, 48, 48), "crop_pct": 0.9, "interpolation": "bilinear", "crop_mode": "squash"},
        {"input_size": (3, 40, 40), "crop_pct": 0.95, "interpolation": "nearest", "mean": (0.5,) * 3},
    ],
)
def test_preprocess_matches_timm_for_other_crops_and_filters(settings: dict):
    timm_data = pytest.importorskip("timm.data")
    cfg = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "crop_mode": "center", **settings}
    image = _noise(70, 53)
    expected = timm_data.create_transform(**cfg)(image).numpy()
    np.testing.assert_allclose(Preprocess.from_timm(cfg)(image), expected, rtol=0, atol=1e-6)


def test_preprocess_reads_timms_pretrained_config(mobilenet_cfg: dict):
    prep = Preprocess.from_timm(mobilenet_cfg)
    assert (prep.size, prep.crop_pct, prep.interpolation, prep.scale_size) == (224, 0.875, "bicubic", 256)
    assert prep.mean == (0.485, 0.456, 0.406) and prep.std == (0.229, 0.224, 0.225)


@pytest.mark.parametrize(
    "settings, option",
    [
        ({"crop_pct": 0.0}, "--crop-pct"),
        ({"interpolation": "lanczos"}, "--interpolation"),
        ({"mean": (0.5, 0.5)}, "--mean"),
        ({"std": (0.5, 0.0, 0.5)}, "--std"),
    ],
)
def test_bad_preprocessing_options_are_one_line_naming_the_option(settings: dict, option: str):
    with pytest.raises(BenchError) as excinfo:
        Preprocess(size=32, **settings)
    _one_line_error(excinfo, option)


# --- metrics -------------------------------------------------------------------------------------------------

LOGITS = np.array(
    [
        [9.0, 1, 2, 3, 4, 5, 0],  # label 0: top-1
        [0.0, 9, 8, 7, 6, 5, 4],  # label 6: 7th, outside the top-5
        [0.0, 1, 2, 3, 4, 5, 6],  # label 2: 5th, top-5 only
        [5.0, 0, 0, 0, 0, 0, 9],  # label 6: top-1
    ]
)
LABELS = np.array([0, 6, 2, 6])


def test_top1_and_top5_match_a_hand_count():
    result = accuracy(LOGITS, LABELS, n_classes=7)
    assert (result.n_images, result.n_classes, result.top1_correct, result.top5_correct) == (4, 7, 2, 3)
    assert (result.top1, result.top5) == (0.5, 0.75)
    assert (result.top1_points, result.top5_points) == (50.0, 75.0)
    assert result.agreement is None and result.mean_kl is None


def test_wilson_interval_of_81_in_100():
    logits = np.zeros((100, 2))
    labels = np.zeros(100, dtype=int)
    logits[:81, 0] = 1.0  # 81 right
    logits[81:, 1] = 1.0
    low, high = accuracy(logits, labels, n_classes=2).top1_ci
    z = 1.959963984540054  # the normal 97.5% quantile
    centre = (0.81 + z * z / 200) / (1 + z * z / 100)
    half = z / (1 + z * z / 100) * math.sqrt(0.81 * 0.19 / 100 + z * z / 40000)
    assert low == pytest.approx(centre - half, abs=1e-12) and high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.7222, 0.8749)


def test_agreement_and_kl_against_a_reference():
    candidate = LOGITS.copy()
    candidate[1] = [0.0, 8, 9, 7, 6, 5, 4]  # argmax moves from 1 to 2 on one image of four
    result = accuracy(candidate, LABELS, n_classes=7, reference=LOGITS)
    assert result.agreement == 0.75
    p, q = special.softmax(LOGITS, axis=1), special.softmax(candidate, axis=1)
    assert result.mean_kl == pytest.approx(special.rel_entr(p, q).sum(axis=1).mean(), rel=1e-12)
    assert result.mean_kl > 0
    assert accuracy(LOGITS, LABELS, n_classes=7, reference=LOGITS).mean_kl == pytest.approx(0.0, abs=1e-15)


def test_kl_stays_finite_for_a_collapsed_candidate():
    collapsed = np.zeros_like(LOGITS)
    collapsed[:, 3] = 5000.0  # every other class underflows to probability 0 in float64
    result = accuracy(collapsed, LABELS, n_classes=7, reference=LOGITS)
    assert math.isfinite(result.mean_kl) and result.mean_kl > 100


def test_result_round_trips_through_a_dict():
    result = accuracy(LOGITS, LABELS, n_classes=7, reference=LOGITS[::-1].copy())
    row = result.to_dict()
    assert row["top1"] == 0.5 and row["top1_points"] == 50.0 and row["top1_ci_low"] == result.top1_ci[0]
    assert AccuracyResult.from_dict(row) == result


def test_class_count_mismatch_names_both_numbers(tmp_path: Path):
    ds = load_dataset(_imagefolder(tmp_path / "data", {"a": 1, "b": 1, "c": 1}))
    with pytest.raises(BenchError) as excinfo:
        accuracy(np.zeros((3, 10)), np.array([0, 1, 2]), ds)
    _one_line_error(excinfo, "10", "3", str(ds.root))


def test_class_count_of_a_synset_subset_is_the_label_maps_length(tmp_path: Path):
    root = _imagefolder(tmp_path / "val", {"n01440764": 1, "n01484850": 1})
    ds = load_dataset(root, labels=_label_map(tmp_path / "map.txt"))
    check_class_count(5, ds)
    with pytest.raises(BenchError) as excinfo:
        check_class_count(2, ds)
    _one_line_error(excinfo, "2", "5")
    assert accuracy(np.eye(5)[[0, 2]], np.array(ds.labels), ds).top1 == 1.0


def test_class_count_of_csv_indices_is_a_lower_bound(tmp_path: Path):
    root = tmp_path / "data"
    _png(root / "a.png")
    (root / "labels.csv").write_text("file,label\na.png,4\n")
    ds = load_dataset(root)
    check_class_count(1000, ds)  # a 1000-way model scored on a few classes
    with pytest.raises(BenchError) as excinfo:
        check_class_count(4, ds)
    _one_line_error(excinfo, "4", str(root))


# --- the digits: real labelled images and two trained models -------------------------------------------------


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    root = write_digits_imagefolder(tmp_path_factory.mktemp("digits") / "all")
    return {"all": root, **train_digits_models(root, tmp_path_factory.mktemp("digits-models"))}


@pytest.mark.slow
def test_digits_are_an_imagefolder_of_1797_labelled_images(digits: dict[str, Path]):
    ds = load_dataset(digits["all"])
    assert ds.n_images == 1797 and ds.classes == tuple(str(i) for i in range(10))
    assert min(ds.class_counts) >= 174
    with Image.open(ds.files[0]) as image:
        assert image.mode == "RGB" and image.size == (32, 32)
    held_out, train = load_dataset(digits["heldout"]), load_dataset(digits["train"])
    assert (held_out.n_images, train.n_images) == (602, 1195)
    assert not {held_out.relative(f) for f in held_out.files} & {train.relative(f) for f in train.files}


@pytest.mark.parametrize("factory", ["convnet", "vit"])
def test_digits_models_reach_90_percent_on_held_out_images(digits: dict[str, Path], factory: str):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("digits_models_under_test", MODELS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, factory)().eval()
    model.load_state_dict(torch.load(digits[factory], map_location="cpu", weights_only=True))
    ds = load_dataset(digits["heldout"])
    logits, labels = [], []
    with torch.no_grad():
        for batch in batches(ds, DIGITS_PREPROCESS, batch=64, workers=2):
            logits.append(model(torch.from_numpy(batch.images)).numpy())
            labels.append(batch.labels)
    result = accuracy(np.concatenate(logits), np.concatenate(labels), ds)
    assert result.n_images == 602 and result.n_classes == 10
    assert result.top1 >= 0.90, result
    assert result.top1_ci[0] > 0.85
