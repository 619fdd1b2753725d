"""labkit: helpers for the deep-learning labs (devices, data, training, plots, widgets, checks)."""
__version__ = "0.1.0"

from importlib import import_module

from labkit import (adversarial, callbacks, checks, data, device, elbo, flops, losses, metrics, mlm, mode,  # noqa: E402
                    model_size, models, profiling, report, text, timing)
from labkit.doctor import banner, doctor  # noqa: E402
from labkit.device import describe, get_device, seed_everything  # noqa: E402
from labkit.history import History  # noqa: E402
from labkit.outputs import output_dir  # noqa: E402
from labkit.report import record  # noqa: E402
from labkit.train import evaluate, fit  # noqa: E402

# Figures need matplotlib's pyplot, slow to import and a backend choice: loaded on first use.
_LAZY_MODULES = ("plots", "widgets")

__all__ = ["History", "adversarial", "banner", "callbacks", "checks", "data", "describe", "device", "doctor", "elbo", "flops",
           "evaluate", "fit", "get_device", "losses", "metrics", "mlm", "mode", "model_size", "models", "output_dir", "plots",
           "profiling", "record", "report", "seed_everything", "text", "timing", "widgets"]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
