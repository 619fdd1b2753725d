"""The dataset registry: what each dataset's files are, how to check them, where to get them."""
from __future__ import annotations

import difflib
import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

CHECKSUM_ALGORITHMS = ("sha256", "md5")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name on the mirrors and its checksum ("sha256:<hex>" or "md5:<hex>")."""

    filename: str
    checksum: str
    size: int | None = None

    def __post_init__(self) -> None:
        algorithm, _, digest = self.checksum.partition(":")
        if algorithm not in CHECKSUM_ALGORITHMS or not digest:
            raise ValueError(f"checksum of {self.filename} must look like 'sha256:<hex>' or "
                             f"'md5:<hex>', got {self.checksum!r}")

    @property
    def algorithm(self) -> str:
        return self.checksum.partition(":")[0]

    @property
    def digest(self) -> str:
        return self.checksum.partition(":")[2].lower()


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset. A file's URL is a mirror (a base URL ending in '/') plus its filename."""

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    licence: str
    homepage: str = ""
    offline_fallback: str = ""          # what is used when no mirror can be reached ("" if none)
    folder: str = ""                    # where files go under the cache (default: the name)

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"dataset {self.name!r} lists no files")
        for mirror in self.mirrors:
            if not mirror.endswith("/"):
                raise ValueError(f"mirror {mirror!r} of {self.name!r} must end with '/'")

    def urls(self, remote: RemoteFile) -> list[str]:
        """Every URL the file can be fetched from, in order of preference."""
        return [mirror + remote.filename for mirror in self.mirrors]


REGISTRY: dict[str, DatasetEntry] = {}
# Datasets whose entries are registered by a module imported on first use (torchvision is slow to import).
REGISTERED_BY = {"mnist": "labkit.data.vision", "fashion_mnist": "labkit.data.vision"}


def register(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry`` to the registry (replacing one of the same name) and return it."""
    REGISTRY[entry.name] = entry
    return entry


def get_entry(name: str) -> DatasetEntry:
    """The registry entry for ``name``; an unknown name raises with the closest known names."""
    if name not in REGISTRY and name in REGISTERED_BY:
        importlib.import_module(REGISTERED_BY[name])
    try:
        return REGISTRY[name]
    except KeyError:
        names = set(REGISTRY) | set(REGISTERED_BY)
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        known = ", ".join(sorted(names)) or "none"
        raise KeyError(f"unknown dataset {name!r}.{hint} Known datasets: {known}") from None


def file_checksum(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
