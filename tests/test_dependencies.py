"""One source of truth for dependencies: pyproject's `labkit[lab]` extra is what binder/ and
environment.yml install, with the same version ranges."""
from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
ENVIRONMENT = yaml.safe_load((REPO / "environment.yml").read_text())
BINDER = (REPO / "binder" / "requirements.txt").read_text()


def expand(extra: str | None = None) -> dict[str, str]:
    """Package name -> version range for labkit (with ``extra``), following labkit[...] references."""
    found: dict[str, str] = {}
    pending = list(PROJECT["dependencies"]) if extra is None else [f"labkit[{extra}]"]
    while pending:
        requirement = Requirement(pending.pop())
        if canonicalize_name(requirement.name) == "labkit":
            for name in requirement.extras:
                pending += PROJECT["optional-dependencies"][name]
            pending += PROJECT["dependencies"]
            continue
        found[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return found


def listed(lines: list[str]) -> dict[str, str]:
    requirements = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): str(r.specifier) for r in requirements}


def test_the_lab_extra_covers_the_package_and_jupyter():
    lab = expand("lab")
    assert expand().items() <= lab.items()
    assert {"jupyterlab", "nbgrader", "papermill", "ipykernel", "ipywidgets"} <= lab.keys()
    assert "ipywidgets" in expand("run")        # headless runs and grading build the labs' widgets too
    assert "pytest" not in lab and "playwright" not in lab         # test tools stay in dev


def test_environment_yml_matches_pyproject():
    pip_section = next(item["pip"] for item in ENVIRONMENT["dependencies"] if isinstance(item, dict))
    packages = [line for line in pip_section if not line.startswith("-e")]
    assert listed(packages) == expand("lab")
    assert "-e ." in pip_section                                    # labkit itself, from the checkout
    python = next(item for item in ENVIRONMENT["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert SpecifierSet(python.removeprefix("python")) == SpecifierSet(PROJECT["requires-python"])


def test_binder_matches_pyproject_and_uses_cpu_torch():
    lines = [line.strip() for line in BINDER.splitlines() if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines   # not the multi-GB CUDA build
    assert listed([line for line in lines if not line.startswith("-")]) == expand("lab")
    runtime = (REPO / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    assert Version(runtime.removeprefix("python-")) in SpecifierSet(PROJECT["requires-python"])
    assert "--no-deps" in (REPO / "binder" / "postBuild").read_text()           # deps come from requirements.txt


def test_ranges_not_pins():
    for name, spec in expand("dev").items():
        assert "==" not in spec, f"{name}{spec}: declare a range (Colab and Binder bring their own builds)"
