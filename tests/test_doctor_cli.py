import socket
import subprocess
import sys

from labkit.cli import main
from labkit.device import get_device, precision_policy
from labkit.doctor import collect, is_online, render


def test_doctor_collects_the_facts():
    facts = collect(check_network=False)
    device = get_device()
    assert facts["device"] == str(device) and facts["precision"] == precision_policy(device).name
    assert ("gpu_name" in facts) == (device.type == "cuda")
    assert facts["widgets"] and facts["online"] is None
    text = render(facts)
    for label in ("python", "torch", "device", "precision", "widgets", "data cache", "network"):
        assert label in text


def test_offline_is_detected_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert is_online(("127.0.0.1", port), timeout=1) is False


def test_doctor_command(capsys):
    assert main(["doctor", "--no-network"]) == 0
    assert "precision" in capsys.readouterr().out


def test_cli_entry_point_is_installed():
    result = subprocess.run([sys.executable, "-m", "labkit.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "doctor" in result.stdout and "run" in result.stdout
