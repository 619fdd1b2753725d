"""Where a training step spends its time: torch.profiler, summarised per operator, kind of work and phase."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.profiler import ProfilerActivity, record_function

from labkit.arguments import check_positive_int
from labkit.timing import synchronizer

PHASES = ("data", "forward", "loss", "backward", "optimiser")

# The kind of work an operator does, by a fragment of its name (first match wins).
_CATEGORIES = (
    ("convolution", ("conv",)),
    ("matrix multiply", ("addmm", "aten::mm", "bmm", "matmul", "linear", "dot_product", "attention")),
    ("normalisation", ("norm",)),
    ("pooling", ("pool",)),
    ("activation", ("relu", "clamp", "threshold", "gelu", "sigmoid", "tanh", "softmax", "dropout", "bernoulli")),
    ("loss", ("nll", "cross_entropy", "mse_loss", "kl_div", "binary_cross")),
    ("optimiser arithmetic", ("_foreach", "addcdiv", "addcmul", "lerp", "sqrt", "add_", "mul_", "div_")),
    ("memory and copies", ("copy", "_to_copy", "empty", "fill_", "zero_", "clone", "contiguous", "memcpy",
                           "memset", "cat", "stack", "view", "reshape", "as_strided", "transpose", "permute")),
    ("reading values back", ("_local_scalar_dense", "aten::item")),
)
_SYNC_NAMES = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")
_LAUNCH_NAMES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


def category_of(op_name: str) -> str:
    """The kind of work an operator name stands for ("convolution", "matrix multiply", ..., "other")."""
    if op_name in _SYNC_NAMES:
        return "host sync"
    if op_name.startswith("cu"):
        return "CUDA runtime"        # launches and copies queued from the host: the launch overhead
    name = op_name.lower()
    for category, fragments in _CATEGORIES:
        if any(fragment in name for fragment in fragments):
            return category
    return "other"


@dataclass(frozen=True)
class OpStat:
    """One operator's share of a step: calls, and seconds of its own work (children excluded)."""

    name: str
    category: str
    calls: float
    cpu_seconds: float
    device_seconds: float


