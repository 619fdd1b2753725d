import os
import stat

import pytest
import torch

from labkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from labkit.files import atomic_write, current_umask


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o022)``; restored afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as handle:
            handle.write("half of the new content")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]          # no temporary file left behind
    with atomic_write(target, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new"


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_follows_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "new" / "data.bin"
    with atomic_write(target) as handle:                        # a new file in a new folder
        handle.write(b"x")
    assert stat.S_IMODE(target.stat().st_mode) == expected     # not mkstemp's 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o777 & ~mask


@pytest.mark.parametrize("proc", ["/proc/self/status", "/nonexistent/status"])   # read, or set-and-restore
def test_current_umask_reads_it_without_changing_it(umask, monkeypatch, proc):
    monkeypatch.setattr("labkit.files._PROC_STATUS", proc)
    umask(0o027)
    assert current_umask() == 0o027 and current_umask() == 0o027


def test_checkpoint_round_trip(tmp_path):
    model = torch.nn.Linear(3, 1)
    path = save_checkpoint(tmp_path / "ck" / "model.pt", {"epoch": 2, "model": model.state_dict()})
    state = load_checkpoint(path)
    assert state["epoch"] == 2 and torch.equal(state["model"]["weight"], model.weight.detach())


def test_truncated_checkpoint_is_reported_and_left_untouched(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", {"model": torch.nn.Linear(50, 50).state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="corrupt or truncated.*left untouched"):
        load_checkpoint(path)
    assert path.read_bytes() == before


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a labkit checkpoint"):
        load_checkpoint(path)
    (tmp_path / "garbage.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pt", {"epoch": 1})

    def dying_save(obj, handle):
        handle.write(b"PK\x03\x04 partial bytes")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr("labkit.checkpoint.torch.save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
