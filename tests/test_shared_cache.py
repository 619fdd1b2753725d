"""A class volume of datasets, mounted read-only for students: read it, never write to it.

The tests run as root, and root ignores permission bits. So a "read-only" cache here is made
0o555/0o444 (which stops any other user) and the writability probe, ``write_problem``, is told
"Read-only file system" for it, which is what a read-only mount would tell even root. That the
code then writes nothing there is checked, not assumed: every file and folder's mode, size and
mtime (a folder's mtime changes when a file, even a temporary one, is created in it and
removed) is compared before and after. One test also runs the loader as the unprivileged user
``nobody`` (when run as root) against real permission bits, with no simulation at all.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from conftest import REPO, Route
from labkit.data import CacheDirError, DatasetEntry, RemoteFile, fetch_entry, load_images
from labkit.data.registry import REGISTRY
from test_vision_data import _closed_port_url, _entry, _serve, digits, files  # noqa: F401 (fixtures)

RAW = Path("MNIST", "raw")
IDX = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
OLD = 1_000_000_000 * 10**9              # 2001 in ns: any write afterwards changes an mtime


@pytest.fixture
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(shared, user): LABKIT_DATA_DIR and the per-user cache ($XDG_CACHE_HOME/labkit)."""
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "shared").mkdir()
    return tmp_path / "shared", tmp_path / "xdg" / "labkit"


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> dict:
    """Make ``folder`` read-only (see the module docstring) and return its snapshot."""
    import labkit.data.cache as cache

    for path in sorted([folder, *folder.rglob("*")], reverse=True):          # children first
        path.chmod(0o555 if path.is_dir() else 0o444)
        os.utime(path, ns=(OLD, OLD))
    probe = cache.write_problem
    monkeypatch.setattr(cache, "write_problem", lambda path: "Read-only file system"
                        if path == folder or folder in path.parents else probe(path))
    return snapshot(folder)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns)
            for p in [folder, *folder.rglob("*")]}


def fill(folder: Path, files: dict[str, bytes], unpacked: bool = False) -> None:
    """Put the .gz archives (and, if ``unpacked``, the IDX files) in ``folder``/MNIST/raw."""
    (folder / RAW).mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / RAW / name).write_bytes(body)
        if unpacked:
            (folder / RAW / name.removesuffix(".gz")).write_bytes(gzip.decompress(body))


def test_read_only_shared_cache_is_read_without_writes_or_network(loopback, files, digits, caches, monkeypatch, capsys):
    shared, user = caches
    fill(shared, files)                                   # archives only: the reader needs them unpacked
    before = read_only(monkeypatch, shared)
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_serve(loopback, "m", files)]))
    data = load_images("mnist", progress=False)
    out = capsys.readouterr().out
    assert data.tier == "cache" and torch.equal(data.train_labels, digits["train"][1])
    assert f"from the shared cache ({shared / RAW}, unpacked into {user / RAW})" in out
    assert snapshot(shared) == before
    assert all(route.hits == 0 for route in loopback.routes.values())
    assert sorted(p.name for p in (user / RAW).iterdir()) == IDX       # derived files only, no archive copies
    unpacked = snapshot(user)
    assert load_images("mnist", progress=False).tier == "cache" and snapshot(user) == unpacked


def test_instructor_fills_once_then_students_read_it_read_only(loopback, files, caches, monkeypatch, capsys, tmp_path):
    shared, _ = caches
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_serve(loopback, "m", files)]))
    old_umask = os.umask(0o022)
    try:
        assert load_images("mnist", progress=False).tier == "download"          # the instructor, umask 022
    finally:
        os.umask(old_umask)
    assert f"downloaded and verified into {shared / RAW}." in capsys.readouterr().out
    assert {stat.S_IMODE(p.stat().st_mode) for p in (shared / RAW).iterdir()} == {0o644}   # readable by all
    before = read_only(monkeypatch, shared)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))                  # a student with no writable cache at all
    data = load_images("mnist", progress=False)
    assert data.tier == "cache" and f"from the shared cache ({shared / RAW})." in capsys.readouterr().out
    assert snapshot(shared) == before and all(route.hits == 1 for route in loopback.routes.values())


def test_missing_data_goes_to_the_user_cache_and_says_why(loopback, files, caches, monkeypatch, capsys):
    shared, user = caches
    before = read_only(monkeypatch, shared)
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_serve(loopback, "m", files)]))
    assert load_images("mnist", progress=False).tier == "download"
    assert (f"downloaded and verified into {user / RAW} (the shared cache {shared} is read-only: "
            "Read-only file system).") in capsys.readouterr().out
    assert snapshot(shared) == before
    assert sorted(p.name for p in (user / RAW).iterdir()) == sorted(IDX + list(files))
    assert load_images("mnist", progress=False).tier == "cache"
    assert f"from the cache ({user / RAW})." in capsys.readouterr().out
    assert all(route.hits == 1 for route in loopback.routes.values())


