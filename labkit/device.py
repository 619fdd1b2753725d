"""Where to compute and in what precision: device choice, autocast policy, banner."""
from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from labkit.randomness import seed_everything  # noqa: F401  (labkit.device.seed_everything)

DEVICE_ENV = "LABKIT_DEVICE"
DEVICE_KINDS = ("cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class DeviceUnavailableError(RuntimeError):
    """A device was asked for that this machine does not have."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _best_available() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    An explicit ``device`` wins, then the ``LABKIT_DEVICE`` environment variable, then the best
    device available: cuda > mps > cpu. ``None`` and ``"auto"`` mean "choose for me".
    Asking for a device this machine lacks raises :class:`DeviceUnavailableError`.
    """
    source = "the device argument"
    if isinstance(device, torch.device):
        requested = device
    else:
        name = "auto" if device is None else str(device).strip().lower()
        if name == "auto" and os.environ.get(DEVICE_ENV, "").strip():
            name, source = os.environ[DEVICE_ENV].strip().lower(), f"${DEVICE_ENV}"
        if name == "auto":
            return _best_available()
        try:
            requested = torch.device(name)
        except RuntimeError:
            requested = None
        if requested is None or requested.type not in DEVICE_KINDS:
            raise ValueError(
                f"unknown device {name!r} (from {source}); use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            )
    if requested.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"CUDA was asked for ({source}: {str(requested)!r}) but this machine has no usable "
                f"CUDA GPU (torch {torch.__version__}). Use device='auto' or 'cpu'; on Colab choose "
                "Runtime > Change runtime type > GPU."
            )
        count = torch.cuda.device_count()
        if requested.index is not None and requested.index >= count:
            raise DeviceUnavailableError(
                f"{requested} was asked for ({source}) but this machine has {count} CUDA "
                f"device(s): use cuda:0 to cuda:{count - 1}."
            )
        if requested.index is None:
            requested = torch.device("cuda", torch.cuda.current_device())
    if requested.type == "mps" and not _mps_available():
        raise DeviceUnavailableError(
            f"MPS (Apple GPU) was asked for ({source}) but is not available here; use 'auto' or 'cpu'."
        )
    return requested


@dataclass(frozen=True)
class Precision:
    """How a device computes: an autocast dtype (None for plain fp32) and whether to scale gradients."""

    device_type: str
    dtype: torch.dtype | None
    grad_scaler: bool = False

    @property
    def name(self) -> str:
        if self.dtype is None:
            return "fp32"
        short = {torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        return f"{short} + GradScaler" if self.grad_scaler else short

    def autocast(self) -> AbstractContextManager:
        """A context manager that runs the enclosed forward pass in this precision."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A GradScaler: active for fp16 (on CUDA or the CPU), a transparent no-op otherwise."""
        return torch.amp.GradScaler(self.device_type if self.grad_scaler else "cpu", enabled=self.grad_scaler)


def policy_for(device_type: str, capability: tuple[int, int] | None = None,
               precision: str = "auto") -> Precision:
    """The precision policy for a device type (and CUDA compute capability).

    auto: bf16 on CUDA with compute capability >= 8.0 (Ampere, Hopper), fp16 with a GradScaler on
    7.x (Volta, Turing: Colab's T4 is 7.5, whose tensor cores run fp16), plain fp32 below 7.0
    (Pascal's fp16 is slow) and on CPU and MPS. Explicit "fp16" works on the CPU too (CPU autocast
    with a CPU GradScaler): slower than fp32 there, but it shows fp16 overflow and loss scaling.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device_type != "cuda" or capability is None or capability < (7, 0):
            return Precision(device_type, None)
        precision = "bf16" if capability >= (8, 0) else "fp16"
    if precision == "fp32":
        return Precision(device_type, None)
    if precision == "fp16":
        return Precision(device_type, torch.float16, grad_scaler=True)
    return Precision(device_type, torch.bfloat16)


def precision_policy(device: str | torch.device | None = None, precision: str = "auto") -> Precision:
    """The precision policy for ``device`` (see :func:`policy_for`)."""
    dev = get_device(device)
    capability = torch.cuda.get_device_capability(dev) if dev.type == "cuda" else None
    return policy_for(dev.type, capability, precision)


def describe(device: str | torch.device | None = None) -> str:
    """A one-line banner: device, GPU name and memory, precision, torch version."""
    dev = get_device(device)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        where = (f"{dev} ({props.name}, {props.total_memory / 2**30:.1f} GiB, "
                 f"compute capability {props.major}.{props.minor})")
    elif dev.type == "cpu":
        where = f"cpu ({torch.get_num_threads()} threads)"
    else:
        where = str(dev)
    return f"device {where} | precision {precision_policy(dev).name} | torch {torch.__version__}"


# Dense (no structured sparsity) peak FLOP/s per GPU, from NVIDIA's datasheets and architecture
# whitepapers. Keys: "bf16" and "fp16" (tensor cores, fp32 accumulation), "tf32" (tensor cores on
# fp32 tensors when TF32 matmuls are enabled), "fp32" (plain CUDA cores). A precision a GPU lacks
# (bf16 and tf32 on Turing and Volta) is absent: its peak is None. GeForce cards are listed at their
# fp32-accumulate rate (what autocast uses), half their fp16-accumulate rate.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H100":      {"bf16": 989e12, "fp16": 989e12, "tf32": 494e12, "fp32": 67e12},   # SXM5 (HBM3)
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "tf32": 378e12, "fp32": 51e12},
    "H100 NVL":  {"bf16": 835e12, "fp16": 835e12, "tf32": 418e12, "fp32": 60e12},
    "GH200":     {"bf16": 989e12, "fp16": 989e12, "tf32": 494e12, "fp32": 67e12},
    "H200":      {"bf16": 989e12, "fp16": 989e12, "tf32": 494e12, "fp32": 67e12},   # H100 SXM's compute
    "H200 NVL":  {"bf16": 835e12, "fp16": 835e12, "tf32": 418e12, "fp32": 60e12},
    "A100":      {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.5e12},  # SXM4 and PCIe
    "A10":       {"bf16": 125e12, "fp16": 125e12, "tf32": 62.5e12, "fp32": 31.2e12},
    "L4":        {"bf16": 121e12, "fp16": 121e12, "tf32": 60e12, "fp32": 30.3e12},
    "L40":       {"bf16": 181e12, "fp16": 181e12, "tf32": 90.5e12, "fp32": 90.5e12},
    "L40S":      {"bf16": 362e12, "fp16": 362e12, "tf32": 183e12, "fp32": 91.6e12},
    "RTX 4090":  {"bf16": 165e12, "fp16": 165e12, "tf32": 82.6e12, "fp32": 82.6e12},
    "RTX 3090":  {"bf16": 71e12, "fp16": 71e12, "tf32": 35.6e12, "fp32": 35.6e12},
    "T4":        {"fp16": 65e12, "fp32": 8.1e12},                                     # Turing: no bf16, no tf32
    "V100":      {"fp16": 125e12, "fp32": 15.7e12},                                   # SXM2
    "V100 PCIe": {"fp16": 112e12, "fp32": 14e12},
}
_PEAK_DTYPES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32",
                "bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "tf32": "tf32"}


def _name_tokens(name: str) -> list[str]:
    return name.upper().replace("-", " ").replace("_", " ").split()


def peak_entry(gpu_name: str) -> dict[str, float] | None:
    """The :data:`PEAK_FLOPS` row for a GPU name as CUDA reports it, or None if it is not listed.

    A key matches when its words appear in a row in the name's words ("-" counts as a space, case
    is ignored), and the longest matching key wins: "NVIDIA H100 PCIe" is "H100 PCIe", "NVIDIA H100
    80GB HBM3" is "H100", "NVIDIA A100-SXM4-40GB" is "A100", "NVIDIA L40S" is "L40S" (not "L4").
    A MIG slice ("... MIG 1g.10gb") has a fraction of the GPU, unknown here: None.
    """
    words = _name_tokens(gpu_name)
    if "MIG" in words:
        return None
    best: tuple[int, str] | None = None
    for key in PEAK_FLOPS:
        k = _name_tokens(key)
        if any(words[i:i + len(k)] == k for i in range(len(words) - len(k) + 1)):
            if best is None or len(k) > best[0]:
                best = (len(k), key)
    return None if best is None else PEAK_FLOPS[best[1]]


def peak_flops(device: str | torch.device | None = None, dtype: torch.dtype | str = torch.bfloat16) -> float | None:
    """Dense peak FLOP/s of ``device`` (default: the best available) computing in ``dtype``.

    ``dtype``: torch.bfloat16 / torch.float16 (tensor cores), torch.float32 (plain fp32 on CUDA
    cores), or one of the strings "bf16", "fp16", "fp32", "tf32" ("tf32": fp32 matmuls on tensor
    cores, ``torch.backends.cuda.matmul.allow_tf32`` or ``set_float32_matmul_precision("high")``).
    None on a CPU or MPS, on a GPU missing from :data:`PEAK_FLOPS`, and for a precision the GPU has
    no fast path for (bf16 on a T4): model-FLOPs utilisation is not meaningful there.
    """
    if dtype not in _PEAK_DTYPES:
        raise ValueError(f"no peak for dtype {dtype!r}; use torch.bfloat16, torch.float16, torch.float32 "
                         "or 'bf16', 'fp16', 'fp32', 'tf32'")
    dev = get_device(device)
    if dev.type != "cuda":
        return None
    entry = peak_entry(torch.cuda.get_device_name(dev))
    return None if entry is None else entry.get(_PEAK_DTYPES[dtype])
