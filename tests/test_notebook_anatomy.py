"""Static checks of every lab notebook: parameters, nbgrader markup, no stored outputs, lab_lint."""
import json
import subprocess
import sys

import pytest

from conftest import REPO
from labkit.runner import discover

LABS = discover(REPO / "notebooks")
LINT = REPO.parent / "shared" / "tools" / "lab_lint.py"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_parameters_cell(path):
    # The setup cell and the badges are checked in test_launch.py.
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "MODE = labkit.mode.default()" in _source(params[0])


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_only_checked_outputs_are_committed(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" not in _source(cell):
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, f"cell {i} has outputs"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_nbgrader_markup(path):
    ids, graded = set(), 0
    for cell in _cells(path):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        assert meta["schema_version"] == 3
        assert meta["grade_id"] not in ids, f"duplicate grade_id {meta['grade_id']}"
        ids.add(meta["grade_id"])
        src = _source(cell)
        if meta.get("solution") and cell["cell_type"] == "code":
            assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
        if meta.get("grade") and not meta.get("solution"):
            graded += 1
            assert meta["points"] > 0 and meta["locked"]
            assert "labkit.checks" in src or "checks." in src, "test cells use labkit.checks self-checks"
            assert src.count("### BEGIN HIDDEN TESTS") == src.count("### END HIDDEN TESTS")
    assert graded >= (1 if path.stem.startswith("00") else 3)   # lab 00: one practice exercise


@pytest.mark.skipif(not LINT.exists(), reason="../shared/tools/lab_lint.py is not beside the repository")
def test_lab_anatomy_floor():
    result = subprocess.run([sys.executable, str(LINT), *map(str, LABS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
