"""labkit.models.bert and labkit.mlm on a CUDA GPU: bf16 against fp32, fit(compile=True), the fused
attention kernels, host synchronisations of the MLM step, and the peak FLOP/s table."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import labkit
from labkit.data import DeviceLoader
from labkit.mlm import gather_masked, mask_tokens, mlm_step

QUIET = {"plot": False, "progress": False}
VOCAB, MASK_ID = 512, 4
REPO = Path(__file__).resolve().parents[2]
needs_bf16 = pytest.mark.skipif(torch.cuda.is_available() and not torch.cuda.is_bf16_supported(),
                                reason="this GPU has no bf16")


def counting_ids(n=512, length=64, seed=0):
    """Sequences 5 + (start + t) mod (VOCAB - 5): a masked token is predictable from its neighbours."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB - 5, (n, 1), generator=generator)
    return 5 + (start + torch.arange(length)) % (VOCAB - 5)


def small_bert(dropout=0.0, **sizes):
    labkit.seed_everything(0)
    shape = {"hidden": 128, "layers": 2, "heads": 2, "max_len": 64} | sizes   # head size 64: flash attention
    return labkit.models.bert(VOCAB, dropout=dropout, device="cuda", **shape)


def mlm_loss_and_grads(model, inputs, labels, dtype=None):
    model.zero_grad(set_to_none=True)
    chosen = labels != -100
    with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model.mlm_logits(model(inputs)[chosen]).float(), labels[chosen])
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])


@needs_bf16
def test_bf16_training_step_is_finite_and_matches_fp32():
    model = small_bert()
    ids = counting_ids(64).cuda()
    inputs, labels = mask_tokens(ids, mask_id=MASK_ID, vocab_size=VOCAB,
                                 generator=torch.Generator("cuda").manual_seed(0))
    loss32, grad32 = mlm_loss_and_grads(model, inputs, labels)
    loss16, grad16 = mlm_loss_and_grads(model, inputs, labels, torch.bfloat16)
    assert torch.isfinite(loss16) and torch.isfinite(grad16).all()
    assert abs(loss16 - loss32) < 0.02 * loss32                              # bf16: ~3 significant digits
    assert F.cosine_similarity(grad16, grad32, dim=0) > 0.99
    assert (grad16.norm() / grad32.norm() - 1).abs() < 0.05
    torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True).step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


@needs_bf16
def test_compiled_fit_pretrains():
    model = small_bert(dropout=0.1)
    ids = counting_ids(1024)
    history = labkit.fit(model, DeviceLoader(ids, torch.ones_like(ids, dtype=torch.bool), batch_size=64,
                                             device="cuda", seed=0),
                         epochs=3, step_fn=mlm_step(mask_id=MASK_ID, vocab_size=VOCAB), compile=True,
                         precision="bf16", optimizer=torch.optim.AdamW(model.parameters(), 1e-3, fused=True), **QUIET)
    losses = history["loss"]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


@needs_bf16
def test_unmasked_attention_runs_on_flash_attention():
    """Without a padding mask SDPA may use flash attention: restricted to it, forward and backward run
    (SDPA raises "No available kernel" when the restriction cannot be met)."""
    model = small_bert(dropout=0.1)
    inputs = counting_ids(32).cuda()
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.autocast("cuda", dtype=torch.bfloat16):
        hidden = model(inputs)
    hidden.float().square().mean().backward()
    assert torch.isfinite(hidden).all()


@needs_bf16
def test_padding_mask_runs_on_a_fused_kernel():
    """With a key-padding mask, flash attention cannot run; memory-efficient attention (or cuDNN's)
    can, and the padded batch gives the real tokens the states of the unpadded sequence."""
    model = small_bert().eval()
    ids = counting_ids(4, length=48).cuda()
    padded = torch.cat([ids, torch.zeros(4, 16, dtype=ids.dtype, device="cuda")], dim=1)
    mask = padded != 0
    with torch.no_grad(), sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]), \
            torch.autocast("cuda", dtype=torch.bfloat16):
        with_padding = model(padded, mask)[:, :48]
        alone = model(ids)
    assert (with_padding.float() - alone.float()).abs().max() < 0.05


def _gathered_step(model, optimizer, rows):
    """The MLM step without data-dependent shapes: ``rows`` positions per sequence, gathered by index."""
    def step(ids):
        inputs, labels = mask_tokens(ids, mask_id=MASK_ID, vocab_size=VOCAB)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            picked, targets = gather_masked(model(inputs), labels, rows)
            logits = model.mlm_logits(picked)
        loss = F.cross_entropy(logits.float(), targets, ignore_index=-100)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()
    return step


def _raises_no_sync(step, batches):
    for ids in batches[:2]:                       # warm-up: allocator, kernels, lazy optimiser state
        step(ids)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(ids) for ids in batches]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(torch.stack(losses)).all()


@needs_bf16
def test_a_gathered_head_mlm_step_has_no_host_syncs():
    model = small_bert()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)
    _raises_no_sync(_gathered_step(model, optimizer, rows=24), list(counting_ids(256).cuda().split(32)))


@needs_bf16
def test_mlm_step_has_no_host_syncs():
    """labkit.mlm.mlm_step gathers a fixed number of rows per sequence: nothing waits for the GPU."""
    model = small_bert()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)

    def optimize(loss):
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    ctx = SimpleNamespace(model=model, autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16), optimize=optimize)
    step = mlm_step(mask_id=MASK_ID, vocab_size=VOCAB)
    ids = counting_ids(256).cuda()
    mask = torch.ones_like(ids, dtype=torch.bool)
    _raises_no_sync(lambda batch: step(batch, ctx)["loss"], list(zip(ids.split(32), mask.split(32))))


def test_peak_flops_is_known_on_data_centre_ampere_and_hopper():
    capability = torch.cuda.get_device_capability()
    peak = labkit.device.peak_flops()
    if capability not in {(8, 0), (9, 0)}:
        pytest.skip(f"{torch.cuda.get_device_name()} (compute capability {capability}) is not an A100/H100/H200")
    assert peak is not None and peak >= 300e12, torch.cuda.get_device_name()
    assert labkit.device.peak_flops(dtype=torch.float32) < peak


def test_the_mfu_bench_runs_at_tiny_size():
    result = subprocess.run([sys.executable, "bench/bert_mfu.py", "--size", "tiny", "--batch", "64", "--steps", "5",
                             "--warmup", "3", "--variants", "ace"], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("(a)", "(c)", "(e)"))]
    assert len(lines) == 3 and all("tokens/s" in line for line in lines), result.stdout
    if labkit.device.peak_flops() is not None:
        assert "MFU      -" not in result.stdout                       # a percentage on a listed GPU