@dataclass(frozen=True)
class Profile:
    """A profiled step, every figure per step (averaged over the profiled steps)."""

    ops: list[OpStat]
    phases: dict[str, float]          # host seconds spent in data, forward, loss, backward, optimiser
    step_seconds: float               # wall-clock seconds of one unprofiled step (synchronised)
    launches: float                   # CUDA kernel launches (0 on a CPU)
    syncs: float                      # times the host waited for the GPU (.item(), bool(t), printing a value...)
    device: torch.device

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def categories(self) -> dict[str, float]:
        """Seconds per step by kind of work, largest first: GPU kernel time on a GPU, CPU time otherwise."""
        totals: dict[str, float] = {}
        for op in self.ops:
            seconds = op.device_seconds if self.on_gpu else op.cpu_seconds
            totals[op.category] = totals.get(op.category, 0.0) + seconds
        return dict(sorted(((k, v) for k, v in totals.items() if v > 0), key=lambda kv: -kv[1]))

    def table(self, rows: int = 12) -> str:
        """The ``rows`` most expensive operators as a fixed-width text table."""
        key = (lambda op: op.device_seconds) if self.on_gpu else (lambda op: op.cpu_seconds)
        gpu_column = f" {'GPU ms':>8}" if self.on_gpu else ""
        lines = [f"{'operator':<40} {'kind':<20} {'calls':>6} {'CPU ms':>8}{gpu_column}"]
        for op in sorted(self.ops, key=key, reverse=True)[:rows]:
            gpu_ms = f" {op.device_seconds * 1e3:>8.2f}" if self.on_gpu else ""
            lines.append(f"{op.name[:40]:<40} {op.category:<20} {op.calls:>6.0f} {op.cpu_seconds * 1e3:>8.2f}{gpu_ms}")
        gpu = f", {self.launches:.0f} kernel launches, {self.syncs:.0f} host syncs" if self.on_gpu else ""
        lines.append(f"one step: {self.step_seconds * 1e3:.2f} ms wall-clock{gpu}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
        return batch[0], batch[1]
    raise TypeError("batch must be an input tensor or an (inputs, targets) pair of tensors, got "
                    f"{type(batch).__name__}")


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _step_function(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None,
                   loss_fn: Callable | None, optimizer: torch.optim.Optimizer | None) -> Callable[[], None]:
    device = _model_device(model)

    def train_step() -> None:
        with record_function("data"):
            x, y = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with record_function("forward"):
            output = model(x)
        with record_function("loss"):
            loss = loss_fn(output, y)
        with record_function("backward"):
            loss.backward()
        with record_function("optimiser"):
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            else:
                model.zero_grad(set_to_none=True)

    def forward_step() -> None:
        with record_function("data"):
            x = inputs.to(device, non_blocking=True)
        with torch.no_grad(), record_function("forward"):
            model(x)

    return train_step if loss_fn is not None else forward_step


def _phase_of(event) -> str:
    while event.cpu_parent is not None:
        event = event.cpu_parent
    if event.name in PHASES:
        return event.name
    return "backward" if "autograd" in event.name else "other"     # the autograd engine's own thread


def profile(model: nn.Module, batch, loss_fn: Callable | None = None,
            optimizer: torch.optim.Optimizer | None = None, steps: int = 3, warmup: int = 1) -> Profile:
    """Profile ``steps`` steps of ``model`` on ``batch`` with torch.profiler, after ``warmup`` steps.

    With ``loss_fn`` a step is a training step (inputs and targets moved to the model's device,
    forward, loss, backward, then ``optimizer.step()`` when an optimiser is given); without, a forward
    pass under ``torch.no_grad()``. ``batch`` is an input tensor or an (inputs, targets) pair. The
    model's parameters change when an optimiser is given, as in training.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile needs a torch.nn.Module, got {type(model).__name__}")
    inputs, targets = _split_batch(batch)
    if loss_fn is not None and targets is None:
        raise ValueError("a training step needs targets: pass batch=(inputs, targets), or no loss_fn to "
                         "profile the forward pass alone")
    steps = check_positive_int(steps, "steps")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    step = _step_function(model, inputs, targets, loss_fn, optimizer)
    device = _model_device(model)
    sync = synchronizer(device)
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    step_seconds = (time.perf_counter() - start) / steps

    # Kineto, the profiler's tracing library, reads its log level once, when first used: without this
    # it writes its start/stop markers (and, with a CUDA build on a machine without a GPU, an "ERROR"
    # about the missing device) to the notebook's stderr. A level the user set is kept.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync()
    return _summarise(prof, steps, step_seconds, device)


def _summarise(prof, steps: int, step_seconds: float, device: torch.device) -> Profile:
    ops, launches, syncs = [], 0.0, 0.0
    for avg in prof.key_averages():
        if avg.key in _LAUNCH_NAMES:
            launches += avg.count / steps
        if avg.key in _SYNC_NAMES:
            syncs += avg.count / steps
        if avg.device_type != torch.autograd.DeviceType.CPU or avg.key in PHASES or \
                avg.key.startswith(("Optimizer.", "autograd::", "ProfilerStep")):
            continue      # GPU kernels are counted in the operators that launch them; ranges hold no work of their own
        ops.append(OpStat(avg.key, category_of(avg.key), avg.count / steps, avg.self_cpu_time_total * 1e-6 / steps,
                          getattr(avg, "self_device_time_total", 0.0) * 1e-6 / steps))
    phases = dict.fromkeys(PHASES, 0.0)
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CPU:
            phase = _phase_of(event)
            phases[phase] = phases.get(phase, 0.0) + event.self_cpu_time_total * 1e-6 / steps
    if device.type == "cuda":
        syncs = max(0.0, syncs - 1 / steps)       # the one synchronisation that closes the profiled steps
    ops.sort(key=lambda op: -(op.device_seconds if device.type == "cuda" else op.cpu_seconds))
    return Profile(ops, phases, step_seconds, launches, syncs, device)
