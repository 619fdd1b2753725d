"""The VAE and GAN builders and their objectives (labkit.models, labkit.elbo, labkit.adversarial)."""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

import labkit
from labkit import adversarial, elbo
from labkit.data.synthetic import gaussian_ring
from labkit.models import check_gan, gan, vae


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_vae_shapes_and_sampling(kind):
    torch.manual_seed(0)
    model = vae(kind, latent_dim=5, hidden=32, channels=(4, 8), device="cpu")
    x = torch.rand(3, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 5)
    assert model.sample(4).shape == (4, 1, 28, 28) and model.reconstruct(x).shape == x.shape
    assert 0 <= model.sample(2).min() and model.sample(2).max() <= 1
    first, again = model(x)[0], model(x)[0]
    assert not torch.equal(first, again)                 # z is sampled afresh, eval mode included
    model.eval()
    assert not torch.equal(model(x)[0], model(x)[0])
    assert torch.equal(model.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("kwargs, message", [
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(kind="conv", image_size=30), "divisible by 4"),
    (dict(kind="conv", channels=(8,)), "two conv layers"),
    (dict(kind="flow"), "choose 'mlp' or 'conv'"),
])
def test_vae_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vae(**kwargs, device="cpu")


def test_gaussian_kl_known_values_and_torch_distributions():
    zeros = torch.zeros(2, 3)
    assert torch.equal(elbo.gaussian_kl(zeros, zeros), torch.zeros(2))
    assert torch.allclose(elbo.gaussian_kl(torch.full((1, 4), 2.0), torch.zeros(1, 4)), torch.tensor([8.0]))
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 6, generator=gen, dtype=torch.float64), torch.randn(5, 6, generator=gen, dtype=torch.float64)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(elbo.gaussian_kl(mu, logvar), reference, rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        elbo.gaussian_kl(mu, logvar[:, :2])


def test_reparameterised_samples_have_the_right_moments_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z = elbo.reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2), torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.02)
    z.pow(2).mean(0).sum().backward()                     # d/dmu E[z^2] = 2 mu, d/dlogvar = sigma^2
    assert torch.allclose(mu.grad, torch.tensor([[2.0, -4.0]]), atol=0.05)
    assert torch.allclose(logvar.grad, torch.tensor([[1.0, 4.0]]), atol=0.05)


