"""A real labelled image set with no download, and two models trained on it in seconds.

scikit-learn ships the UCI handwritten digits (``sklearn.datasets.load_digits``: 1,797 images of
8x8 pixels, values 0-16, labels 0-9). :func:`write_digits_imagefolder` writes them as an
ImageFolder of RGB PNGs; :func:`train_digits_models` trains the two user models of
``tests/user_models/digits_models.py`` on a fixed two-thirds of them and saves their state dicts
(what ``--weights`` loads), plus ImageFolders of the held-out third (evaluate on these only) and of
the training images (a calibration folder that never overlaps the held-out one).

Preprocessing of every digits image: :data:`DIGITS_PREPROCESS` (32x32, ``crop_pct`` 1.0 so the
resize is the identity, bilinear, mean 0.5 and std 0.5 per channel, i.e. pixels scaled to [-1, 1]);
:data:`DIGITS_OPTIONS` are the same settings as ``bench`` options.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np

from bench.accuracy.dataset import LabelledImages, load_dataset
from bench.accuracy.preprocess import Preprocess, decode

MODELS_FILE = Path(__file__).resolve().parent / "user_models" / "digits_models.py"
SIZE = 32
DIGITS_PREPROCESS = Preprocess(size=SIZE, crop_pct=1.0, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)
DIGITS_OPTIONS = [
    "--input-shape",
    f"1,3,{SIZE},{SIZE}",
    "--mean",
    "0.5,0.5,0.5",
    "--std",
    "0.5,0.5,0.5",
    "--crop-pct",
    "1.0",
    "--interpolation",
    "bilinear",
]
HELD_OUT_EVERY = 3  # per class, files 0, 3, 6, ... (in sorted order) are held out
# Training recipe per factory: (epochs, learning rate); Adam, batch 64, seed 0, one CPU thread.
RECIPES = {"convnet": (8, 1e-2), "vit": (25, 3e-3)}


def write_digits_imagefolder(root: Path, size: int = SIZE) -> Path:
    """Write the 1,797 digits as ``root/<label>/<index:04d>.png`` (RGB, ``size`` x ``size``) and return ``root``.

    Pixel values 0-16 are scaled to 0-255 (rounded), upsampled from 8x8 with Pillow's bilinear
    filter and repeated over R, G and B. Deterministic: the same bytes on every run.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = Path(root)
    for label in range(10):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        gray = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), mode="L")
        gray.resize((size, size), Image.Resampling.BILINEAR).convert("RGB").save(root / str(label) / f"{index:04d}.png")
    return root


def split_digits(ds: LabelledImages) -> tuple[list[int], list[int]]:
    """(train, held-out) indices into ``ds``: per class, every :data:`HELD_OUT_EVERY`-th file is held out."""
    train: list[int] = []
    held_out: list[int] = []
    seen = [0] * len(ds.classes)
    for i, label in enumerate(ds.labels):
        (held_out if seen[label] % HELD_OUT_EVERY == 0 else train).append(i)
        seen[label] += 1
    return train, held_out


def _copy_imagefolder(ds: LabelledImages, indices: list[int], root: Path) -> Path:
    for i in indices:
        target = root / ds.relative(ds.files[i])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ds.files[i], target)
    return root


def _tensors(ds: LabelledImages, indices: list[int]):
    import torch

    images = np.stack([decode(ds.files[i], DIGITS_PREPROCESS) for i in indices])
    labels = np.asarray([ds.labels[i] for i in indices], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _train(factory: str, x, y, epochs: int, lr: float):
    import torch
    import torch.nn.functional as F

    spec = importlib.util.spec_from_file_location("_digits_models", MODELS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = getattr(module, factory)()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * -(-len(x) // 64))
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def train_digits_models(root: Path, out: Path) -> dict[str, Path]:
    """Train ``convnet`` and ``vit`` of ``digits_models.py`` on the training split of the digits
    ImageFolder ``root`` (written by :func:`write_digits_imagefolder`) and save them under ``out``.

    Returns paths: ``convnet`` and ``vit`` (``torch.save(model.state_dict())`` checkpoints),
    ``heldout`` (an ImageFolder of the held-out third, 602 images: evaluate only on these) and
    ``train`` (an ImageFolder of the 1,195 training images). ``out/train_log.txt`` records each
    model's held-out top-1 and training seconds. Runs on one CPU thread (the caller's thread
    count is restored) in a few seconds per model.
    """
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(root)
    train, held_out = split_digits(ds)
    paths = {
        "heldout": _copy_imagefolder(ds, held_out, out / "heldout"),
        "train": _copy_imagefolder(ds, train, out / "train"),
    }
    x_train, y_train = _tensors(ds, train)
    x_test, y_test = _tensors(ds, held_out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    log = []
    try:
        for factory, (epochs, lr) in RECIPES.items():
            start = time.perf_counter()
            model = _train(factory, x_train, y_train, epochs, lr)
            seconds = time.perf_counter() - start
            with torch.no_grad():
                top1 = (model(x_test).argmax(1) == y_test).float().mean().item()
            paths[factory] = out / f"digits_{factory}.pt"
            torch.save(model.state_dict(), paths[factory])
            log.append(f"{factory}: held-out top-1 {top1:.4f} after {epochs} epochs in {seconds:.1f} s")
    finally:
        torch.set_num_threads(threads)
    (out / "train_log.txt").write_text("\n".join(log) + "\n")
    return paths
