"""Datasets for the labs: cache, registry, verified downloads, synthetic sets, DeviceLoader."""
from labkit.data.cache import (CacheDir, CacheDirError, data_dir, data_dir_environment, data_dirs, default_data_dir,
                               describe_data_dirs)
from labkit.data.download import ChecksumMismatch, DownloadError, Fetched, download_file, fetch, fetch_entry
from labkit.data.loader import DeviceLoader
from labkit.data.registry import DatasetEntry, RemoteFile, get_entry, register
from labkit.data.synthetic import RegressionData, house_prices, two_class, xor

__all__ = [
    "CacheDir", "CacheDirError", "ChecksumMismatch", "DatasetEntry", "DatasetUnavailableError", "DeviceLoader",
    "DownloadError", "Fetched", "ImageData", "RegressionData", "RemoteFile", "load_images", "data_dir",
    "data_dir_environment", "data_dirs", "default_data_dir", "describe_data_dirs", "download_file", "fetch",
    "fetch_entry", "get_entry", "house_prices", "register", "two_class", "xor",
]


_VISION = ("DatasetUnavailableError", "ImageData", "load_images")


def __getattr__(name: str):
    # The image datasets need torchvision, slow to import: load them on first use, not with labkit.
    if name in _VISION:
        from labkit.data import vision

        return getattr(vision, name)
    raise AttributeError(f"module 'labkit.data' has no attribute {name!r}")
