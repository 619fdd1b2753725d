"""Widgets driven from Python, as a student's clicks would drive them."""
import numpy as np
import pytest

from labkit.history import History
from labkit.liveplot import LiveLossPlot
from labkit.widgets import GDExplorer, gd_trajectory, mse_loss_1d, mse_loss_grid_1d


@pytest.fixture
def line_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100)
    return x, 2.5 * x + 1.0 + rng.normal(0, 0.3, 100)


def test_moving_the_slider_redraws_the_trajectory(line_data):
    explorer = GDExplorer(*line_data, lr=0.01, steps=30)
    before, picture_before = explorer.trajectory.copy(), explorer.image.value
    assert bytes(picture_before).startswith(b"\x89PNG")
    np.testing.assert_array_equal(explorer.line.get_xdata(), before[:, 0])
    explorer.slider.value = 0.3                              # what dragging the slider does
    after = explorer.trajectory
    assert after.shape == before.shape and not np.allclose(after, before)
    np.testing.assert_array_equal(explorer.line.get_xdata(), after[:, 0])
    np.testing.assert_array_equal(explorer.line.get_ydata(), after[:, 1])
    final_loss = mse_loss_1d(*line_data, *after[-1])
    assert final_loss < mse_loss_1d(*line_data, *before[-1])
    assert "loss after 30 steps" in explorer.status.value
    assert bytes(explorer.image.value).startswith(b"\x89PNG") and explorer.image.value != picture_before


def test_too_large_a_learning_rate_is_shown_diverging(line_data):
    explorer = GDExplorer(*line_data, lr=0.1)
    explorer.slider.value = 1.5
    assert "diverged" in explorer.status.value
    assert len(explorer.trajectory) < explorer.steps + 1


def test_gd_trajectory_reaches_the_least_squares_optimum(line_data):
    x, y = line_data
    path = gd_trajectory(x, y, lr=0.1, steps=500)
    np.testing.assert_allclose(path[-1], np.polyfit(x, y, 1), atol=1e-6)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        gd_trajectory(x, y, lr=0.0)
    with pytest.raises(ValueError, match="same length"):
        GDExplorer(x, y[:-1])


def test_live_plot_text_mode_and_argument_check(capsys):
    plot = LiveLossPlot(epochs=3, mode="text")
    history = History()
    for epoch in (1, 2, 3):
        history.append({"epoch": epoch, "loss": 1.0 / epoch})
        plot.update(history)
    plot.close(history, "done")
    out = capsys.readouterr().out
    assert "epoch 1/3  loss 1" in out and "epoch 3/3  loss 0.3333" in out and "done" in out
    assert not plot.widget
    with pytest.raises(ValueError, match="plot must be"):
        LiveLossPlot(epochs=3, mode="fancy")


def test_live_plot_widget_mode_draws_into_its_image():
    plot = LiveLossPlot(epochs=2, mode="widget", min_interval=0.0)
    history = History([{"epoch": 1, "loss": 2.0}])
    plot.update(history)
    first = plot.image.value
    history.append({"epoch": 2, "loss": 1.0})
    plot.update(history)
    plot.close(history)
    assert plot.widget and plot.lines == []                   # no printed lines in widget mode
    assert bytes(first).startswith(b"\x89PNG") and bytes(plot.image.value) != bytes(first)


def test_widgets_never_use_output_widgets(line_data):
    """nbclient emulates ipywidgets.Output by writing back to the kernel, which can deadlock
    papermill, nbval and nbgrader (jupyter/nbclient#312); labkit widgets show PNG images instead."""
    import ipywidgets

    explorer = GDExplorer(*line_data)
    assert not any(isinstance(child, ipywidgets.Output) for child in explorer.widget.children)
    assert not isinstance(LiveLossPlot(epochs=1, mode="widget").image, ipywidgets.Output)


def test_contour_grid_from_five_averages_equals_the_direct_loss(line_data):
    W, B = np.meshgrid(np.linspace(-1, 4, 7), np.linspace(-2, 3, 5))
    np.testing.assert_allclose(mse_loss_grid_1d(*line_data, W, B), mse_loss_1d(*line_data, W, B), rtol=1e-10)


def test_activation_explorer_derivatives_and_dropdown():
    from labkit.widgets import ActivationExplorer

    explorer = ActivationExplorer("sigmoid")
    sigma = 1 / (1 + np.exp(-explorer.x))
    np.testing.assert_allclose(explorer.df, sigma * (1 - sigma), atol=1e-12)
    picture = bytes(explorer.image.value)
    explorer.dropdown.value = "tanh"                              # what choosing it in the menu does
    np.testing.assert_allclose(explorer.df, 1 - np.tanh(explorer.x) ** 2, atol=1e-12)
    assert bytes(explorer.image.value) != picture
    explorer.dropdown.value = "relu"
    np.testing.assert_array_equal(explorer.df[explorer.x > 0.01], 1.0)
    np.testing.assert_array_equal(explorer.df[explorer.x < -0.01], 0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        ActivationExplorer("swish")


def test_filter_viewer_follows_its_sliders():
    import torch

    from labkit.models import lenet, mlp
    from labkit.widgets import FilterViewer

    model = lenet(device="cpu").train()
    viewer = FilterViewer(model, torch.randn(3, 1, 28, 28))
    assert viewer.feature_maps.shape == (6, 28, 28) and viewer.filters.shape == (6, 1, 5, 5)
    first = viewer.feature_maps.clone()
    viewer.sample.value = 2
    assert not torch.equal(viewer.feature_maps, first)
    viewer.layer.value = 1
    assert viewer.feature_maps.shape == (16, 10, 10) and viewer.filters.shape == (16, 6, 5, 5)
    assert model.training                                        # the model's mode is restored
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        FilterViewer(mlp([4, 2], device="cpu"), torch.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        FilterViewer(model, torch.randn(28, 28))
