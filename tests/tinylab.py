"""A two-exercise lab small enough to grade in seconds, for the grading tests."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NAME = "90_tiny"
POINTS = {"test_square": 1, "test_cube": 2}
SQUARE, TEST_SQUARE, CUBE, TEST_CUBE = 2, 3, 4, 5          # cell positions


def _nbgrader(grade_id: str, *, solution=False, grade=False, points=None) -> dict:
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": grade and not solution,
            "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_lab() -> nbformat.NotebookNode:
    """The instructor's version: solutions, visible and hidden tests."""
    cells = [
        new_markdown_cell("# Tiny lab\nSquare and cube a number."),
        new_code_cell("import labkit.checks as checks"),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=_nbgrader("square", solution=True)),
        new_code_cell("checks.close(square(3), 9, 'square(3)')\n### BEGIN HIDDEN TESTS\n"
                      "checks.close(square(-2), 4, 'square(-2)')\n### END HIDDEN TESTS",
                      metadata=_nbgrader("test_square", grade=True, points=1)),
        new_code_cell("def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
                      metadata=_nbgrader("cube", solution=True)),
        new_code_cell("checks.close(cube(2), 8, 'cube(2)')\n### BEGIN HIDDEN TESTS\n"
                      "checks.close(cube(-1), -1, 'cube(-1)')\n### END HIDDEN TESTS",
                      metadata=_nbgrader("test_cube", grade=True, points=2)),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def write_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.ipynb"
    nbformat.write(source_lab(), path)
    return path


def answered(release: nbformat.NotebookNode, square: str = "x * x", cube: str = "x ** 3") -> nbformat.NotebookNode:
    """A student's copy of the release with the two functions filled in."""
    notebook = nbformat.from_dict(release)
    notebook.cells[SQUARE].source = f"def square(x):\n    return {square}"
    notebook.cells[CUBE].source = f"def cube(x):\n    return {cube}"
    return notebook
