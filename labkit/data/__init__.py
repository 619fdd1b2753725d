"""Datasets for the labs: cache, registry, verified downloads, synthetic sets, text corpora, DeviceLoader."""
from labkit.data.cache import (CacheDir, CacheDirError, data_dir, data_dir_environment, data_dirs, default_data_dir,
                               describe_data_dirs)
from labkit.data.download import ChecksumMismatch, DownloadError, Fetched, download_file, fetch, fetch_entry
from labkit.data.loader import DeviceLoader
from labkit.data.registry import DatasetEntry, RemoteFile, get_entry, register
from labkit.data.synthetic import RegressionData, house_prices, two_class, xor
from labkit.data.text import Corpus, Document, load_corpus
from labkit.data.text_task import TextTask, load_text_task

__all__ = [
    "CacheDir", "CacheDirError", "ChecksumMismatch", "Corpus", "DatasetEntry", "DatasetUnavailableError",
    "DeviceLoader", "Document", "DownloadError", "Fetched", "ImageData", "RegressionData", "RemoteFile", "TextTask",
    "load_images", "data_dir", "data_dir_environment", "data_dirs", "default_data_dir", "describe_data_dirs",
    "download_file", "fetch", "fetch_entry", "get_entry", "house_prices", "load_corpus", "load_text_task", "register",
    "two_class", "xor",
]


_VISION = ("DatasetUnavailableError", "ImageData", "load_images")


def __getattr__(name: str):
    # The image datasets need torchvision, slow to import: load them on first use, not with labkit.
    if name in _VISION:
        from labkit.data import vision

        return getattr(vision, name)
    raise AttributeError(f"module 'labkit.data' has no attribute {name!r}")
