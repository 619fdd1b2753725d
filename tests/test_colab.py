"""Colab: the setup cell installs labkit there without changing any of Colab's packages, and the
widgets work with Colab's ipywidgets 7. Offline: Colab's versions are read from the latest
tests/data/colab-pins-<date>.txt, and ipywidgets 7 from where `make install` puts it."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO
from labkit.launch import SETUP_CELL

PINS_FILE = sorted((REPO / "tests" / "data").glob("colab-pins-*.txt"))[-1]   # ISO dates sort by time
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
IPYWIDGETS7 = Path(sys.prefix) / "compat" / "ipywidgets7"     # the Makefile's $(VENV)/compat/ipywidgets7
# ipykernel 7 (this environment's) deprecates the Comm class ipywidgets 7 uses; Colab's 6.17 does not.
COMM_WARNING = "ignore::DeprecationWarning:ipywidgets.widgets.widget"


def _read_pins(text: str) -> tuple[Version, dict[str, Version], dict[str, str], set[str]]:
    """Python version, name -> version, google-colab's own pins (name -> '==X'), the kernel stack."""
    python = Version(re.search(r"^# Python (\S+)$", text, re.M)[1])
    versions, colab_pins, jupyter = {}, {}, set()
    for line in text.splitlines():
        requirement, _, comment = line.partition("#")
        if not requirement.strip():
            continue
        name, version = requirement.split("==")
        name = canonicalize_name(name)
        versions[name] = Version(version)
        if pin := re.search(r"google-colab (==\S+)", comment):
            colab_pins[name] = pin[1]
        if re.search(r"\bjupyter\b", comment):
            jupyter.add(name)
    return python, versions, colab_pins, jupyter


PYTHON, COLAB, COLAB_PINS, JUPYTER = _read_pins(PINS_FILE.read_text())
COLAB_ENVIRONMENT = {"python_version": f"{PYTHON.major}.{PYTHON.minor}", "python_full_version": str(PYTHON),
                     "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                     "platform_machine": "x86_64", "implementation_name": "cpython",
                     "platform_python_implementation": "CPython", "extra": ""}


def _not_met_on_colab(requirements: list[str]) -> list[str]:
    """Why pip, given these requirements on Colab, would install or replace something."""
    found = []
    for requirement in map(Requirement, requirements):
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate(COLAB_ENVIRONMENT):
            continue
        if name not in COLAB:
            found.append(f"{requirement}: not preinstalled on Colab (not in {PINS_FILE.name}), "
                         "so pip would install it and what it needs")
        elif not requirement.specifier.contains(COLAB[name], prereleases=True):
            pinned = f"; google-colab pins it {COLAB_PINS[name]} (colabtools#2837)" if name in COLAB_PINS else ""
            found.append(f"{requirement}: Colab has {name} {COLAB[name]}, so pip would replace it{pinned}")
    return found


def test_colab_python_meets_requires_python():
    assert PYTHON in SpecifierSet(PROJECT["requires-python"]), \
        f"Colab runs Python {PYTHON}, outside requires-python {PROJECT['requires-python']}"


def test_colabs_preinstalled_packages_meet_every_runtime_requirement():
    assert _not_met_on_colab(PROJECT["dependencies"]) == []
    assert {"torch", "numpy", "ipywidgets", "ipython"} <= COLAB.keys() and COLAB_PINS["ipython"] == "==7.34.0"


def test_runtime_requirements_leave_colabs_kernel_stack_alone():
    """A requirement on any of it makes pip resolve Colab's kernel stack in the running runtime:
    ipywidgets would bring IPython 7.34, whose jedi Colab lacks, so pip would install jedi there."""
    named = sorted(JUPYTER & {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]})
    assert named == [], f"{named}: Colab's own kernel stack; require it in an extra (like labkit[widgets])"
    assert {"ipywidgets", "ipython", "ipykernel", "traitlets", "tornado"} <= JUPYTER


