"""The README's commands, the Makefile and .ci/run must agree."""
import re
import tomllib

from conftest import REPO

README = (REPO / "README.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()


def _targets():
    return {m.group(1): m.group(2) for m in re.finditer(r"^([a-z-]+):[^\n=]*\n((?:\t[^\n]*\n)*)", MAKEFILE, re.M)}


def test_readme_setup_is_exactly_make_run_and_make_test():
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]


def test_makefile_has_the_documented_targets():
    targets = _targets()
    for name in ("install", "run", "test", "lab"):
        assert name in targets, f"Makefile lacks `{name}`"
    assert "pytest" in targets["test"] and "labkit run" in targets["run"]
    assert "jupyter lab notebooks" in targets["lab"]
    assert re.search(r"^(run|test|lab): install$", MAKEFILE, re.M)


def test_instructor_targets_are_documented_and_wired():
    targets = _targets()
    assert "labkit release" in targets["release"] and "labkit grade $(SUBMISSIONS)" in targets["grade"]
    section = README.split("## For instructors", 1)[1].split("\n## ", 1)[0]
    for command in ("make release", "make grade SUBMISSIONS=", "<student>/<lab>.ipynb", "grades.csv",
                    "nbgrader release_assignment", "nbgrader collect"):
        assert command in section, f"the instructor docs do not mention {command}"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("nbgrader") for r in extras["grading"]) and "labkit[grading]" in extras["lab"]
    assert "labkit[lab]" in extras["dev"]


def test_ci_calls_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_pyproject_declares_ranges_not_pins_and_the_cli():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert "==" not in requirement, f"{requirement}: declare a range, not a pin (Colab keeps its torch)"
    assert project["scripts"]["labkit"] == "labkit.cli:main"
    assert "nbval" in " ".join(project["optional-dependencies"]["dev"])


def test_nbval_cell_timeout_is_the_smoke_cell_timeout():
    from labkit.mode import SMOKE_CELL_TIMEOUT

    addopts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert f"--nbval-cell-timeout={SMOKE_CELL_TIMEOUT}" in addopts.split()


def test_the_gpu_layer_has_its_own_target_that_installs_nothing():
    assert re.search(r"^test-gpu:\s*$", MAKEFILE, re.M), "test-gpu must not depend on install"
    recipe = _targets()["test-gpu"]
    assert "-m pytest" in recipe and "tests/gpu" in recipe and "-o addopts=" in recipe
    assert "pip" not in recipe
