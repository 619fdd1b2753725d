"""The generative labs' training paths on a CUDA GPU: the ELBO step and the GAN step under each
precision, channels_last DCGAN batches, importance sampling and the sample grid on the device."""
import pytest
import torch

import labkit
from labkit import adversarial, elbo
from labkit.callbacks import SampleGrid
from labkit.data import DeviceLoader
from labkit.data.synthetic import gaussian_ring

QUIET = {"plot": False, "progress": False}


def digits(n=1024, seed=0):
    """Binary stripe images: each class a bright bar at its own row."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    x = torch.zeros(n, 1, 28, 28)
    x[torch.arange(n), 0, labels * 2 + 4, 4:24] = 1.0
    return x, labels


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_vae_learns_under_each_precision(kind, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    x, y = digits()
    labkit.seed_everything(0)
    model = labkit.models.vae(kind, latent_dim=8, device="cuda")
    history = labkit.fit(model, DeviceLoader(x, y, batch_size=128, device="cuda", seed=0), epochs=6,
                         step_fn=elbo.elbo_step(), val=(x[:256], y[:256]), val_step_fn=elbo.elbo_step(train=False),
                         optimizer=torch.optim.Adam(model.parameters(), 1e-3), precision=precision, **QUIET)
    assert history.last("val_loss") < 0.5 * history.rows[0]["val_loss"]
    with torch.no_grad():
        log_px = elbo.log_likelihood(model, x[:64].cuda(), samples=16)
    assert log_px.device.type == "cuda" and torch.isfinite(log_px).all()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_ring_gan_step_with_mixed_precision(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    points, _ = gaussian_ring(4096, seed=0)
    labkit.seed_everything(0)
    model = labkit.models.gan("mlp", latent_dim=2, device="cuda")
    history = labkit.fit(model, DeviceLoader(points, batch_size=256, device="cuda", seed=0), epochs=15,
                         step_fn=adversarial.gan_step(), precision=precision,
                         optimizer={"d": torch.optim.Adam(model.discriminator.parameters(), 1e-3, betas=(0.5, 0.999)),
                                    "g": torch.optim.Adam(model.generator.parameters(), 1e-3, betas=(0.5, 0.999))},
                         **QUIET)
    assert all(torch.isfinite(torch.tensor(v)) for v in history.rows[-1].values())
    radius = model.sample(1000).float().norm(dim=1).median().item()
    assert 1.5 < radius < 2.5                               # the samples moved out to the ring (radius 2)


def test_dcgan_is_channels_last_and_its_sample_grid_reads_back_from_the_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_WIDGETS", "0")
    model = labkit.models.gan("dcgan", latent_dim=16, width=16, device="cuda")
    conv = next(m for m in model.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x, _ = digits(256)
    grid = SampleGrid(model.generator, torch.randn(8, 16), folder=tmp_path)
    labkit.fit(model, (2 * x - 1,), epochs=2, step_fn=adversarial.gan_step(), batch_size=64,
               optimizer={"d": torch.optim.Adam(model.discriminator.parameters(), 2e-4, betas=(0.5, 0.999)),
                          "g": torch.optim.Adam(model.generator.parameters(), 2e-4, betas=(0.5, 0.999))},
               callbacks=[grid], **QUIET)
    assert len(grid.saved) == 2 and grid.frames[-1][1].min() >= 0
