"""Custom steps under fp16 loss scaling (on the CPU), several optimisers, accumulation, clipping."""
import math

import pytest
import torch
from torch import nn

from fitting import Regressor, regression_data, weights
from labkit.data import DeviceLoader
from labkit.train import fit


@pytest.fixture
def scaler_updates(monkeypatch):
    """Counts GradScaler.update() calls made while it is enabled."""
    calls = []
    original = torch.amp.GradScaler.update

    def counting(self, *args, **kwargs):
        if self.is_enabled():
            calls.append(self.get_scale())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "update", counting)
    return calls


def test_fp16_step_that_does_its_own_backward_and_step(scaler_updates):
    X, y = regression_data()
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def own_step(batch, ctx):
        x, target = batch
        with ctx.autocast():
            loss = nn.functional.mse_loss(ctx.model(x).float(), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    history = fit(model, (X, y), epochs=2, step_fn=own_step, optimizer=opt, precision="fp16",
                  batch_size=32, plot=False, progress=False)
    assert len(history) == 2 and math.isfinite(history.last("loss"))
    assert scaler_updates == []          # nothing went through the scaler, so it is never updated


def test_fp16_two_optimisers_update_the_scaler_once_per_iteration(scaler_updates):
    X, y = regression_data(96)
    model = Regressor()
    body, head = model.body, model.head
    optimizers = {"body": torch.optim.Adam(body.parameters(), 1e-2), "head": torch.optim.Adam(head.parameters(), 1e-2)}
    head_grads_untouched = []

    def two_losses(batch, ctx):               # like a GAN: the second loss flows through the head
        x, target = batch
        with ctx.autocast():
            d_loss = nn.functional.mse_loss(head(body(x).detach()).squeeze(-1).float(), target)
        ctx.optimize(d_loss, "head")
        after_head = [p.grad.clone() for p in head.parameters()]
        with ctx.autocast():
            g_loss = nn.functional.mse_loss(head(body(x)).squeeze(-1).float(), target)
        ctx.optimize(g_loss, "body")
        head_grads_untouched.append(all(torch.equal(a, p.grad) for a, p in zip(after_head, head.parameters())))
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    history = fit(model, (X, y), epochs=2, step_fn=two_losses, optimizer=optimizers, precision="fp16",
                  batch_size=32, plot=False, progress=False)
    assert len(scaler_updates) == 2 * 3                       # one per iteration, never two
    assert history.keys() == ["epoch", "d_loss", "g_loss"]     # no "loss", and no KeyError for it
    assert len(head_grads_untouched) == 6 and all(head_grads_untouched)   # g_loss reached the body only


def test_the_same_optimiser_stepped_twice_in_one_iteration(scaler_updates):
    X, y = regression_data(64)
    model = Regressor()

    def twice(batch, ctx):
        x, target = batch
        for _ in range(2):
            with ctx.autocast():
                loss = nn.functional.mse_loss(ctx.model(x).float(), target)
            ctx.optimize(loss)
        return {"loss": loss.detach()}

    fit(model, (X, y), epochs=1, step_fn=twice, precision="fp16", batch_size=32, plot=False, progress=False)
    assert len(scaler_updates) == 2 * 2


def test_fp16_overflow_is_handled_by_loss_scaling():
    """Targets in the hundreds make fp16 gradients overflow at the starting scale of 2**16: the
    scaler skips those steps and halves its scale until they fit, and training still converges."""
    X, y = regression_data(128)
    y = 100 * y
    torch.manual_seed(0)
    model = Regressor(hidden=16)
    scales = []
    history = fit(model, (X, y), epochs=30, loss_fn=nn.MSELoss(), lr=0.1, precision="fp16", batch_size=32,
                  callbacks=[lambda history, ctx: scales.append(ctx.scaler.get_scale())], plot=False, progress=False)
    assert scales[0] < 2.0 ** 16                             # overflowed steps lowered the scale
    assert history.last("loss") < history["loss"][0] / 10
    assert all(math.isfinite(v) for v in history["loss"])


def _accumulated_training(X, y, batch_size, accumulate, precision="fp32"):
    torch.manual_seed(0)
    model = Regressor()
    loader = DeviceLoader(X, y, batch_size=batch_size, seed=1)
    history = fit(model, loader, epochs=2, loss_fn=nn.MSELoss(), accumulate=accumulate, precision=precision,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.05), plot=False, progress=False)
    return weights(model), history


def test_accumulation_equals_one_larger_batch():
    X, y = regression_data(56)                 # 7 batches of 8: groups of 3, 3 and a last one of 1
    accumulated, _ = _accumulated_training(X, y, 8, 3)
    big, _ = _accumulated_training(X, y, 24, 1)
    assert torch.allclose(accumulated, big, atol=1e-6)
    plain, _ = _accumulated_training(X, y, 8, 1)
    assert not torch.allclose(plain, big, atol=1e-3)      # the comparison can tell them apart


def test_fp16_accumulation_updates_the_scaler_only_after_real_steps(scaler_updates):
    X, y = regression_data(56)
    _, history = _accumulated_training(X, y, 8, 3, precision="fp16")
    assert len(scaler_updates) == 2 * 3 and math.isfinite(history.last("loss"))


def test_gradient_clipping_works_on_unscaled_gradients():
    X, y = regression_data(64)
    y = 50 * y
    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    norms = []
    opt.register_step_pre_hook(lambda optimizer, args, kwargs: norms.append(
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()))
    fit(model, (X, y), epochs=2, loss_fn=nn.MSELoss(), optimizer=opt, precision="fp16", grad_clip=1.0,
        batch_size=16, plot=False, progress=False)
    assert norms and max(norms) <= 1.0 + 1e-3
    assert min(norms) > 0.5          # clipped at 1 in true units, not at 1/scale


def test_several_optimisers_need_a_name():
    X, y = regression_data(32)
    model = Regressor()
    optimizers = {"a": torch.optim.SGD(model.body.parameters(), 0.1), "b": torch.optim.SGD(model.head.parameters(), 0.1)}
    with pytest.raises(ValueError, match=r"ctx.optimize\(loss, name\) with name one of 'a', 'b'"):
        fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), optimizer=optimizers, plot=False, progress=False)
    with pytest.raises(TypeError, match="dict {name: optimizer}"):
        fit(model, (X, y), epochs=1, loss_fn=nn.MSELoss(), optimizer={"a": "adam"}, plot=False, progress=False)
