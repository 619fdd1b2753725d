"""The download path, for real, against an HTTP server on 127.0.0.1."""
import hashlib
import socket

import pytest

from labkit.data import DatasetEntry, DownloadError, RemoteFile, download_file, fetch

PAYLOAD = bytes(range(256)) * 400          # 100 kB
GOOD = RemoteFile("digits.bin", "sha256:" + hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_download(loopback, tmp_path):
    from conftest import Route
    loopback.routes["/a/digits.bin"] = loopback_route = Route(PAYLOAD)
    dest = download_file([loopback.url("/a/digits.bin")], tmp_path / "digits.bin", GOOD, progress=False)
    assert dest.read_bytes() == PAYLOAD and loopback_route.hits == 1
    assert _leftovers(tmp_path) == ["digits.bin"]


def test_checksum_mismatch_is_rejected_and_not_kept(loopback, tmp_path):
    from conftest import Route
    loopback.routes["/a/digits.bin"] = Route(PAYLOAD[:-1] + b"X")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file([loopback.url("/a/digits.bin")], tmp_path / "digits.bin", GOOD, progress=False)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 503])
def test_failing_first_mirror_falls_back_to_the_next(loopback, tmp_path, status):
    from conftest import Route
    loopback.routes["/bad/digits.bin"] = Route(status=status)
    loopback.routes["/good/digits.bin"] = Route(PAYLOAD)
    urls = [loopback.url("/bad/digits.bin"), loopback.url("/good/digits.bin")]
    assert download_file(urls, tmp_path / "d.bin", GOOD, progress=False).read_bytes() == PAYLOAD
    assert loopback.routes["/bad/digits.bin"].hits == 1


def test_interrupted_transfer_never_leaves_a_partial_file(loopback, tmp_path):
    from conftest import Route
    loopback.routes["/a/digits.bin"] = Route(PAYLOAD[: len(PAYLOAD) // 3], claimed_length=len(PAYLOAD))
    dest = tmp_path / "digits.bin"
    dest.write_bytes(b"an older good copy")
    with pytest.raises(DownloadError) as err:
        download_file([loopback.url("/a/digits.bin")], dest, GOOD, progress=False)
    assert "a/digits.bin" in str(err.value)
    assert dest.read_bytes() == b"an older good copy"            # untouched
    assert _leftovers(tmp_path) == ["digits.bin"]


def test_no_network_at_all_lists_every_mirror(tmp_path):
    with socket.socket() as s:                  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urls = [f"http://127.0.0.1:{port}/m1/digits.bin", f"http://127.0.0.1:{port}/m2/digits.bin"]
    with pytest.raises(DownloadError, match=r"any of 2 mirror\(s\)(.|\n)*m1(.|\n)*m2(.|\n)*connection"):
        download_file(urls, tmp_path / "digits.bin", GOOD, timeout=2, progress=False)
    assert _leftovers(tmp_path) == []


def test_fetch_uses_the_cache_the_second_time(loopback, tmp_path):
    from conftest import Route
    route = loopback.routes["/m/digits.bin"] = Route(PAYLOAD)
    entry = DatasetEntry("tiny", "test set", (GOOD,), (loopback.url("/m/"),), "CC0")
    paths, tier = fetch(entry, tmp_path, progress=False)
    assert tier == "download" and paths["digits.bin"].read_bytes() == PAYLOAD
    paths, tier = fetch(entry, tmp_path, progress=False)
    assert tier == "cache" and route.hits == 1
    paths["digits.bin"].write_bytes(b"corrupted on disk")          # a damaged cache is re-fetched
    paths, tier = fetch(entry, tmp_path, progress=False)
    assert tier == "download" and paths["digits.bin"].read_bytes() == PAYLOAD
