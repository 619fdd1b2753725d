"""labkit's efficiency tools (lab 08): latency, profile, model size, the distillation loss and their pictures."""
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

import labkit
from labkit.losses import ShapeMismatchError, distillation_loss
from labkit.model_size import count_parameters, size_on_disk
from labkit.profiling import category_of, profile
from labkit.timing import Timing, latency, synchronizer


# --- latency ------------------------------------------------------------------------------------

def test_latency_warms_up_then_times_each_call():
    calls = []
    timing = latency(lambda: calls.append(1), warmup=3, repeats=7)
    assert len(calls) == 10 and len(timing.samples) == 7
    assert all(s >= 0 for s in timing.samples) and timing.median <= max(timing.samples)


def test_timing_median_and_interquartile_spread():
    timing = Timing((0.004, 0.001, 0.003, 0.002, 0.005))
    assert timing.median == 0.003
    assert timing.spread == pytest.approx(0.002)            # q3 0.004 - q1 0.002
    assert Timing((0.5,)).spread == 0.0
    assert str(timing) == "3 ms (IQR 2 ms, 5 runs)"
    assert "µs" in str(Timing((2e-6, 3e-6)))


def test_latency_measures_a_slower_function_as_slower():
    x = torch.randn(200, 200)
    small = latency(lambda: x[:20, :20] @ x[:20, :20], warmup=2, repeats=15)
    large = latency(lambda: x @ x @ x, warmup=2, repeats=15)
    assert large.median > small.median


@pytest.mark.parametrize("kwargs, message", [
    ({"fn": 3}, "needs a function"),
    ({"repeats": 0}, "repeats must be a positive integer"),
    ({"warmup": -1}, "warmup must be a non-negative integer"),
    ({"warmup": True}, "warmup must be a non-negative integer"),
])
def test_latency_rejects_bad_arguments(kwargs, message):
    arguments = {"fn": lambda: None, **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        latency(**arguments)


def test_synchronizer_waits_only_for_asynchronous_devices():
    assert synchronizer("cpu")() is None
    if not torch.cuda.is_available():
        assert synchronizer(None)() is None           # nothing to wait for without CUDA in use


# --- model size ---------------------------------------------------------------------------------

def test_size_on_disk_is_four_bytes_per_float32_parameter_plus_a_small_header():
    model = nn.Linear(200, 100)
    size = size_on_disk(model)
    assert 4 * count_parameters(model) <= size < 4 * count_parameters(model) + 4_000


def test_pruned_zeros_shrink_only_the_compressed_file_and_the_nonzero_count():
    torch.manual_seed(0)
    model = nn.Linear(300, 200)
    dense, dense_gz = size_on_disk(model), size_on_disk(model, compress=True)
    with torch.no_grad():
        model.weight[torch.rand_like(model.weight) < 0.9] = 0.0
    assert abs(size_on_disk(model) - dense) < 100                      # the same dense file
    assert size_on_disk(model, compress=True) < 0.4 * dense_gz          # but 90 % zeros compress
    nonzero = count_parameters(model, nonzero=True)
    assert nonzero == int((model.weight != 0).sum()) + 200
    assert count_parameters(model) == 300 * 200 + 200


def test_nonzero_count_reads_the_masked_weight_of_torch_prune():
    model = nn.Sequential(nn.Linear(50, 40), nn.ReLU(), nn.Linear(40, 10))
    prune.l1_unstructured(model[0], "weight", amount=0.75)
    assert count_parameters(model, nonzero=True) == 500 + 40 + 400 + 10     # 25 % of 2,000 weights left
    assert count_parameters(model) == 2000 + 40 + 400 + 10                  # weight_orig is still dense


def test_dynamic_int8_weights_are_about_four_times_smaller_on_disk():
    model = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    assert 3 < size_on_disk(model) / size_on_disk(quantized) < 4.2


def test_model_size_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        size_on_disk({"weight": torch.ones(3)})
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_parameters(torch.ones(3))


# --- the distillation loss ----------------------------------------------------------------------

def _logits(seed=0, n=16, c=10):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=gen, dtype=torch.float64) * 3,
            torch.randn(n, c, generator=gen, dtype=torch.float64) * 3,
            torch.randint(0, c, (n,), generator=gen))


