"""Launching anywhere: every lab carries its badges and the standard setup cell, and the setup cell
does the right thing on Colab (simulated) and everywhere else."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO
from labkit.launch import INSTALL, REPOSITORY, SETUP_CELL, badges, fix, problems
from labkit.runner import discover

LABS = discover(REPO / "notebooks")


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_every_lab_has_its_badges_and_the_setup_cell(path):
    assert problems(path) == [], "run `python -m labkit.launch --fix notebooks` to add them"


def test_readme_badges_and_install_url_come_from_one_place():
    assert badges() in (REPO / "README.md").read_text()
    assert INSTALL == f"labkit @ git+https://github.com/{REPOSITORY}"
    code = [p for folder in ("labkit", "tests", "bench") for p in (REPO / folder).rglob("*.py")]
    spelled_out = [p.name for p in code if REPOSITORY in p.read_text() and p.name != "launch.py"]
    assert spelled_out == [], "use labkit.launch.REPOSITORY instead of writing the URL again"


def test_a_new_lab_gets_badges_and_setup_cell_in_one_command(tmp_path):
    lab = tmp_path / "09_new_topic.ipynb"
    lab.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Lab 09 — New\n", "\n", "Text."]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": ["import labkit"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert len(problems(lab)) == 2
    fix(lab)
    first = lab.read_text()
    fix(lab)
    assert lab.read_text() == first and problems(lab) == []
    cells = json.loads(first)["cells"]
    assert "".join(cells[0]["source"]).splitlines()[3:] == ["", "Text."]
    assert "09_new_topic.ipynb" in "".join(cells[0]["source"])


def _ipython(python: Path, env: dict[str, str], cwd: Path, colab: bool = False) -> subprocess.CompletedProcess:
    """Run the setup cell with IPython (the same %pip magic a Colab kernel has). With ``colab``,
    ``google.colab`` is imported first, as Colab's kernel has it loaded before any cell runs."""
    startup = ["--InteractiveShellApp.exec_lines=['import google.colab']"] if colab else []
    return subprocess.run([str(python), "-m", "IPython", "--no-banner", "--quick", "--colors=NoColor", *startup,
                           "-c", SETUP_CELL], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def _snapshot(folder: Path) -> Path:
    """This working tree (committed or not) as a one-commit git repository, for pip to clone."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes((REPO / name).read_bytes())
    git = ["git", "-c", "user.name=labkit tests", "-c", "user.email=tests@labkit.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + command, cwd=folder, check=True, capture_output=True)
    return folder


def _fake_pip(folder: Path) -> Path:
    """A `pip` that only leaves a marker: proof of whether the setup cell ran pip."""
    (folder / "pip").mkdir(parents=True)
    (folder / "pip" / "__init__.py").write_text("")
    (folder / "pip" / "__main__.py").write_text(
        "import pathlib, sys\npathlib.Path(__file__).parents[1].joinpath('pip-ran').write_text(' '.join(sys.argv))\n")
    return folder / "pip-ran"


def test_setup_cell_off_colab_only_imports(tmp_path):
    marker = _fake_pip(tmp_path / "path")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "path")}
    result = _ipython(Path(sys.executable), env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "labkit 0.1.0 | device cpu" in result.stdout and "Runtime > Change runtime type" not in result.stdout
    assert not marker.exists(), "the setup cell ran pip outside Colab"


def test_setup_cell_on_colab_installs_labkit_and_keeps_torch(tmp_path):
    """A fresh environment with torch preinstalled (as on Colab) and a stand-in google.colab."""
    import torch

    preinstalled = Path(sysconfig.get_paths()["purelib"])           # this environment's packages
    assert Path(torch.__file__).is_relative_to(preinstalled)
    venv = tmp_path / "colab-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Colab's preinstalled packages: a path entry only, so this checkout's editable labkit is not seen.
    (site / "preinstalled.pth").write_text(f"{preinstalled}\n")
    stand_in = tmp_path / "stand-in" / "google" / "colab"
    stand_in.mkdir(parents=True)
    (stand_in.parent / "__init__.py").write_text("")
    (stand_in / "__init__.py").write_text('"""Stand-in for Colab\'s module: its presence means Colab."""\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "stand-in"), "HOME": str(tmp_path),
           # pip fetches labkit with git from GitHub; point that URL at this repository (offline here).
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{_snapshot(tmp_path / 'labkit.git')}.insteadOf",
           "GIT_CONFIG_VALUE_0": f"https://github.com/{REPOSITORY}",
           "PIP_NO_BUILD_ISOLATION": "0", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    before = (Path(torch.__file__).stat().st_mtime_ns, torch.__version__)

    result = _ipython(python, env, tmp_path, colab=True)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "labkit 0.1.0 | device cpu" in result.stdout
    assert "Runtime > Change runtime type > GPU" in result.stdout          # no GPU on this Colab
    where = subprocess.run([str(python), "-c", "import labkit, torch; print(labkit.__file__); print(torch.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(site), "labkit should have been installed by the setup cell"
    assert Path(where[1]) == Path(torch.__file__) and not (site / "torch").exists(), "torch was reinstalled"
    assert (Path(torch.__file__).stat().st_mtime_ns, torch.__version__) == before
