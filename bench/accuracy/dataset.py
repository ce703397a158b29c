"""Labelled image folders: which files, which label each has, and a fingerprint of both.

Three layouts are read (:func:`load_dataset`), all of them with image files left as they are on
disk (decoding is :mod:`bench.accuracy.preprocess`'s job):

``imagefolder``
    ``DIR/<class>/**/<image>``: one sub-folder per class, the sorted class names are the label
    indices, exactly as ``torchvision.datasets.ImageFolder`` (``find_classes`` sorts the folder
    names; files are found recursively, by extension, case-insensitively, with torchvision's
    ``IMG_EXTENSIONS``). Unlike torchvision, hidden folders (``.ipynb_checkpoints``) are not
    classes, and a class folder without images keeps its index (it is counted with 0 images).
``labels.csv``
    ``DIR/<image>`` plus ``DIR/labels.csv`` with the header ``file,label``: ``file`` is a path
    relative to ``DIR``; ``label`` is either a class index (an integer from 0) in every row, or a
    class name in every row (the sorted names are then the indices, as in an ImageFolder, unless a
    label map gives their order). Files of ``DIR`` that the CSV does not name are not part of the
    data set.
``synsets``
    ``DIR/<synset>/**/<image>`` (ImageNet-style ``n01440764`` folders, or any class folders) plus a
    label map file, ``--labels MAP``: one class name per line in class-index order, optionally
    followed by whitespace and a description, as ``LOC_synset_mapping.txt`` of the ImageNet (ILSVRC
    2012) Kaggle release. A subset of the 1000 folders keeps the 1000-way indices, and the class
    count is the map's length.

A label map also orders the class names of a ``labels.csv`` (the order the model was trained
with, when it is not the sorted one).

``images`` is a fourth, unlabelled kind (:func:`load_images_only`): a calibration folder.

A data set is identified by :attr:`LabelledImages.fingerprint` (file list, sizes and labels), which
is stored with every accuracy result and, for calibration folders, is part of an int8 artifact's
cache key. Errors the user can fix raise :class:`bench.errors.BenchError` with one line that names
the path and the option.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.errors import BenchError

# torchvision.datasets.folder.IMG_EXTENSIONS (torchvision 0.29.1), matched case-insensitively.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LABELS_CSV = "labels.csv"
LAYOUTS = ("imagefolder", "labels.csv", "synsets", "images")
IMAGENET_CLASSES = 1000
_SYNSET = re.compile(r"n\d{8}")
_SHOW = 3  # names listed in an error before "..."
_EXTENSIONS = ", ".join(IMG_EXTENSIONS)


@dataclass(frozen=True)
class LabelledImages:
    """Image files with their class indices, as a value: equal contents compare equal.

    ``files[i]`` (an absolute path) has label ``labels[i]`` (an index into ``classes``; ``-1`` for
    the unlabelled ``images`` layout) and was ``sizes[i]`` bytes long when the folder was read.
    ``classes`` are the class names in index order (folder names, CSV names, or the label map's
    synsets; ``"0"``, ``"1"``, ... when a labels.csv gives bare indices). ``root`` is the folder the
    paths are relative to in the fingerprint; ``layout`` is one of :data:`LAYOUTS`.

    ``class_count_exact`` is False only for a labels.csv of bare indices, where the true class count
    is unknown: ``len(classes)`` is then the highest index + 1, a lower bound.
    """

    files: tuple[Path, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    root: Path
    layout: str
    sizes: tuple[int, ...] = field(repr=False)
    class_count_exact: bool = True

    def __post_init__(self) -> None:
        if not len(self.files) == len(self.labels) == len(self.sizes):
            raise ValueError(f"{len(self.files)} files, {len(self.labels)} labels, {len(self.sizes)} sizes")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {LAYOUTS}")
        bad = [label for label in self.labels if not -1 <= label < len(self.classes)]
        if bad and self.layout != "images":
            raise ValueError(f"label {bad[0]} is outside 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.files)

    @property
    def n_images(self) -> int:
        return len(self.files)

    @property
    def n_classes(self) -> int:
        """The number of classes a model must output (the label map's length for ``synsets``)."""
        return len(self.classes)

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Images per class index, ``(n_classes,)``; classes without images count 0 (``()`` unlabelled)."""
        if self.layout == "images":
            return ()
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=self.n_classes)
        return tuple(int(c) for c in counts)

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`root`, with ``/`` separators (the fingerprint's spelling)."""
        return path.relative_to(self.root).as_posix()

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (hex) identifying the images and their labels, wherever the folder lies.

        Hashed: one line per image, sorted by relative path, each the compact JSON array
        ``["<path relative to root, / separators>", <size in bytes>, <label>]`` followed by ``\\n``
        (UTF-8; undecodable bytes of a file name as surrogate escapes). Not hashed: the root
        folder, the layout, class names, modification times, and file contents beyond their size
        (hashing every image of a 50,000-image set would cost more than evaluating it); so an
        edit that keeps a file's size, or renaming a class folder without changing its index, keeps
        the fingerprint.
        """
        digest = hashlib.sha256()
        rows = sorted(zip((self.relative(f) for f in self.files), self.sizes, self.labels, strict=True))
        for rel, size, label in rows:
            line = json.dumps([rel, size, label], separators=(",", ":"), ensure_ascii=False) + "\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def subset(self, indices: Iterable[int]) -> LabelledImages:
        """The images at ``indices`` (in the order given), with the same classes, root and layout."""
        picked = list(indices)
        return LabelledImages(
            files=tuple(self.files[i] for i in picked),
            labels=tuple(self.labels[i] for i in picked),
            classes=self.classes,
            root=self.root,
            layout=self.layout,
            sizes=tuple(self.sizes[i] for i in picked),
            class_count_exact=self.class_count_exact,
        )

    def summary(self) -> dict:
        """What results store about the data: fingerprint, counts, layout and root (JSON-ready)."""
        return {
            "fingerprint": self.fingerprint,
            "n_images": self.n_images,
            "n_classes": self.n_classes,
            "layout": self.layout,
            "root": str(self.root),
        }


def is_image(path: Path | str) -> bool:
    """Whether ``path``'s extension is one of :data:`IMG_EXTENSIONS` (any case)."""
    return str(path).lower().endswith(IMG_EXTENSIONS)


def _images_under(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, following links, sorted as torchvision walks them."""
    found = []
    for current, dirs, names in sorted(os.walk(folder, followlinks=True)):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(current) / name for name in sorted(names) if is_image(name))
    return found


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOW else "")


def _class_folders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _size(path: Path) -> int:
    """The file's size in bytes; -1 when it cannot be read (a dangling link): decoding then skips
    and counts it, and the fingerprint records it as unreadable."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _check_root(root: Path, option: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise BenchError(f"{option} {root}: no such folder")
    if not root.is_dir():
        raise BenchError(f"{option} {root}: not a folder")
    if not any(root.iterdir()):
        raise BenchError(f"{option} {root}: the folder is empty")
    return root.resolve()


def load_dataset(root: Path, labels: Path | None = None, *, option: str = "--data") -> LabelledImages:
    """Read the labelled images under ``root`` in whichever layout it has (see the module's doc).

    ``labels`` is a label map (:func:`read_label_map`): with ``root/labels.csv`` it orders the CSV's
    class names, otherwise it indexes the class folders (``synsets`` layout); without it,
    ``root/labels.csv`` selects the ``labels.csv`` layout and class sub-folders the ``imagefolder``
    one. ``option`` is the command-line option that named ``root``, for error lines.

    Raises :class:`BenchError` (one line naming the path) when ``root`` is missing, empty, has
    neither class sub-folders nor a labels.csv, or holds no images; when a labels.csv row names a
    missing file or has a bad label; when the label map is missing or a synset folder is not in it;
    and when the folders are ImageNet synsets but not all 1000 of them and no label map was given
    (sorted folder names would then be wrong 1000-way indices).
    """
    root = _check_root(root, option)
    if (root / LABELS_CSV).is_file():
        order = read_label_map(Path(labels).expanduser()) if labels is not None else None
        return _load_csv(root, root / LABELS_CSV, order, labels)
    if labels is not None:
        return _load_synsets(root, Path(labels).expanduser(), option)
    folders = _class_folders(root)
    if not folders:
        raise BenchError(
            f"{option} {root}: no class sub-folders and no {LABELS_CSV} (layouts: DIR/<class>/<image>, "
            f"DIR/<image> + DIR/{LABELS_CSV} with header file,label, or synset folders + --labels MAP)"
        )
    names = [f.name for f in folders]
    if all(_SYNSET.fullmatch(n) for n in names) and len(names) != IMAGENET_CLASSES:
        raise BenchError(
            f"{option} {root}: {len(names)} ImageNet synset folders ({_listing(names)}) but not all "
            f"{IMAGENET_CLASSES}: pass --labels LOC_synset_mapping.txt so they keep their 1000-way indices"
        )
    files: list[Path] = []
    targets: list[int] = []
    for index, folder in enumerate(folders):
        found = _images_under(folder)
        files += found
        targets += [index] * len(found)
    if not files:
        raise BenchError(f"{option} {root}: no images in its class sub-folders (extensions {_EXTENSIONS})")
    return LabelledImages(tuple(files), tuple(targets), tuple(names), root, "imagefolder", tuple(map(_size, files)))


def _load_csv(root: Path, table: Path, order: tuple[str, ...] | None = None, map_path=None) -> LabelledImages:
    """The ``labels.csv`` layout; ``order``: the class names in index order (a label map's), else sorted."""
    with open(table, newline="", encoding="utf-8-sig") as f:
        rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(cell.strip() for cell in row)]
    if not rows or [c.strip().lower() for c in rows[0][1][:2]] != ["file", "label"]:
        found = ",".join(rows[0][1]) if rows else "nothing"
        raise BenchError(f"{table}: the first line must be the header file,label (found {found!r})")
    rows = rows[1:]
    if not rows:
        raise BenchError(f"{table}: no rows after the header file,label")
    files: list[Path] = []
    raw: list[tuple[int, str]] = []
    seen: set[Path] = set()
    for n, row in rows:
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise BenchError(f"{table}: row {n} needs a file and a label (found {','.join(row)!r})")
        name, label = row[0].strip(), row[1].strip()
        path = (root / name).resolve()
        if not path.is_file():
            raise BenchError(f"{table}: row {n} names {name!r}, which is not a file in {root}")
        if not path.is_relative_to(root):
            raise BenchError(f"{table}: row {n} names {name!r}, which is outside {root}")
        if path in seen:
            raise BenchError(f"{table}: row {n} names {name!r} a second time")
        seen.add(path)
        files.append(path)
        raw.append((n, label))
    numeric = [re.fullmatch(r"[+-]?\d+", label) is not None for _, label in raw]
    if order is not None and any(numeric):
        n, label = raw[numeric.index(True)]
        raise BenchError(
            f"{table}: row {n} has the class index {label!r}; --labels {map_path} orders class names, "
            "and indices need no map"
        )
    if all(numeric):
        for n, label in raw:
            if int(label) < 0:
                raise BenchError(f"{table}: row {n} has label {label!r}; a class index is 0 or more")
        targets = [int(label) for _, label in raw]
        classes = tuple(str(i) for i in range(max(targets) + 1))
        exact = False
    elif any(numeric):
        n, label = raw[numeric.index(not numeric[0])]  # the first row of the other kind than row 1's
        first = "a class index" if numeric[0] else "a class name"
        raise BenchError(
            f"{table}: row {n} has label {label!r}, but the first row's label is {first}: "
            "labels must be all class indices or all class names"
        )
    else:
        classes = order if order is not None else tuple(sorted({label for _, label in raw}))
        index = {name: i for i, name in enumerate(classes)}
        unknown = [(n, label) for n, label in raw if label not in index]
        if unknown:
            n, label = unknown[0]
            raise BenchError(f"{table}: row {n} has label {label!r}, which is not in --labels {map_path}")
        targets = [index[label] for _, label in raw]
        exact = True
    return LabelledImages(
        tuple(files), tuple(targets), classes, root, "labels.csv", tuple(map(_size, files)), class_count_exact=exact
    )


def read_label_map(path: Path) -> tuple[str, ...]:
    """The class ids of a label map file in index order: the first word of each non-blank line.

    Format (``LOC_synset_mapping.txt`` of the ImageNet Kaggle release): ``n01440764 tench, Tinca
    tinca`` per line, class 0 first. Raises :class:`BenchError` when the file is missing,
    unreadable, empty, or names a class twice.
    """
    if not path.is_file():
        raise BenchError(f"--labels {path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"--labels {path}: cannot be read as a text label map ({type(exc).__name__})") from None
    ids = [line.split(maxsplit=1)[0] for line in lines if line.strip()]
    if not ids:
        raise BenchError(f"--labels {path}: the label map is empty (expected one class name per line)")
    seen: set[str] = set()
    for n, name in enumerate(ids):
        if name in seen:
            raise BenchError(f"--labels {path}: {name!r} appears twice (second time as class {n})")
        seen.add(name)
    return tuple(ids)


def _load_synsets(root: Path, label_map: Path, option: str) -> LabelledImages:
    classes = read_label_map(label_map)
    index = {name: i for i, name in enumerate(classes)}
    folders = _class_folders(root)
    if not folders:
        raise BenchError(f"{option} {root}: no synset sub-folders to read with the label map {label_map}")
    missing = [f.name for f in folders if f.name not in index]
    if missing:
        raise BenchError(
            f"{label_map}: synset folder {missing[0]!r} of {option} {root} is not in the label map"
            + (f" (nor are {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    files: list[Path] = []
    targets: list[int] = []
    for folder in sorted(folders, key=lambda f: index[f.name]):
        found = _images_under(folder)
        files += found
        targets += [index[folder.name]] * len(found)
    if not files:
        raise BenchError(f"{option} {root}: no images in its synset folders (extensions {_EXTENSIONS})")
    return LabelledImages(tuple(files), tuple(targets), classes, root, "synsets", tuple(map(_size, files)))


def load_images_only(root: Path, *, option: str = "--calibration") -> LabelledImages:
    """Every image under ``root`` (recursively, by extension), unlabelled (labels ``-1``, no classes).

    For a calibration folder: its :attr:`~LabelledImages.fingerprint` goes into the int8 artifact's
    cache key. Raises :class:`BenchError` naming ``option`` and ``root`` when the folder is
    missing or empty or holds no images.
    """
    root = _check_root(root, option)
    files = _images_under(root)
    if not files:
        raise BenchError(f"{option} {root}: no images (extensions {_EXTENSIONS}, searched recursively)")
    return LabelledImages(tuple(files), (-1,) * len(files), (), root, "images", tuple(map(_size, files)))


def split_calibration(ds: LabelledImages, count: int = 200, seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """Split ``ds`` into (calibration, evaluation): disjoint, deterministic for a given ``seed``.

    The ``count`` calibration images are spread over the classes: each class's images are shuffled
    (``numpy.random.default_rng(seed)``), the classes are visited in a shuffled order, and one image
    is taken per class per round until ``count`` are taken; so 200 images of ImageNet's 1000
    classes come from 200 different classes, and 200 of 10 classes are 20 each. Both parts keep
    ``ds``'s order, classes, root and layout. Raises :class:`BenchError` when ``count`` is below 1
    or leaves no image to evaluate on.
    """
    if count < 1:
        raise BenchError(f"the calibration set needs at least 1 image (asked for {count})")
    if count >= len(ds):
        raise BenchError(
            f"--data {ds.root}: {len(ds)} images, and {count} calibration images would leave none to measure "
            "accuracy on: pass --calibration DIR"
        )
    rng = np.random.default_rng(seed)
    labels = np.asarray(ds.labels, dtype=np.int64)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order = rng.permutation(len(per_class))
    picked: list[int] = []
    depth = 0
    while len(picked) < count:
        for c in order:
            if depth < len(per_class[c]) and len(picked) < count:
                picked.append(int(per_class[c][depth]))
        depth += 1
    chosen = set(picked)
    calibration = sorted(chosen)
    evaluation = [i for i in range(len(ds)) if i not in chosen]
    return ds.subset(calibration), ds.subset(evaluation)