def test_bernoulli_nll_is_binary_cross_entropy_summed_per_image():
    logits, x = torch.tensor([[0.0, 2.0], [-1.0, 3.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert torch.allclose(elbo.bernoulli_nll(logits, x), expected)
    with pytest.raises(ValueError, match="same shape"):
        elbo.bernoulli_nll(logits, x[:, :1])


def test_binarize_is_a_fixed_threshold_and_refuses_standardised_pixels():
    assert torch.equal(elbo.binarize(torch.tensor([0.2, 0.5, 0.51, 1.0])), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="normalize='unit'"):
        elbo.binarize(torch.tensor([-0.4, 2.8]))


class _PriorVAE(nn.Module):
    """q(z|x) = p(z) = N(0, I) and a decoder that ignores z: log p(x) is known exactly."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.pixel_logits = nn.Parameter(torch.tensor([0.3, -1.2, 2.0, 0.0]))

    def encode(self, x):
        return torch.zeros(len(x), 3), torch.zeros(len(x), 3)

    def decode(self, z):
        return self.pixel_logits.expand(len(z), 4)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(elbo.reparameterize(mu, logvar)), mu, logvar


def test_importance_sampling_is_exact_when_q_is_the_posterior():
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    model = _PriorVAE()
    exact = -elbo.bernoulli_nll(model.pixel_logits.detach().expand(2, 4), x)
    assert torch.allclose(elbo.log_likelihood(model, x, samples=7, batch_size=1), exact, atol=1e-5)
    terms = elbo.negative_elbo(model, x)
    assert torch.allclose(terms["kl"], torch.tensor(0.0)) and torch.allclose(-terms["loss"], exact.mean())


def test_importance_weighted_bound_lies_above_the_elbo_for_a_real_vae():
    torch.manual_seed(0)
    model = vae("mlp", latent_dim=4, hidden=16, device="cpu")
    x = elbo.binarize(torch.rand(64, 1, 28, 28))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        neg_elbo = torch.stack([elbo.negative_elbo(model, x)["loss"] for _ in range(20)]).mean()
    ll = elbo.log_likelihood(model, x, samples=50, batch_size=32, generator=gen).mean()
    assert ll > -neg_elbo


def test_fit_with_elbo_steps_logs_both_terms_and_learns():
    torch.manual_seed(0)
    data = labkit.data.load_images("mnist", normalize="unit", download=False, progress=False)
    x = elbo.binarize(data.train_images[:512])
    model = vae("mlp", latent_dim=8, hidden=64, device="cpu")
    history = labkit.fit(model, (x,), epochs=3, step_fn=elbo.elbo_step(), val=(x[:128],),
                         val_step_fn=elbo.elbo_step(train=False), optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                         batch_size=64, plot=False, progress=False)
    first, last = history.rows[0], history.rows[-1]
    assert last["val_loss"] < first["val_loss"]
    assert abs(last["loss"] - last["recon"] - last["kl"]) < 1e-3 and last["kl"] > 0
    with pytest.raises(ValueError, match="beta"):
        elbo.elbo_step(beta=-1)


def test_gan_builders_unpack_and_return_one_logit_per_example():
    model = gan("mlp", latent_dim=3, data_dim=2, hidden=16, device="cpu")
    G, D = model
    assert G is model.generator and D is model.discriminator
    assert G(torch.randn(5, 3)).shape == (5, 2) and D(torch.randn(5, 2)).shape == (5,)
    assert model.sample(7).shape == (7, 2)
    dcgan = gan("dcgan", latent_dim=8, width=8, device="cpu")
    images = dcgan.sample(3)
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1
    assert dcgan.discriminator(images).shape == (3,) and dcgan.generator.training


@pytest.mark.parametrize("kwargs, message", [
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
    (dict(kind="dcgan", image_size=30), "divisible by 4"),
    (dict(kind="wgan"), "choose 'mlp' or 'dcgan'"),
])
def test_gan_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan(**kwargs, device="cpu")


def test_check_gan_names_a_generator_discriminator_mismatch():
    G, D = gan("mlp", latent_dim=3, data_dim=2, hidden=8, device="cpu")
    with pytest.raises(ValueError, match="cannot take the generator's output of shape"):
        check_gan(nn.Linear(3, 5), D, 3)
    with pytest.raises(ValueError, match="cannot take a latent batch"):
        check_gan(G, D, 4)
    with pytest.raises(ValueError, match=r"one logit per example, shape \(N,\)"):
        check_gan(G, nn.Linear(2, 1), 3)


def test_discriminator_loss_is_the_log_likelihood_and_stable():
    real, fake = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, -3.0])
    expected = -(torch.sigmoid(real).log().mean() + (1 - torch.sigmoid(fake)).log().mean())
    assert torch.allclose(adversarial.discriminator_loss(real, fake), expected)
    extreme = adversarial.discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0]))
    assert torch.isfinite(extreme) and abs(extreme.item() - 200) < 1e-3
    assert torch.allclose(adversarial.generator_loss(fake), -torch.sigmoid(fake).log().mean())


def test_the_minimax_generator_loss_saturates_where_the_non_saturating_one_does_not():
    logit = torch.tensor([-8.0], requires_grad=True)              # D is sure the sample is fake
    grad_minimax, = torch.autograd.grad(adversarial.minimax_generator_loss(logit), logit)
    grad_ns, = torch.autograd.grad(adversarial.generator_loss(logit), logit)
    assert abs(grad_minimax.item()) < 1e-3 < 0.99 < abs(grad_ns.item())


def test_gan_step_trains_both_players_on_the_ring():
    torch.manual_seed(0)
    points, _ = gaussian_ring(512, seed=0)
    model = gan("mlp", latent_dim=2, hidden=32, device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    history = labkit.fit(model, (points,), epochs=2, step_fn=adversarial.gan_step(), batch_size=128,
                         optimizer={"d": torch.optim.Adam(model.discriminator.parameters(), 1e-3),
                                    "g": torch.optim.Adam(model.generator.parameters(), 1e-3)},
                         plot=False, progress=False)
    row = history.rows[-1]
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(row) and 0 < row["d_fake"] < row["d_real"] < 1
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
