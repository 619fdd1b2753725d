"""Exercises must test the student's code: with every solution blanked as nbgrader's student
edition blanks it, each graded test cell fails, and every other cell of the lab still runs
(a student who skips an exercise can finish the lab)."""
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO
from labkit.runner import discover

SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)
LABS = [p for p in discover(REPO / "notebooks")
        if any(c.metadata.get("nbgrader", {}).get("solution") for c in nbformat.read(p, as_version=4).cells)]


def blank(source: str) -> str:
    """What nbgrader's generate_assignment leaves in a code solution cell."""
    return SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source)


def test_blanking_matches_nbgrader():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    assert blank(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_blank_solutions_fail_exactly_the_graded_tests(path):
    nb = nbformat.read(path, as_version=4)
    graded = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = blank(cell.source)
        if meta.get("grade") and not meta.get("solution"):
            graded.add(index)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    failed = {i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              and any(out.output_type == "error" for out in cell.outputs)}
    assert failed == graded, f"cells that failed: {sorted(failed)}, graded test cells: {sorted(graded)}"
