import numpy as np
import pytest
import torch

from labkit.device import DeviceUnavailableError, describe, get_device, policy_for, precision_policy, seed_everything


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_picks_cpu_without_accelerators(no_cuda, monkeypatch):
    monkeypatch.setattr("labkit.device._mps_available", lambda: False)
    assert get_device() == torch.device("cpu")
    assert get_device("auto") == torch.device("cpu")


def test_explicit_argument_and_environment_override(monkeypatch):
    monkeypatch.setenv("LABKIT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device(torch.device("cpu")).type == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "meta"])
def test_unknown_device_string_is_rejected_with_the_choices(bad):
    with pytest.raises(ValueError, match=r"unknown device .*'cpu', 'cuda'"):
        get_device(bad)


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("LABKIT_DEVICE", "quantum")
    with pytest.raises(ValueError, match=r"\$LABKIT_DEVICE"):
        get_device()


def test_cuda_requested_without_cuda_explains(no_cuda):
    with pytest.raises(DeviceUnavailableError, match="no usable CUDA GPU.*'auto' or 'cpu'"):
        get_device("cuda")


def test_mps_requested_without_mps(monkeypatch):
    monkeypatch.setattr("labkit.device._mps_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="MPS"):
        get_device("mps")


@pytest.mark.parametrize("capability, name, scaler", [((9, 0), "bf16", False), ((8, 0), "bf16", False),
                                                      ((7, 5), "fp16 + GradScaler", True),
                                                      ((7, 0), "fp16 + GradScaler", True),
                                                      ((6, 1), "fp32", False), ((3, 7), "fp32", False)])
def test_cuda_policy_follows_compute_capability(capability, name, scaler):
    policy = policy_for("cuda", capability)
    assert policy.name == name and policy.grad_scaler is scaler


def test_cpu_policy_is_fp32_and_autocast_is_a_no_op():
    policy = policy_for("cpu")
    assert policy.name == "fp32" and policy.dtype is None
    with policy.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert not policy.scaler().is_enabled()


def test_explicit_precisions_and_errors():
    assert policy_for("cpu", precision="bf16").dtype == torch.bfloat16
    cpu_fp16 = policy_for("cpu", precision="fp16")
    assert cpu_fp16.dtype == torch.float16 and cpu_fp16.grad_scaler and cpu_fp16.scaler().is_enabled()
    with pytest.raises(ValueError, match="unknown precision"):
        policy_for("cpu", precision="fp8")
    assert precision_policy("cpu").name == "fp32"


def test_seed_everything_makes_runs_repeatable():
    seed_everything(123)
    a = (torch.rand(3), np.random.rand(2))
    seed_everything(123)
    b = (torch.rand(3), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, 2**32])
def test_seed_must_be_a_valid_integer(bad):
    with pytest.raises(ValueError, match="seed must be an integer"):
        seed_everything(bad)


def test_banner_names_device_and_precision():
    banner = describe("cpu")
    assert "cpu" in banner and "precision fp32" in banner and torch.__version__ in banner
