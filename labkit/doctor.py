"""`labkit doctor`: what this environment can do, in one table."""
from __future__ import annotations

import platform
import socket
import sys
from typing import Any

import torch

from labkit import __version__
from labkit.data.cache import describe_data_dirs
from labkit.device import DEVICE_ENV, DeviceUnavailableError, get_device, precision_policy
from labkit.mode import default

# A host every dataset download needs (torchvision's MNIST mirror); reaching it means "online".
PROBE_HOST = ("ossci-datasets.s3.amazonaws.com", 443)


def is_online(host: tuple[str, int] = PROBE_HOST, timeout: float = 2.0) -> bool:
    """True if a TCP connection to ``host`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def _device_facts() -> dict[str, Any]:
    """device, precision and the GPU's properties, or (device_problem) why no device can be used."""
    try:
        dev = get_device()
    except (DeviceUnavailableError, ValueError) as err:   # only $LABKIT_DEVICE can ask for one
        return {"device": None, "precision": None,
                "device_problem": f"{str(err).rstrip('.')}. Fix: unset {DEVICE_ENV} (or set it "
                                  "to auto) to use the best device this machine has."}
    facts: dict[str, Any] = {"device": str(dev), "precision": precision_policy(dev).name,
                             "device_problem": None}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        facts.update(gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                     gpu_capability=f"{props.major}.{props.minor}")
    return facts


def _mode_facts() -> dict[str, Any]:
    """The run mode the labs will pick (from $LABKIT_MODE), or (mode_problem) why it is invalid."""
    try:
        return {"mode": default(), "mode_problem": None}
    except ValueError as err:
        return {"mode": None, "mode_problem": f"{err} (or unset it)"}


def collect(check_network: bool = True) -> dict[str, Any]:
    """The facts doctor reports, as a dict (stable keys; values are plain data).

    Nothing here raises for a misconfigured environment: what is wrong is described in
    ``device_problem``, ``mode_problem`` or ``data_cache``, and every such message is also listed
    in ``problems`` (empty when the labs can run here).
    """
    facts: dict[str, Any] = {
        "labkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        **_device_facts(),
        **_mode_facts(),
    }
    try:
        import ipywidgets
        facts["widgets"] = ipywidgets.__version__
    except ImportError:
        facts["widgets"] = None
    problems = [facts["device_problem"], facts["mode_problem"]]
    facts["data_cache"] = describe_data_dirs()
    if "NOT WRITABLE" in facts["data_cache"]:
        problems.append(f"data cache: {facts['data_cache']}")
    facts["online"] = is_online() if check_network else None
    from labkit.grading.sandbox import probe

    facts["grading_isolated"], facts["grading_sandbox"] = probe()
    facts["problems"] = [problem for problem in problems if problem]
    return facts


def render(facts: dict[str, Any]) -> str:
    """The facts as an aligned two-column table, with advice where something is missing or wrong."""
    device_problem = facts.get("device_problem")
    rows = [
        ("labkit", facts["labkit"]),
        ("python", f"{facts['python']} ({sys.executable})"),
        ("torch", f"{facts['torch']} (CUDA build {facts['cuda_version'] or 'none'})"),
        ("device", f"PROBLEM: {device_problem}" if device_problem else facts["device"]),
    ]
    if "gpu_name" in facts:
        rows.append(("GPU", f"{facts['gpu_name']}, {facts['gpu_memory_gib']} GiB, "
                            f"compute capability {facts['gpu_capability']}"))
    mode_problem = facts.get("mode_problem")
    rows += [
        ("precision", "unknown until the device problem is fixed" if device_problem else facts["precision"]),
        ("mode", f"PROBLEM: {mode_problem}" if mode_problem else facts.get("mode")),
        ("widgets", f"ipywidgets {facts['widgets']}" if facts["widgets"] else
                    "missing: pip install 'labkit[widgets]' (plots fall back to printed lines)"),
        ("data cache", facts["data_cache"]),
        ("network", {True: "online: datasets can be downloaded",
                     False: "offline: labs use their offline data (cached or shipped with packages)",
                     None: "not checked"}[facts["online"]]),
        ("grading", f"isolated: each submission's kernel runs in {facts['grading_sandbox']} (no network, "
                    "only its own folder writable, resource limits)" if facts["grading_isolated"] else
                    f"NOT isolated: {facts['grading_sandbox']}; labkit grade runs submissions with your "
                    "permissions (apt-get install bubblewrap on Linux, or grade inside a container)"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    problems = facts.get("problems", [])
    if problems:
        lines.append(f"\n{len(problems)} problem(s) found (above); fix them and run labkit doctor again.")
    return "\n".join(lines)


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
    """Print the environment report and return its facts (``facts["problems"]`` lists what is wrong)."""
    facts = collect(check_network)
    print(render(facts))
    return facts
