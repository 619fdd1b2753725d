"""Fréchet distance, features, ring metrics, the generative figures, the latent explorer and the sample grid."""
import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

import labkit
from labkit.callbacks import SampleGrid
from labkit.data.synthetic import gaussian_ring, ring_centers
from labkit.metrics import embed, frechet_distance, gaussian_frechet_distance, ring_coverage
from labkit.models import gan, vae
from labkit.plots import image_mosaic, latent_map, mosaic
from labkit.widgets import LatentExplorer


def test_frechet_distance_of_two_known_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([2.0, 1.0, 0.0])
    cov1, cov2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    # diagonal covariances: |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2 = 5 + (1 + 1 + 0)
    assert gaussian_frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(7.0, abs=1e-12)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)   # covariances that do not commute
    reference = np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert gaussian_frechet_distance(np.zeros(4), c1, np.zeros(4), c2) == pytest.approx(reference, rel=1e-9)


def test_frechet_distance_of_samples_converges_to_the_analytic_value():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20_000, 3))
    b = rng.normal(size=(20_000, 3)) * np.array([1.0, 2.0, 1.0]) + np.array([1.0, 0.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(1.0 + 1.0, rel=0.03)
    assert frechet_distance(torch.as_tensor(a), a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_stays_real_and_non_negative_with_singular_covariances():
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(3, 50))
    a, b = rng.normal(size=(40, 3)) @ basis, rng.normal(size=(40, 3)) @ basis   # rank 3 in 50 dimensions, N < d
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value >= 0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(a, rowvar=False)))


def test_frechet_distance_rejects_bad_features():
    with pytest.raises(ValueError, match="3 and 4 features"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        frechet_distance(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))


def test_embed_returns_the_inputs_of_the_last_linear_layer_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    x = torch.randn(10, 1, 4, 4)
    features = embed(model, x, batch_size=3)
    assert features.shape == (10, 6) and features.dtype == torch.float64 and model.training
    assert torch.allclose(features, torch.relu(model[1](x.flatten(1))).double())
    with pytest.raises(ValueError, match="nn.Linear"):
        embed(nn.Sequential(nn.Conv2d(1, 2, 3)), x)


def test_ring_coverage_counts_modes_and_quality():
    points, _ = gaussian_ring(1000, std=0.02, seed=3)
    centres = ring_centers()
    full = ring_coverage(points, centres, std=0.02)
    assert full["modes_covered"] == 8 and full["high_quality"] > 0.98 and full["counts"].sum() <= 1000
    collapsed = ring_coverage(torch.tensor([[2.0, 0.0]]).repeat(1000, 1) + 0.01, centres, std=0.02)
    assert collapsed["modes_covered"] == 1 and collapsed["high_quality"] == 1.0
    scattered = ring_coverage(torch.zeros(1000, 2), centres, std=0.02)
    assert scattered["modes_covered"] == 0 and scattered["high_quality"] == 0.0
    for at_second_mode, covered in ((19, 1), (20, 2)):               # a mode counts from 2 % of the samples
        samples = torch.cat([centres[0].repeat(1000 - at_second_mode, 1), centres[2].repeat(at_second_mode, 1)])
        assert ring_coverage(samples, centres, 0.02)["modes_covered"] == covered
    with pytest.raises(ValueError, match="coordinates"):
        ring_coverage(torch.zeros(4, 3), centres, std=0.02)
    with pytest.raises(ValueError, match="std must be positive"):
        gaussian_ring(10, std=0)


def test_mosaic_and_latent_map():
    tiled = mosaic(torch.rand(10, 1, 5, 4), ncols=4, gap=1)
    assert tiled.shape == (3 * 6 - 1, 4 * 5 - 1) and tiled[5, 0] == 1.0      # white gap between rows
    assert image_mosaic(torch.rand(6, 28, 28), title="x").axes
    fig = latent_map(torch.randn(30, 2), torch.arange(30) % 3)
    assert len(fig.axes[0].collections) == 3
    with pytest.raises(ValueError, match="PCA"):
        latent_map(torch.randn(30, 3), torch.zeros(30))
    with pytest.raises(ValueError, match="one-channel"):
        mosaic(torch.rand(2, 3, 5, 5))


def test_latent_explorer_decodes_the_slider_point():
    torch.manual_seed(0)
    model = vae("mlp", latent_dim=2, hidden=16, device="cpu")
    explorer = LatentExplorer(model, torch.randn(50, 2), torch.arange(50) % 10)
    picture = explorer.image.value
    explorer.z1.value, explorer.z2.value = 1.5, -2.0                # what dragging the sliders does
    assert explorer.point == (1.5, -2.0)
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(torch.tensor([[1.5, -2.0]])))[0, 0].numpy()
    np.testing.assert_allclose(explorer.decoded, expected, rtol=1e-6)
    assert explorer.image.value != picture and model.training
    with pytest.raises(ValueError, match="latent_dim=2"):
        LatentExplorer(vae("mlp", latent_dim=3, device="cpu"), torch.randn(5, 2), torch.zeros(5))


def test_sample_grid_saves_a_frame_per_epoch_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_WIDGETS", "0")
    torch.manual_seed(0)
    model = gan("dcgan", latent_dim=4, width=4, device="cpu")
    grid = SampleGrid(model.generator, torch.randn(6, 4), ncols=3, folder=tmp_path / "frames")
    images = 2 * torch.rand(32, 1, 28, 28) - 1
    labkit.fit(model, (images,), epochs=2, step_fn=labkit.adversarial.gan_step(), batch_size=16,
               optimizer={"d": torch.optim.Adam(model.discriminator.parameters(), 1e-3),
                          "g": torch.optim.Adam(model.generator.parameters(), 1e-3)},
               callbacks=[grid], plot=False, progress=False)
    assert [epoch for epoch, _ in grid.frames] == [1, 2] and grid.frames[0][1].shape == (2 * 29 - 1, 3 * 29 - 1)
    assert [p.name for p in grid.saved] == ["samples_epoch_001.png", "samples_epoch_002.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in grid.saved)
    assert not np.array_equal(grid.frames[0][1], grid.frames[1][1])        # the generator moved
    assert len(grid.figure().axes) == 2
    with pytest.raises(ValueError, match="latent vectors"):
        SampleGrid(model.generator, torch.randn(6))