def test_distillation_loss_matches_its_definition():
    student, teacher, y = _logits()
    t, alpha = 3.0, 0.7
    p_t, p_s = torch.softmax(teacher / t, -1), torch.softmax(student / t, -1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    expected = alpha * t ** 2 * kl + (1 - alpha) * F.cross_entropy(student, y)
    assert torch.allclose(distillation_loss(student, teacher, y, temperature=t, alpha=alpha), expected)
    assert torch.allclose(distillation_loss(student, teacher, y, alpha=0.0), F.cross_entropy(student, y))
    assert distillation_loss(teacher, teacher, y, alpha=1.0).abs() < 1e-12        # nothing to learn from itself


def test_the_t_squared_factor_keeps_the_soft_gradient_the_same_size_at_high_temperature():
    student, teacher, y = _logits(1)
    student, teacher = student - student.mean(-1, keepdim=True), teacher - teacher.mean(-1, keepdim=True)
    norms = []
    for t in (10.0, 20.0, 40.0):
        s = student.clone().requires_grad_()
        distillation_loss(s, teacher, y, temperature=t, alpha=1.0).backward()
        norms.append(s.grad.norm().item())
    # T² · (p_s - p_t) / T → (z_s - z_t) / (C N) as T grows: the same gradient at every high temperature
    limit = ((student - teacher) / (10 * len(y))).norm().item()
    assert all(abs(n / limit - 1) < 0.05 for n in norms)


def test_no_gradient_flows_into_the_teacher():
    student, teacher, y = _logits(2)
    student.requires_grad_()
    teacher.requires_grad_()
    distillation_loss(student, teacher, y).backward()
    assert teacher.grad is None and student.grad is not None


@pytest.mark.parametrize("change, error, message", [
    ({"teacher_logits": torch.zeros(16, 9)}, ShapeMismatchError, "must both have shape"),
    ({"targets": torch.zeros(16)}, ShapeMismatchError, "integer class labels"),
    ({"targets": torch.zeros(15, dtype=torch.int64)}, ShapeMismatchError, "integer class labels"),
    ({"temperature": 0}, ValueError, "temperature must be a positive number"),
    ({"alpha": 1.5}, ValueError, "alpha weighs"),
])
def test_distillation_loss_rejects_bad_inputs(change, error, message):
    student, teacher, y = _logits()
    arguments = {"student_logits": student, "teacher_logits": teacher, "targets": y, **change}
    with pytest.raises(error, match=message):
        distillation_loss(**arguments)


# --- profile ------------------------------------------------------------------------------------

def _cnn_batch():
    torch.manual_seed(0)
    model = labkit.models.small_cnn(channels=(4, 8), device="cpu")
    return model, (torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,)))


def test_profile_of_a_training_step_splits_time_by_operator_kind_and_phase():
    model, batch = _cnn_batch()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    prof = profile(model, batch, loss_fn=F.cross_entropy, optimizer=optimizer, steps=2)
    assert prof.step_seconds > 0 and not prof.on_gpu and prof.launches == 0
    kinds = prof.categories()
    assert "convolution" in kinds and "normalisation" in kinds and "pooling" in kinds
    assert list(kinds.values()) == sorted(kinds.values(), reverse=True)
    assert prof.phases["forward"] > 0 and prof.phases["backward"] > 0 and prof.phases["optimiser"] > 0
    assert any(op.name == "aten::convolution_backward" for op in prof.ops)
    assert all(op.calls > 0 for op in prof.ops)
    assert "aten::" in prof.table(rows=5) and len(prof.table(rows=5).splitlines()) == 7
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))   # the optimiser stepped


def test_profile_on_a_cpu_has_no_gpu_column_and_keeps_the_profilers_log_out_of_stderr():
    # in a fresh process: the tracing library reads its log level once, at its first use
    script = ("import torch, labkit; from labkit.profiling import profile\n"
              "model = labkit.models.small_cnn(channels=(4, 8), device='cpu')\n"
              "print(profile(model.eval(), torch.randn(4, 1, 28, 28), steps=1).table(rows=3))\n")
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "CPU ms" in done.stdout and "GPU ms" not in done.stdout
    assert "profiler_start" not in done.stderr and "gpuGetDeviceCount" not in done.stderr, done.stderr