def test_missing_data_and_nothing_writable_says_what_to_do(files, caches, monkeypatch, tmp_path, capsys):
    shared, _ = caches
    before = read_only(monkeypatch, shared)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    monkeypatch.setitem(REGISTRY, "mnist", _entry("mnist", files, [_closed_port_url()]))
    with pytest.raises(CacheDirError, match=f"cannot use any data cache: {shared} \\(Read-only file system\\); .*"
                                            f"`export LABKIT_DATA_DIR={shared}{os.pathsep}/tmp/labkit-data`"):
        load_images("mnist", progress=False, timeout=2)
    assert load_images("mnist", download=False).tier == "offline"        # without downloads: no need to write
    assert "downloads disabled" in capsys.readouterr().out and snapshot(shared) == before


PAYLOADS = {"a.bin": b"first file " * 100, "b.bin": b"second file " * 100}


def _tiny(loopback) -> DatasetEntry:
    remote = tuple(RemoteFile(name, "sha256:" + hashlib.sha256(body).hexdigest()) for name, body in PAYLOADS.items())
    for name, body in PAYLOADS.items():
        loopback.routes[f"/t/{name}"] = Route(body)
    return DatasetEntry("tiny", "test set", remote, (loopback.url("/t/"),), "CC0")


def test_files_spread_over_caches_are_gathered_without_network(loopback, caches, monkeypatch):
    shared, user = caches
    (shared / "tiny").mkdir()
    (shared / "tiny" / "a.bin").write_bytes(PAYLOADS["a.bin"])
    (user / "tiny").mkdir(parents=True)
    (user / "tiny" / "b.bin").write_bytes(PAYLOADS["b.bin"])
    before = read_only(monkeypatch, shared)
    fetched = fetch_entry(_tiny(loopback), progress=False)
    assert fetched.tier == "cache" and fetched.folder == user / "tiny" and fetched.cache.kind == "user"
    assert {name: path.read_bytes() for name, path in fetched.paths.items()} == PAYLOADS
    assert [cache.path for cache in fetched.passed_over] == [shared] and snapshot(shared) == before
    assert all(route.hits == 0 for route in loopback.routes.values())


def test_a_writable_shared_cache_takes_the_downloads(loopback, caches):
    shared, user = caches
    fetched = fetch_entry(_tiny(loopback), progress=False)
    assert fetched.tier == "download" and fetched.folder == shared / "tiny" and not user.exists()
    assert fetch_entry(_tiny(loopback), progress=False).tier == "cache"


STUDENT = """
import json, sys
from labkit.data import DatasetEntry, RemoteFile, describe_data_dirs, load_images
from labkit.data.registry import register
spec = json.loads(sys.argv[1])
register(DatasetEntry("mnist", "test copy", tuple(RemoteFile(n, c) for n, c in spec["files"]),
                      (spec["mirror"],), "CC BY-SA 3.0", "", "the offline digits", "MNIST/raw"))
print("tier:", load_images("mnist", progress=False, timeout=2).tier)
print("doctor:", describe_data_dirs())
"""


def _unprivileged() -> list[str]:
    """The command prefix that runs as a user the permission bits apply to ([] unless we are root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_really_read_only_shared_cache_as_an_unprivileged_user(files):
    prefix = _unprivileged()
    base = Path(tempfile.mkdtemp(prefix="labkit-shared-"))            # not under pytest's private 0o700 folder
    try:
        base.chmod(0o755)
        shared, home = base / "shared", base / "home"
        fill(shared, files)
        home.mkdir()
        if prefix:
            os.chown(home, 65534, 65534)
        for path in sorted([shared, *shared.rglob("*")], reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        before = snapshot(shared)
        spec = {"files": [[n, "md5:" + hashlib.md5(b).hexdigest()] for n, b in files.items()],
                "mirror": _closed_port_url()}
        env = {**{k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}, "HOME": str(home),
               "LABKIT_DATA_DIR": str(shared), "MPLCONFIGDIR": str(home / "mpl"), "LABKIT_WIDGETS": "0"}
        run = subprocess.run([*prefix, sys.executable, "-c", STUDENT, json.dumps(spec)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        user = home / ".cache" / "labkit"
        assert "tier: cache" in run.stdout
        assert f"from the shared cache ({shared / RAW}, unpacked into {user / RAW})." in run.stdout
        doctor = f"doctor: reads {shared} (read-only: Permission denied), then {user}; downloads go to {user}"
        assert doctor in run.stdout
        assert snapshot(shared) == before and sorted(p.name for p in (user / RAW).iterdir()) == IDX
    finally:
        for path in [base, *base.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base)
