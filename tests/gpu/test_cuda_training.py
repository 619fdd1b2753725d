"""fit on a CUDA GPU: bf16 and fp16 with loss scaling, channels_last, DeviceLoader, two optimisers,
resume across devices, torch.compile, and how often the loop waits for the GPU."""
import warnings

import pytest
import torch
from torch import nn

import labkit
from fitting import Regressor, regression_data, weights
from labkit.batches import DeviceMismatchError
from labkit.data import DeviceLoader
from labkit.train import NAN_CHECK_EVERY, fit

QUIET = {"plot": False, "progress": False}


@pytest.fixture
def cuda():
    return torch.device("cuda")


def images(n=512, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    x = torch.randn(n, 1, 28, 28, generator=generator) * 0.5
    x[torch.arange(n), 0, labels * 2 + 4, 4:24] += 2.0          # a learnable stripe per class
    return x, labels


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_converges(cuda, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    X, y = images()
    labkit.seed_everything(0)
    model = labkit.models.small_cnn(channels=(16, 32), device=cuda)
    scales = []
    history = fit(model, DeviceLoader(X, y, batch_size=64, device=cuda, seed=0), epochs=4,
                  loss_fn=nn.CrossEntropyLoss(), precision=precision, val=(X, y),
                  metrics={"accuracy": labkit.metrics.accuracy},
                  callbacks=[lambda h, ctx: scales.append(ctx.scaler.get_scale() if ctx.scaler.is_enabled() else None)],
                  **QUIET)
    assert history.last("val_accuracy") > 0.9
    assert (scales[-1] is not None) == (precision == "fp16")


def test_auto_precision_matches_the_compute_capability(cuda):
    policy = labkit.device.precision_policy(cuda)
    major, _ = torch.cuda.get_device_capability(cuda)
    assert policy.name == ("bf16" if major >= 8 else "fp16 + GradScaler" if major >= 7 else "fp32")


def test_channels_last_models_and_data(cuda):
    model = labkit.models.small_cnn(device=cuda)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    X, y = images(256)
    loader = DeviceLoader(X.contiguous(memory_format=torch.channels_last), y, batch_size=64, device=cuda)
    batch = next(iter(loader))[0]
    assert batch.is_cuda and batch.is_contiguous(memory_format=torch.channels_last)
    history = fit(model, loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), **QUIET)
    assert len(history) == 1


def test_device_loader_shuffles_on_the_gpu_reproducibly(cuda):
    X = torch.arange(100.0)
    first = [b[0].clone() for b in DeviceLoader(X, batch_size=10, device=cuda, seed=3)]
    second = [b[0].clone() for b in DeviceLoader(X, batch_size=10, device=cuda, seed=3)]
    assert all(b.is_cuda for b in first) and torch.equal(torch.cat(first), torch.cat(second))
    assert not torch.equal(torch.cat(first).cpu(), X) and torch.equal(torch.cat(first).sort().values.cpu(), X)


def test_data_copied_back_from_the_gpu_is_complete(cuda):
    X = torch.randn(4096, 64, device=cuda) * 3 + 1
    on_cpu = DeviceLoader(X, device="cpu", shuffle=False)      # a blocking copy: never read half-arrived
    assert torch.equal(on_cpu.tensors[0], X.cpu())
    with pytest.raises(DeviceMismatchError, match="is on cuda"):
        fit(Regressor(64), DeviceLoader(X, X[:, 0], device=cuda), epochs=1, loss_fn=nn.MSELoss(), **QUIET)


def test_dict_batches_from_a_cpu_dataloader_reach_the_gpu(cuda):
    X, y = regression_data(64)
    loader = [{"x": X[i:i + 16], "y": y[i:i + 16]} for i in range(0, 64, 16)]
    devices = set()

    def step(batch, ctx):
        devices.update(t.device.type for t in batch.values())
        with ctx.autocast():
            loss = ctx.loss(ctx.model(batch["x"]), batch["y"])
        ctx.optimize(loss)
        return {"loss": loss.detach()}

    fit(Regressor().to(cuda), loader, epochs=1, loss_fn=nn.MSELoss(), step_fn=step, **QUIET)
    assert devices == {"cuda"}


def test_two_optimisers_with_fp16_loss_scaling(cuda):
    X, y = regression_data(256)
    model = Regressor(hidden=32).to(cuda)
    optimizers = {"body": torch.optim.Adam(model.body.parameters(), 1e-2),
                  "head": torch.optim.Adam(model.head.parameters(), 1e-2)}

    def step(batch, ctx):
        for name in ("head", "body"):
            with ctx.autocast():
                loss = ctx.loss(ctx.model(batch[0]), batch[1])
            ctx.optimize(loss, name)
        return {"loss": loss.detach()}

    history = fit(model, (X, y), epochs=20, loss_fn=nn.MSELoss(), step_fn=step, optimizer=optimizers,
                  precision="fp16", **QUIET)
    assert history.last("loss") < history["loss"][0] / 5


def test_resume_across_devices_saved_on_cuda_loaded_on_cpu(cuda, tmp_path, capsys):
    X, y = regression_data(128)
    ck = tmp_path / "ck.pt"
    labkit.seed_everything(0)
    on_gpu = Regressor().to(cuda)
    fit(on_gpu, DeviceLoader(X, y, batch_size=16, device=cuda, seed=1), epochs=2, loss_fn=nn.MSELoss(),
        checkpoint=ck, **QUIET)
    on_cpu = Regressor()
    history = fit(on_cpu, DeviceLoader(X, y, batch_size=16, device="cpu", seed=1), epochs=2,
                  loss_fn=nn.MSELoss(), checkpoint=ck, resume=True, **QUIET)
    assert len(history) == 2 and torch.equal(weights(on_cpu), weights(on_gpu).cpu())
    assert "shuffled on cuda" in capsys.readouterr().out
    history = fit(on_cpu, DeviceLoader(X, y, batch_size=16, device="cpu", seed=1), epochs=3,
                  loss_fn=nn.MSELoss(), checkpoint=ck, resume=True, **QUIET)
    assert history["epoch"] == [1, 2, 3]


def test_compile_with_inductor(cuda, tmp_path):
    X, y = images(512)
    labkit.seed_everything(0)
    model = labkit.models.small_cnn(channels=(16, 32), device=cuda)
    history = fit(model, DeviceLoader(X, y, batch_size=64, device=cuda), epochs=3, loss_fn=nn.CrossEntropyLoss(),
                  compile=True, val=(X, y), metrics={"accuracy": labkit.metrics.accuracy},
                  checkpoint=tmp_path / "ck.pt", **QUIET)
    assert history.last("val_accuracy") > 0.9
    labkit.models.small_cnn(channels=(16, 32), device="cpu").load_state_dict(
        labkit.checkpoint.load_checkpoint(tmp_path / "ck.pt", map_location="cpu")["model"])


def _synchronisations(precision: str, optimizer=None) -> tuple[int, int]:
    """(host syncs during a 2-epoch fit, steps per epoch), counted by CUDA's sync debug mode.

    ``optimizer(params)`` builds the optimiser; default: fit's own (fused Adam on CUDA).
    """
    X, y = images(64 * 160)
    cuda = torch.device("cuda")
    model = labkit.models.small_cnn(channels=(8, 16), device=cuda)
    loader = DeviceLoader(X, y, batch_size=64, device=cuda, seed=0)

    def train(epochs):
        fit(model, loader, epochs=epochs, loss_fn=nn.CrossEntropyLoss(), precision=precision,
            optimizer=optimizer(model.parameters()) if optimizer else None, **QUIET)

    train(1)                                                    # warm-up: kernels, allocator
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train(2)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught), len(loader)


@pytest.mark.parametrize("precision", ["bf16", "fp32", "fp16"])
def test_host_syncs_per_epoch_stay_within_the_nan_check_interval(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    syncs, steps = _synchronisations(precision)                # fp16 too: the fused optimiser needs no read
    assert steps >= 3 * NAN_CHECK_EVERY
    assert syncs <= 2 * (steps // NAN_CHECK_EVERY + 4), f"{syncs} syncs in 2 epochs of {steps} steps"


def test_the_sync_counter_sees_per_step_syncs():
    """fp16 with a non-fused optimiser makes GradScaler read found-inf every step: the counter sees it."""
    syncs, steps = _synchronisations("fp16", optimizer=lambda params: torch.optim.Adam(params, foreach=True))
    assert syncs >= 2 * steps
