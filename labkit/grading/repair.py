"""Make a student's notebook gradable again: read it safely, restore the cells grading relies on.

Students can break the nbgrader structure without meaning to: edit or delete a locked test cell,
delete a solution cell, or change a cell's grade_id. Each submission is compared with the lab's
student edition (the instructor's copy, never the student's metadata) and every repair is reported
so the instructor can see what was changed and why.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import compute_checksum


class MalformedSubmission(ValueError):
    """The file is not a readable Jupyter notebook."""


@dataclass
class Repaired:
    """A submission ready for nbgrader, and what had to be restored in it."""

    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)


def read_submission(path: str | os.PathLike) -> NotebookNode:
    """Read and validate a submitted notebook, or raise MalformedSubmission saying what is wrong."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedSubmission(f"not valid notebook JSON ({err}); ask the student to re-download "
                                  "it from Jupyter (File > Download)") from None
    except Exception as err:  # nbformat raises several types for unreadable structures
        raise MalformedSubmission(f"not a readable notebook: {type(err).__name__}: {err}") from None
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as err:
        raise MalformedSubmission(f"notebook structure is invalid: {err.message}") from None
    return notebook


def grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_locked(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def repair(submitted: NotebookNode, release: NotebookNode, source: NotebookNode | None = None) -> Repaired:
    """Restore, in ``submitted``, every nbgrader cell of ``release`` that was edited, renamed or lost.

    ``source`` (the instructor's notebook) is optional: a locked cell identical to the source's
    version, hidden tests included, is not an edit (instructors test the grader with it).

    - a locked cell (a test) whose checksum differs from the release: its source is restored;
    - a cell carrying an unknown grade_id where an expected solution cell is missing (renamed):
      it gets its grade_id back, keeping the student's code;
    - any other unknown grade_id: the cell is kept as ordinary code;
    - a missing cell: the release's copy is put back after the cell that preceded it (a missing
      solution cell therefore comes back blank and its tests score 0);
    - a grade_id used twice: the later copies become ordinary cells.
    """
    notebook = nbformat.from_dict(json.loads(json.dumps(submitted)))
    expected = {grade_id(cell): cell for cell in release.cells if grade_id(cell)}
    accepted = {gid: {cell.metadata.nbgrader.get("checksum")} for gid, cell in expected.items()}
    for cell in (source.cells if source is not None else []):
        if grade_id(cell) in accepted:
            accepted[grade_id(cell)].add(compute_checksum(_with_meta(cell, expected[grade_id(cell)])))
    order = list(expected)
    notes: list[str] = []

    seen: set[str] = set()
    for cell in notebook.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            notes.append(f"grade_id `{gid}` appeared twice; the later copy was graded as ordinary code")
            cell.metadata.nbgrader = {"__orphan__": gid}
        elif gid not in expected:
            cell.metadata.nbgrader = {"__orphan__": gid}
        seen.add(gid)

    for position, gid in enumerate(order):
        index = _index_of(notebook, gid)
        released = expected[gid]
        if index is None:
            anchor = _anchor(notebook, order[:position])
            follower = notebook.cells[anchor] if anchor < len(notebook.cells) else None
            if (follower is not None and "__orphan__" in follower.metadata.get("nbgrader", {})
                    and released.metadata.nbgrader.get("solution")):
                old = follower.metadata.nbgrader["__orphan__"]
                follower.metadata.nbgrader = json.loads(json.dumps(released.metadata.nbgrader))
                notes.append(f"solution cell `{gid}` had its grade_id changed to `{old}`; "
                             "the id was restored and the student's code kept")
            else:
                notebook.cells.insert(anchor, _copy(released))
                kind = "solution" if released.metadata.nbgrader.get("solution") else "test"
                notes.append(f"{kind} cell `{gid}` was missing; the release copy was put back"
                             + (" (blank, so its tests score 0)" if kind == "solution" else ""))
            continue
        cell = notebook.cells[index]
        if _is_locked(released) and compute_checksum(_with_meta(cell, released)) not in accepted[gid]:
            notebook.cells[index] = _copy(released)
            notes.append(f"locked cell `{gid}` had been edited; it was restored from the release "
                         "(its checksum did not match)")

    for cell in notebook.cells:
        orphan = cell.get("metadata", {}).get("nbgrader", {}).get("__orphan__")
        if orphan is not None:
            del cell.metadata["nbgrader"]
            if orphan not in expected:
                notes.append(f"a cell carried the unknown grade_id `{orphan}`; it ran as ordinary code")
    return Repaired(notebook, notes)


def _index_of(notebook: NotebookNode, gid: str) -> int | None:
    return next((i for i, cell in enumerate(notebook.cells) if grade_id(cell) == gid), None)


def _anchor(notebook: NotebookNode, earlier: list[str]) -> int:
    """Where a missing cell goes: just after the nearest earlier nbgrader cell still present."""
    for gid in reversed(earlier):
        index = _index_of(notebook, gid)
        if index is not None:
            return index + 1
    # No earlier one: at the first cell with nbgrader metadata (perhaps a renamed one), else the end.
    return next((i for i, cell in enumerate(notebook.cells) if cell.metadata.get("nbgrader")),
                len(notebook.cells))


def _copy(cell: NotebookNode) -> NotebookNode:
    copied = nbformat.from_dict(json.loads(json.dumps(cell)))
    if copied.cell_type == "code":
        copied.outputs, copied.execution_count = [], None
    return copied


def _with_meta(cell: NotebookNode, source: NotebookNode) -> NotebookNode:
    """``cell`` with the release's nbgrader metadata, so only the student's content is compared."""
    checked = _copy(cell)
    checked.cell_type = cell.cell_type
    checked.metadata["nbgrader"] = json.loads(json.dumps(source.metadata.nbgrader))
    return checked
