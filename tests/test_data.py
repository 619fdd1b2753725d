import os

import numpy as np
import pytest
import torch

from labkit.data import (CacheDir, CacheDirError, DatasetEntry, DeviceLoader, RemoteFile, data_dir,
                         data_dir_environment, data_dirs, default_data_dir, describe_data_dirs, get_entry,
                         house_prices, register, two_class, xor)
from labkit.data.cache import search_path
from labkit.data.registry import REGISTRY


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    assert [(d.path, d.kind, d.writable) for d in data_dirs()] == [
        (tmp_path / "cache", "shared", True), (tmp_path / "xdg" / "labkit", "user", True)]


def test_unwritable_shared_cache_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    monkeypatch.setenv("LABKIT_DATA_DIR", str(blocker / "cache"))      # a path under a file: even root can't
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "labkit"
    shared, user = data_dirs()
    assert not shared.writable and "Not a directory" in shared.problem and user.writable
    assert describe_data_dirs() == (f"reads {blocker / 'cache'} (read-only: Not a directory), then "
                                    f"{tmp_path / 'xdg' / 'labkit'}; downloads go to {tmp_path / 'xdg' / 'labkit'}")
    assert blocker.read_text() == "keep me"


def test_unwritable_cache_dir_says_how_to_fix_it(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    monkeypatch.setenv("LABKIT_DATA_DIR", str(blocker / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "xdg"))
    with pytest.raises(CacheDirError, match=r"cannot use any data cache: .*a-file/cache \(Not a directory\); "
                                            r".*a-file/xdg/labkit \(Not a directory\)\. Point LABKIT_DATA_DIR at "
                                            r"a folder you can write to, e\.g\. `export LABKIT_DATA_DIR=.*a-file/cache:"
                                            r"/tmp/labkit-data`"):
        data_dir()
    with pytest.raises(CacheDirError, match="cannot use .*a-file/given as the data cache.*LABKIT_DATA_DIR"):
        data_dir(blocker / "given")
    assert describe_data_dirs().endswith("NOT WRITABLE: " + _message(data_dir))
    assert blocker.read_text() == "keep me"


def _message(call) -> str:
    with pytest.raises(CacheDirError) as err:
        call()
    return str(err.value)


def test_search_path_lists_shared_folders_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}{os.pathsep}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert [d.path for d in search_path()] == [tmp_path / "a", tmp_path / "b", tmp_path / "xdg" / "labkit"]
    assert default_data_dir() == tmp_path / "a" and not (tmp_path / "a").exists()      # looking writes nothing
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "xdg" / "labkit"))              # listed once
    assert [d.kind for d in search_path()] == ["shared"]
    monkeypatch.delenv("LABKIT_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert [d.path for d in search_path()] == [tmp_path / "home" / ".cache" / "labkit"]
    assert search_path(tmp_path / "given") == [CacheDir(tmp_path / "given", "given")]


def test_a_child_with_another_home_searches_the_same_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    parent = [d.path for d in search_path()]
    env = data_dir_environment()
    assert list(env) == ["LABKIT_DATA_DIR"]
    monkeypatch.setenv("LABKIT_DATA_DIR", env["LABKIT_DATA_DIR"])                        # what the child sees
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "child-home" / ".cache"))
    assert [d.path for d in search_path()] == parent + [tmp_path / "child-home" / ".cache" / "labkit"]


def test_registry_entries_validate_and_unknown_names_suggest(monkeypatch):
    monkeypatch.setattr("labkit.data.registry.REGISTRY", dict(REGISTRY))
    register(DatasetEntry("tiny_digits", "test", (RemoteFile("a.bin", "sha256:" + "0" * 64),),
                          ("http://127.0.0.1/m/",), "CC0"))
    assert get_entry("tiny_digits").urls(get_entry("tiny_digits").files[0]) == ["http://127.0.0.1/m/a.bin"]
    with pytest.raises(KeyError, match="Did you mean 'tiny_digits'"):
        get_entry("tiny_digit")
    with pytest.raises(ValueError, match="sha256:<hex>"):
        RemoteFile("a.bin", "crc32:1234")
    with pytest.raises(ValueError, match="must end with '/'"):
        DatasetEntry("x", "x", (RemoteFile("a", "md5:00"),), ("http://host/dir",), "CC0")


def test_house_prices_has_the_documented_ground_truth():
    data = house_prices(2000, seed=1)
    assert data.X.shape == (2000, 3) and data.y.shape == (2000,)
    design = torch.cat([data.X, torch.ones(2000, 1)], dim=1).double()
    theta = torch.linalg.lstsq(design, data.y.double().unsqueeze(1)).solution.squeeze(1)
    # least-squares standard errors: sigma * sqrt(diag((X^T X)^-1)); the truth lies within 4 of them
    stderr = data.noise * torch.linalg.inv(design.T @ design).diagonal().sqrt()
    truth = torch.cat([data.weight.double(), torch.tensor([data.bias], dtype=torch.float64)])
    assert torch.all((theta - truth).abs() < 4 * stderr), (theta, truth, stderr)
    residual_std = float((data.y.double() - design @ theta).std())
    assert 18 < residual_std < 22                      # the noise we asked for (20)
    assert torch.equal(house_prices(50, seed=3).X, house_prices(50, seed=3).X)


def test_synthetic_sets_validate_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        house_prices(0)
    with pytest.raises(ValueError, match="noise"):
        house_prices(10, noise=-1)
    with pytest.raises(ValueError, match="multiple of 4"):
        xor(6)


def test_xor_and_two_class():
    X, y = xor()
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    Xn, yn = xor(400, noise=0.1)
    assert Xn.shape == (400, 2) and torch.equal(yn, y.repeat(100))
    X2, y2 = two_class(1000)
    assert X2.shape == (1000, 2) and set(y2.tolist()) == {0.0, 1.0} and X2.dtype == torch.float32


def test_device_loader_covers_every_sample_once_and_reshuffles():
    X = torch.arange(10).float().unsqueeze(1)
    loader = DeviceLoader(X, torch.arange(10), batch_size=4, seed=0)
    assert len(loader) == 3
    epochs = [torch.cat([y for _, y in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    for x, y in loader:                                   # rows stay paired
        assert torch.equal(x.squeeze(1).long(), y)
    assert [len(b[0]) for b in DeviceLoader(X, batch_size=4, drop_last=True)] == [4, 4]
    assert torch.equal(torch.cat([b[0] for b in DeviceLoader(X, batch_size=3, shuffle=False)]), X)


def test_device_loader_rejects_bad_input():
    with pytest.raises(ValueError, match=r"same number of rows.*\(10, 2\), \(9,\)"):
        DeviceLoader(torch.zeros(10, 2), torch.zeros(9))
    with pytest.raises(TypeError, match="not a tensor"):
        DeviceLoader(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(torch.zeros(3), batch_size=0)
    with pytest.raises(ValueError, match="at least one tensor"):
        DeviceLoader()


def test_importing_labkit_does_not_import_torchvision():
    """Labs without image datasets should not pay for torchvision's import (about 2 s)."""
    import subprocess
    import sys

    code = "import sys, labkit; print('torchvision' in sys.modules); labkit.data.get_entry('mnist'); print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