def test_profile_of_a_forward_pass_has_no_backward():
    model, (x, _) = _cnn_batch()
    prof = profile(model.eval(), x, steps=1, warmup=0)
    assert prof.phases["forward"] > 0 and prof.phases["backward"] == 0 == prof.phases["optimiser"]
    assert not any("backward" in op.name for op in prof.ops)


@pytest.mark.parametrize("name, kind", [
    ("aten::mkldnn_convolution", "convolution"), ("aten::addmm", "matrix multiply"),
    ("aten::native_batch_norm_backward", "normalisation"), ("aten::max_pool2d_with_indices", "pooling"),
    ("aten::threshold_backward", "activation"), ("aten::nll_loss_forward", "loss"),
    ("aten::_foreach_add_", "optimiser arithmetic"), ("aten::_to_copy", "memory and copies"),
    ("cudaLaunchKernel", "CUDA runtime"), ("cudaStreamSynchronize", "host sync"), ("aten::flip", "other"),
])
def test_operators_are_sorted_into_kinds_of_work(name, kind):
    assert category_of(name) == kind


def test_profile_rejects_bad_calls():
    model, (x, y) = _cnn_batch()
    with pytest.raises(TypeError, match="nn.Module"):
        profile(lambda t: t, x)
    with pytest.raises(ValueError, match="needs targets"):
        profile(model, x, loss_fn=F.cross_entropy)
    with pytest.raises(TypeError, match="an \\(inputs, targets\\) pair"):
        profile(model, [x, y, y])
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        profile(model, x, steps=0)


# --- pictures -----------------------------------------------------------------------------------

def test_roofline_draws_the_roof_and_every_point():
    fig = labkit.plots.roofline({"matmul 512": (85.0, 4e10), "relu": (0.125, 1e9)}, peak_flops=5e10, bandwidth=1e10)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    roof = ax.lines[0].get_ydata()
    assert roof.max() == pytest.approx(5e10) and ax.get_xscale() == "log"
    assert len(ax.collections) == 2 and {t.get_text() for t in ax.texts} >= {"matmul 512", "relu"}
    with pytest.raises(ValueError, match="must be positive"):
        labkit.plots.roofline({"x": (1.0, 1.0)}, peak_flops=0, bandwidth=1)
    with pytest.raises(ValueError, match="'bad'"):
        labkit.plots.roofline({"bad": (0.0, 1.0)}, peak_flops=1, bandwidth=1)


def test_profile_breakdown_has_one_bar_per_kind_of_work():
    model, batch = _cnn_batch()
    prof = profile(model, batch, loss_fn=F.cross_entropy, steps=1)
    fig = labkit.plots.profile_breakdown(prof)
    assert len(fig.axes[0].patches) == len(prof.categories())


def test_temperature_explorer_spreads_the_soft_targets_as_the_temperature_rises():
    logits = torch.tensor([8.0, 1.0, 0.0, 3.0, -2.0])
    explorer = labkit.widgets.TemperatureExplorer(logits, class_names="abcde")
    assert np.allclose(explorer.probabilities, torch.softmax(logits, 0).numpy(), atol=1e-6)
    first = explorer.image.value
    explorer.temperature.value = 10.0                        # what dragging the slider does
    assert explorer.image.value != first
    p = explorer.probabilities
    assert np.allclose(p, torch.softmax(logits / 10, 0).numpy(), atol=1e-6) and p.max() < 0.5
    assert math.isclose(p.sum(), 1.0, rel_tol=1e-9)
    assert len(explorer.figure.axes[0].patches) == 5
    with pytest.raises(ValueError, match="3 class names for 5 logits"):
        labkit.widgets.TemperatureExplorer(logits, class_names="abc")
    with pytest.raises(ValueError, match="temperature must lie"):
        labkit.widgets.TemperatureExplorer(logits, temperature=0)
