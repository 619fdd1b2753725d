"""`labkit doctor`: what this environment can do, in one table."""
from __future__ import annotations

import platform
import socket
import sys
from typing import Any

import torch

from labkit import __version__
from labkit.data.cache import CacheDirError, data_dir
from labkit.device import get_device, precision_policy

# A host every dataset download needs (torchvision's MNIST mirror); reaching it means "online".
PROBE_HOST = ("ossci-datasets.s3.amazonaws.com", 443)


def is_online(host: tuple[str, int] = PROBE_HOST, timeout: float = 2.0) -> bool:
    """True if a TCP connection to ``host`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def collect(check_network: bool = True) -> dict[str, Any]:
    """The facts doctor reports, as a dict (stable keys; values are plain data)."""
    dev = get_device()
    facts: dict[str, Any] = {
        "labkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "device": str(dev),
        "precision": precision_policy(dev).name,
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        facts.update(gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                     gpu_capability=f"{props.major}.{props.minor}")
    try:
        import ipywidgets
        facts["widgets"] = ipywidgets.__version__
    except ImportError:
        facts["widgets"] = None
    try:
        facts["data_cache"] = str(data_dir())
    except CacheDirError as err:
        facts["data_cache"] = f"NOT WRITABLE: {err}"
    facts["online"] = is_online() if check_network else None
    return facts


def render(facts: dict[str, Any]) -> str:
    """The facts as an aligned two-column table, with advice where something is missing."""
    rows = [
        ("labkit", facts["labkit"]),
        ("python", f"{facts['python']} ({sys.executable})"),
        ("torch", f"{facts['torch']} (CUDA build {facts['cuda_version'] or 'none'})"),
        ("device", facts["device"]),
    ]
    if "gpu_name" in facts:
        rows.append(("GPU", f"{facts['gpu_name']}, {facts['gpu_memory_gib']} GiB, "
                            f"compute capability {facts['gpu_capability']}"))
    rows += [
        ("precision", facts["precision"]),
        ("widgets", f"ipywidgets {facts['widgets']}" if facts["widgets"] else
                    "missing: pip install ipywidgets (plots fall back to printed lines)"),
        ("data cache", facts["data_cache"]),
        ("network", {True: "online: datasets can be downloaded",
                     False: "offline: labs use their offline data (cached or shipped with packages)",
                     None: "not checked"}[facts["online"]]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


COLAB_CPU_HINT = ("On Colab without a GPU: Runtime > Change runtime type > GPU, then run the labs "
                  "again (smoke mode also works on the CPU).")


def banner() -> None:
    """Print the one-line banner every lab starts with, and how to get a GPU on a CPU-only Colab."""
    from labkit.device import describe

    line = f"labkit {__version__} | {describe()}"
    if "google.colab" in sys.modules and get_device().type == "cpu":
        line += "\n" + COLAB_CPU_HINT
    print(line)


def doctor(check_network: bool = True) -> dict[str, Any]:
    """Print the environment report and return its facts."""
    facts = collect(check_network)
    print(render(facts))
    return facts
