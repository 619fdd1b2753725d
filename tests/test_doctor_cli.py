import os
import socket
import subprocess
import sys

import pytest
import torch

import tinylab
from labkit.cli import main
from labkit.device import get_device, precision_policy
from labkit.doctor import collect, doctor, is_online, render


def test_doctor_collects_the_facts():
    facts = collect(check_network=False)
    device = get_device()
    assert facts["device"] == str(device) and facts["precision"] == precision_policy(device).name
    assert ("gpu_name" in facts) == (device.type == "cuda")
    assert facts["widgets"] and facts["online"] is None
    text = render(facts)
    for label in ("python", "torch", "device", "precision", "widgets", "data cache", "network"):
        assert label in text


@pytest.mark.parametrize("works, detail, shown", [
    (True, "bubblewrap 0.8.0", "isolated: each submission's kernel runs in bubblewrap 0.8.0"),
    (False, "bubblewrap (bwrap) is not installed",
     "NOT isolated: bubblewrap (bwrap) is not installed; labkit grade runs submissions with your permissions"),
])
def test_doctor_says_whether_grading_is_isolated(monkeypatch, works, detail, shown):
    monkeypatch.setattr("labkit.grading.sandbox.probe", lambda: (works, detail))
    facts = collect(check_network=False)
    assert facts["grading_isolated"] is works and shown in render(facts)
    assert not any("isolated" in problem for problem in facts["problems"])   # the labs run either way


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


# --- bad input: a problem is reported in one line (or the doctor's table), never a traceback -----

def labkit(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """`python -m labkit.cli ARGS` in a subprocess whose environment is ours plus ``env``."""
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA, so LABKIT_DEVICE=cuda works")
def test_doctor_reports_a_missing_cuda_device_and_fails():
    result = labkit(["doctor", "--no-network"], LABKIT_DEVICE="cuda")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "PROBLEM: CUDA was asked for ($LABKIT_DEVICE: 'cuda')" in rows["device"]
    assert "unset LABKIT_DEVICE" in rows["device"]
    for label in ("python", "torch", "precision", "mode", "widgets", "data", "network"):
        assert label in rows                        # the rest of the table is still there
    assert "1 problem(s) found" in result.stdout


def test_doctor_api_returns_the_problem_with_the_facts(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DEVICE", "tpu")
    facts = doctor(check_network=False)
    assert facts["device"] is None and "unknown device 'tpu' (from $LABKIT_DEVICE)" in facts["device_problem"]
    assert facts["problems"] == [facts["device_problem"]] and facts["python"] and facts["widgets"]
    assert "PROBLEM: unknown device 'tpu'" in capsys.readouterr().out
    assert main(["doctor", "--no-network"]) == 1


def test_doctor_reports_a_bad_mode(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_MODE", "bogus")
    assert main(["doctor", "--no-network"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: $LABKIT_MODE='bogus' is not a mode; set it to smoke, full or auto" in out
    assert "device" in out and "precision" in out


def test_run_refuses_a_bad_labkit_mode_like_a_bad_mode_option():
    result = labkit(["run", "--notebooks", "no-such-folder"], LABKIT_MODE="bogus")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "labkit run: $LABKIT_MODE='bogus' is not a mode; set it to smoke, full or auto"]


@pytest.mark.parametrize("argv, env, mode", [
    ([], {"LABKIT_MODE": "full"}, "full"),          # the runner says "requested"
    ([], {"LABKIT_MODE": "auto"}, "auto"),          # ...and "auto-detected"
    ([], {"LABKIT_MODE": ""}, "auto"),
    (["--mode", "smoke"], {"LABKIT_MODE": "bogus"}, "smoke"),   # --mode wins, the variable is not read
])
def test_run_takes_its_mode_from_the_option_then_labkit_mode(argv, env, mode, monkeypatch, tmp_path):
    import labkit.runner

    seen = []
    monkeypatch.setattr(labkit.runner, "run_curriculum", lambda labs, **kw: seen.append(kw["mode"]) or [])
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name)
    assert main(["run", *argv, "--out", str(tmp_path / "build")]) == 0
    assert seen == [mode]


@pytest.fixture
def lab_folder(tmp_path):
    return str(tinylab.write_source(tmp_path / "nb").parent)


@pytest.mark.parametrize("argv, message", [
    (["run", "99", "--notebooks", "{nb}"], "labkit run: no lab matches '99'; the labs are: 90_tiny"),
    (["run", "--timeout", "0"], "labkit run: error: argument --timeout: expected a whole number of at "
                                "least 1, got '0'"),
    (["run", "--timeout", "-5"], "labkit run: error: argument --timeout: expected a whole number of at "
                                 "least 1, got '-5'"),
    (["run", "--notebooks", "{nb}", "--out", "{file}"], "labkit run: --out {file} is a file, not a folder"),
    (["release", "nonexistent", "--notebooks", "{nb}"], "labkit release: no lab matches 'nonexistent'"),
    (["release", "--timeout", "soon"], "labkit release: error: argument --timeout: expected a whole number"),
    (["release", "--notebooks", "{file}"], "labkit release: no notebooks folder at"),
    (["grade", "{tmp}/missing_dir", "--notebooks", "{nb}"], "labkit grade: no submissions folder at"),
    (["grade", "x", "--jobs", "0"], "labkit grade: error: argument --jobs: expected a whole number"),
    (["grade", "{tmp}", "--notebooks", "{nb}", "--out", "{file}"], "labkit grade: --out {file} is a file"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, lab_folder, tmp_path, capsys):
    names = {"nb": lab_folder, "tmp": str(tmp_path), "file": str(tmp_path / "notes.txt")}
    (tmp_path / "notes.txt").write_text("not a folder")
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(main([arg.format(**names) for arg in argv]))
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and lines[-1].startswith(message.format(**names)), lines
    if ": error: " not in message:          # argparse's own errors come after its usage lines
        assert len(lines) == 1, lines


def test_run_refuses_an_unknown_labkit_device(monkeypatch, lab_folder, tmp_path, capsys):
    monkeypatch.setenv("LABKIT_DEVICE", "tpu")
    assert main(["run", "--notebooks", lab_folder, "--out", str(tmp_path / "build")]) == 2
    assert capsys.readouterr().err.startswith("labkit run: unknown device 'tpu' (from $LABKIT_DEVICE)")
    assert not (tmp_path / "build").exists()                # nothing ran


def test_ctrl_c_ends_a_command_with_status_130(monkeypatch, capsys):
    import labkit.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(labkit.cli, "_doctor", interrupted)
    assert main(["doctor"]) == 130
    assert capsys.readouterr().err == "labkit doctor: interrupted (Ctrl-C)\n"