def test_setup_cell_installs_only_labkit_on_colab():
    """pip's default upgrade strategy (only-if-needed) installs a requirement only when no installed
    distribution satisfies it. The setup cell keeps that strategy, its own requirements admit Colab's
    versions, and so do labkit's (checked above), whose own requirements pip's resolver found met on
    Colab (see the pins file). So pip installs labkit alone, and none of google-colab's pins."""
    line = next(line.strip() for line in SETUP_CELL.splitlines() if line.strip().startswith("%pip install"))
    words = [re.sub(r"\{version\('([\w.-]+)'\)\}", lambda m: str(COLAB[canonicalize_name(m[1])]), word)
             for word in shlex.split(line.removeprefix("%pip install"))]
    options = [word for word in words if word.startswith("-")]
    assert set(options) <= {"-q", "--quiet"}, f"{options}: keep pip's default only-if-needed strategy on Colab"
    requirements = [word for word in words if not word.startswith("-")]
    others = [r for r in requirements if canonicalize_name(Requirement(r).name) != "labkit"]
    assert len(others) == len(requirements) - 1, f"{requirements}: labkit once, then what it keeps as is"
    assert f"torch=={COLAB['torch']}" in others and _not_met_on_colab(others) == []


def test_installed_labkit_metadata_matches_pyproject():
    site = sysconfig.get_paths()["purelib"]          # not the checkout's labkit.egg-info
    dist = next(iter(metadata.distributions(name="labkit", path=[site])), None)
    assert dist is not None, f"labkit is not installed in {sys.prefix}: run `make install`"
    installed = {str(Requirement(r)) for r in dist.requires or [] if "extra ==" not in r}
    assert installed == {str(Requirement(r)) for r in PROJECT["dependencies"]}, \
        "the installed labkit is older than pyproject.toml: run `make install`"


def _ipywidgets7_env() -> dict[str, str]:
    assert (IPYWIDGETS7 / "ipywidgets").is_dir(), f"Colab's ipywidgets 7 is missing from {IPYWIDGETS7}: run `make install`"
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(IPYWIDGETS7), os.environ.get("PYTHONPATH")]))}


def test_widget_tests_pass_with_colabs_ipywidgets_7():
    code = "import sys, ipywidgets, pytest; print('ipywidgets', ipywidgets.__version__); sys.exit(pytest.main())"
    result = subprocess.run([sys.executable, "-c", code, "-q", "-W", COMM_WARNING, "tests/test_widgets.py"],
                            cwd=REPO, env=_ipywidgets7_env(), capture_output=True, text=True, timeout=600)
    version = re.search(r"^ipywidgets (\S+)$", result.stdout, re.M)[1]
    assert version.startswith("7.") and Version(version) == COLAB["ipywidgets"], f"ran with ipywidgets {version}"
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


KERNEL_CELLS = [
    "import ipywidgets, labkit\nprint(ipywidgets.__version__)\nassert labkit.widgets.widget_frontend()",
    "import numpy as np\nx = np.linspace(-2, 2, 50)\nlabkit.widgets.GDExplorer(x, 3 * x + 1, lr=0.05)",
    "import torch\nfrom torch import nn\nX = torch.randn(64, 2)\n"
    "history = labkit.fit(nn.Linear(2, 1), (X, X @ torch.tensor([[1.0], [-2.0]])), epochs=3,"
    " loss_fn=nn.MSELoss(), lr=0.1)",
]


@pytest.fixture(scope="module")
def ipywidgets7_kernel(tmp_path_factory) -> list[list[dict]]:
    """The outputs of KERNEL_CELLS run by a kernel with ipywidgets 7 that believes a front end is there."""
    path = tmp_path_factory.mktemp("ipywidgets7") / "widgets.ipynb"
    notebook = new_notebook(cells=[new_code_cell(source) for source in KERNEL_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", _ipywidgets7_env()["PYTHONPATH"])
        patch.delenv("LABKIT_WIDGETS", raising=False)
        papermill.execute_notebook(str(path), str(path), progress_bar=False, execution_timeout=120,
                                   kernel_name="python3")
    return [cell.outputs for cell in nbformat.read(path, as_version=4).cells]


def _kinds(outputs: list[dict]) -> set[str]:
    return {kind for output in outputs for kind in output.get("data", {})}


def test_explorer_is_a_live_widget_in_a_kernel_with_ipywidgets_7(ipywidgets7_kernel):
    assert ipywidgets7_kernel[0][0]["text"].strip() == str(COLAB["ipywidgets"])
    assert "application/vnd.jupyter.widget-view+json" in _kinds(ipywidgets7_kernel[1])


def test_live_plot_leaves_a_static_figure_with_ipywidgets_7(ipywidgets7_kernel):
    assert "image/png" in _kinds(ipywidgets7_kernel[2])
