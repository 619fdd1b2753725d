import pytest
import torch
from torch import nn

import labkit
from labkit.models import conv_output_size, lenet, mlp, small_cnn

IMAGES = torch.randn(8, 1, 28, 28)


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_mlp_layers_shapes_and_dropout():
    model = mlp([784, 128, 64, 10], activation="tanh", dropout=0.2, device="cpu")
    assert model(IMAGES).shape == (8, 10)                        # flattens images itself
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Flatten", "Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert _params(model) == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert [type(l).__name__ for l in mlp([2, 3], device="cpu")] == ["Flatten", "Linear"]


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": [784]}, "at least an input and an output"),
    ({"sizes": [784, 0, 10]}, r"sizes\[1\] must be a positive integer"),
    ({"sizes": [784, 10], "activation": "relu6"}, "unknown activation 'relu6'; choose one of relu"),
    ({"sizes": [784, 10], "dropout": 1.0}, r"dropout is a probability in \[0, 1\)"),
])
def test_mlp_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mlp(**kwargs)


def test_lenet_is_lenet_5():
    model = lenet(device="cpu")
    assert model(IMAGES).shape == (8, 10)
    assert _params(model) == 61_706          # conv 156 + 2,416, fc 48,120 + 10,164 + 850
    with pytest.raises(ValueError, match=r"does not fit a 4x4 input.*Use padding=2"):
        lenet(image_size=8, device="cpu")


def test_small_cnn_blocks_and_classes():
    model = small_cnn(num_classes=7, channels=(8, 16, 32), device="cpu")
    assert model(IMAGES).shape == (8, 7)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    with pytest.raises(ValueError, match="does not fit"):
        small_cnn(channels=(8, 8, 8, 8, 8), device="cpu")         # 28 -> 14 -> 7 -> 3 -> 1 -> 0
    with pytest.raises(ValueError, match=r"channels\[1\] must be a positive integer"):
        small_cnn(channels=(8, -1), device="cpu")


def test_conv_output_size_formula():
    assert conv_output_size(28, 5, padding=2) == 28
    assert conv_output_size(28, 3, stride=2) == 13
    assert conv_output_size(32, 3, dilation=2) == 28
    with pytest.raises(ValueError, match=r"5x5 kernel .* does not fit a 3x3 input: the output would be -1x-1"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="padding must be a non-negative integer"):
        conv_output_size(28, 3, padding=-1)


def test_builders_follow_the_device_choice(monkeypatch):
    monkeypatch.setenv("LABKIT_DEVICE", "cpu")
    assert next(small_cnn().parameters()).device.type == "cpu"
    with pytest.raises(labkit.device.DeviceUnavailableError):
        lenet(device="cuda:9")


def test_a_small_cnn_learns_the_offline_digits():
    labkit.seed_everything(0)
    data = labkit.data.load_images("mnist", download=False)
    train = (data.train_images[:1000], data.train_labels[:1000])
    accuracy = lambda out, y: (out.argmax(1) == y).float().mean()
    history = labkit.fit(small_cnn(channels=(8, 16), device="cpu"), train, epochs=3, loss_fn=nn.CrossEntropyLoss(),
                         lr=3e-3, val=data.split("test"), metrics={"accuracy": accuracy}, batch_size=64)
    assert history.last("val_accuracy") > 0.8
