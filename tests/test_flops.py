"""FLOP counting, the GPU peak table and model-FLOPs utilisation (labkit.flops, labkit.device.peak_flops)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labkit.device
from labkit.device import PEAK_FLOPS, peak_entry, peak_flops
from labkit.flops import count_flops, mfu, transformer_flops_per_token


def test_linear_forward_is_two_flops_per_multiply_add():
    layer, x = nn.Linear(32, 16), torch.randn(8, 32)
    assert count_flops(layer, x) == 2 * 8 * 32 * 16                 # the bias add is not counted


def test_forward_and_backward_is_three_forwards():
    layer = nn.Linear(32, 16)
    x = torch.randn(8, 32, requires_grad=True)                      # gradients for the input and the weight

    def train_step():
        layer(x).square().sum().backward()

    assert count_flops(train_step) == 3 * count_flops(layer, x)


def test_attention_on_the_cpu_is_counted_forward_and_backward():
    # forward: QK^T and the weighted sum, two products of 2·B·H·L·L·d FLOPs each; backward: the four
    # gradient products plus QK^T computed again (flash attention keeps no score matrix), five more
    b, h, length, d = 2, 3, 16, 8
    q, k, v = (torch.randn(b, h, length, d, requires_grad=True) for _ in range(3))
    product = 2 * b * h * length * length * d
    assert count_flops(F.scaled_dot_product_attention, q, k, v) == 2 * product
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward()) == 7 * product


def test_count_flops_passes_keyword_arguments_and_rejects_non_callables():
    assert count_flops(F.linear, torch.randn(4, 10), weight=torch.randn(3, 10)) == 2 * 4 * 10 * 3
    with pytest.raises(TypeError, match="callable"):
        count_flops(torch.randn(3))


@pytest.fixture
def gpu_named(monkeypatch):
    """Pretend the device is a CUDA GPU with the given name."""
    def pretend(name):
        monkeypatch.setattr(labkit.device, "get_device", lambda device=None: torch.device("cuda", 0))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    return pretend


@pytest.mark.parametrize("name, dtype, peak", [
    ("NVIDIA H100 80GB HBM3", torch.bfloat16, 989e12),
    ("NVIDIA H100 80GB HBM3", torch.float16, 989e12),
    ("NVIDIA H100 80GB HBM3", "tf32", 494e12),
    ("NVIDIA H100 80GB HBM3", torch.float32, 67e12),
    ("NVIDIA H100 PCIe", torch.bfloat16, 756e12),
    ("NVIDIA H100 NVL", torch.bfloat16, 835e12),
    ("NVIDIA H200", torch.bfloat16, 989e12),
    ("NVIDIA A100-SXM4-40GB", torch.bfloat16, 312e12),
    ("NVIDIA A100-SXM4-80GB", "tf32", 156e12),
    ("NVIDIA A100 80GB PCIe", "bf16", 312e12),
    ("NVIDIA L4", torch.bfloat16, 121e12),
    ("NVIDIA L40S", torch.bfloat16, 362e12),                          # "L40S", not "L4"
    ("Tesla T4", torch.float16, 65e12),
    ("Tesla T4", torch.bfloat16, None),                              # Turing has no bf16 tensor cores
    ("Tesla V100-SXM2-16GB", torch.float16, 125e12),
    ("Tesla V100-PCIE-32GB", torch.float16, 112e12),
    ("NVIDIA GeForce RTX 4090", torch.bfloat16, 165e12),
    ("NVIDIA A10G", torch.bfloat16, None),                           # not in the table: unknown, not A10
    ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", torch.bfloat16, None),     # a slice: its share is unknown
    ("Some Future GPU", torch.bfloat16, None),
])
def test_peak_table_lookup_by_gpu_name(gpu_named, name, dtype, peak):
    gpu_named(name)
    assert peak_flops(dtype=dtype) == peak


def test_peak_table_rows_are_plausible():
    for key, row in PEAK_FLOPS.items():
        assert peak_entry(f"NVIDIA {key}") is row
        assert set(row) <= {"bf16", "fp16", "tf32", "fp32"} and "fp32" in row
        assert all(1e12 < value < 3e15 for value in row.values()), key
        assert row["fp32"] <= min(row.values())                    # tensor cores are never slower


def test_no_peak_on_a_cpu():
    assert peak_flops("cpu") is None
    assert mfu(1e9, 1.0, device="cpu") is None


def test_peak_flops_rejects_an_unknown_dtype():
    with pytest.raises(ValueError, match="no peak for dtype"):
        peak_flops("cpu", torch.int8)


def test_mfu_is_achieved_over_peak(gpu_named):
    gpu_named("NVIDIA H100 80GB HBM3")
    assert mfu(989e12 * 0.35 * 0.5, 0.5) == pytest.approx(0.35)
    assert mfu(67e12, 2.0, dtype=torch.float32) == pytest.approx(0.5)
    assert mfu(torch.tensor(989e12), 1.0) == pytest.approx(1.0)
    assert mfu(0, 1.0) == 0.0


@pytest.mark.parametrize("flops, seconds, error", [
    (-1.0, 1.0, ValueError), (1e12, 0.0, ValueError), (1e12, -0.1, ValueError), (math.nan, 1.0, ValueError),
    (1e12, math.inf, ValueError), ("1e12", 1.0, TypeError), (1e12, None, TypeError), (True, 1.0, TypeError),
])
def test_mfu_rejects_bad_inputs(flops, seconds, error):
    with pytest.raises(error, match="flops_per_step|seconds_per_step"):
        mfu(flops, seconds, device="cpu")


def test_transformer_estimate_arithmetic():
    # BERT-base: 85M non-embedding parameters, 12 layers, hidden 768, sequence 128
    assert transformer_flops_per_token(85_000_000, 12, 768, 128) == 6 * 85_000_000 + 12 * 12 * 768 * 128
    with pytest.raises(ValueError, match="layers must be positive"):
        transformer_flops_per_token(1000, 0, 64, 16)
    with pytest.raises(ValueError, match="cannot be negative"):
        transformer_flops_per_token(-1, 2, 64, 16)
    with pytest.raises(TypeError, match="hidden must be an int"):
        transformer_flops_per_token(1000, 2, 64.0, 16)


def test_transformer_estimate_matches_the_counted_bert_training_step():
    """6N + 12·L·H·T per token, plus 6·(head parameters) per masked token, against the counter.

    N includes biases and LayerNorm weights, which the counter leaves out with all element-wise
    work: 0.2 % at this size (hidden 128); the tolerance is 1 %."""
    from labkit.mlm import mask_tokens
    from labkit.models import bert

    vocab, hidden, layers, length, batch = 1000, 128, 2, 32, 4
    torch.manual_seed(0)
    model = bert(vocab, hidden=hidden, layers=layers, heads=4, max_len=length, dropout=0.0, device="cpu")
    ids = torch.randint(5, vocab, (batch, length))
    inputs, labels = mask_tokens(ids, mask_id=4, vocab_size=vocab, generator=torch.Generator().manual_seed(0))
    chosen = labels != -100

    def step():
        hidden_states = model(inputs)
        F.cross_entropy(model.mlm_logits(hidden_states[chosen]), labels[chosen]).backward()

    counted = count_flops(step)
    non_embedding = sum(p.numel() for m in model.encoder.modules() if not isinstance(m, nn.Embedding)
                        for p in m.parameters(recurse=False))
    head = hidden * hidden + hidden * vocab                          # transform dense + tied output layer
    estimate = (batch * length * transformer_flops_per_token(non_embedding, layers, hidden, length)
                + int(chosen.sum()) * 6 * head)
    assert counted == pytest.approx(estimate, rel=0.01)
    assert counted < estimate                                        # what the counter leaves out, not more
