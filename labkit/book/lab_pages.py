"""A lab's page on the site: its executed notebook, with every exercise as the student receives it.

The student's view comes from the release itself: the page takes each exercise cell (a cell nbgrader
marks as a solution, a test or a task) from the student edition that ``labkit release`` builds with
nbgrader, without outputs, and every other cell from the executed notebook, with its outputs. The
release's own leak check then runs on the page, so a page that would give an answer away is refused.
"""
from __future__ import annotations

from nbformat import NotebookNode

from labkit.grading.editions import leaks
from labkit.report import METRIC_MIME
from labkit.runner import PAPERMILL_TAGS


class StaleNotebook(ValueError):
    """The executed notebook was run from another version of the lab than the one in notebooks/."""


def is_exercise(cell: NotebookNode) -> bool:
    """True for a cell nbgrader grades or clears: a solution, an autograded test or a task."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or meta.get("task"))


def _without_injected(cells: list[NotebookNode]) -> list[NotebookNode]:
    return [c for c in cells if not PAPERMILL_TAGS & set(c.get("metadata", {}).get("tags", []))]


def student_page(executed: NotebookNode, edition: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The page of one lab: ``executed``'s outputs, ``edition``'s exercises (see the module docstring).

    ``source`` is the instructor's notebook the edition was built from. Raises StaleNotebook when
    ``executed`` was run from a different version of it, and ValueError when the page would leak
    a solution or hidden test.
    """
    ran = _without_injected(executed.cells)
    if [c.source for c in ran] != [c.source for c in source.cells]:
        changed = next((i for i, (a, b) in enumerate(zip(ran, source.cells), 1) if a.source != b.source),
                       min(len(ran), len(source.cells)) + 1)
        raise StaleNotebook(f"the executed notebook differs from the lab from cell {changed} on: "
                            "it was run from an older version")
    if len(edition.cells) != len(source.cells):
        raise ValueError("the student edition does not have one cell per cell of the lab")
    page = NotebookNode({key: value for key, value in executed.items() if key != "cells"})
    page.cells = []
    for ran_cell, student_cell in zip(ran, edition.cells):
        if is_exercise(ran_cell):
            cell = NotebookNode(student_cell.copy())
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        else:
            cell = ran_cell
            if cell.cell_type == "code":     # recorded metrics are for the report, not for readers
                cell.outputs = [out for out in cell.outputs if METRIC_MIME not in out.get("data", {})]
        page.cells.append(cell)
    problems = leaks(source, page)
    if problems:
        raise ValueError("the page would give answers away: " + "; ".join(problems))
    return page
