"""Datasets for the labs: cache, registry, verified downloads, synthetic sets, DeviceLoader."""
from labkit.data.cache import CacheDirError, data_dir, default_data_dir
from labkit.data.download import ChecksumMismatch, DownloadError, download_file, fetch
from labkit.data.loader import DeviceLoader
from labkit.data.registry import DatasetEntry, RemoteFile, get_entry, register
from labkit.data.synthetic import RegressionData, house_prices, two_class, xor
from labkit.data.vision import DatasetUnavailableError, ImageData, load_images

__all__ = [
    "CacheDirError", "ChecksumMismatch", "DatasetEntry", "DatasetUnavailableError", "DeviceLoader",
    "DownloadError", "ImageData", "RegressionData", "RemoteFile", "load_images", "data_dir", "default_data_dir", "download_file", "fetch",
    "get_entry", "house_prices", "register", "two_class", "xor",
]
