"""The grader's own verdict on each exercise, reached outside the student's kernel.

nbgrader scores a test cell by whether it raised in the student's kernel, and the student's code
runs in that kernel: it can replace the checks, NumPy or the output channel. So a test cell keeps
its points only if, in addition, three things hold, each decided here from files alone:

1. no cell the student wrote tampers with the machinery (patching imported modules, IPython
   hooks, ``os._exit``...: see labkit.integrity); tampering zeroes every exercise of the lab;
2. the solution does not use what its exercise denies (read from the notebook's source, with
   import aliases and the student's helper functions followed);
3. every answer the instructor's solution emitted in the hidden tests was emitted by the
   submission too and matches it within the instructor's tolerances.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from labkit.answers import answers_in, mismatch
from labkit.files import atomic_write
from labkit.grading.course import GradingError
from labkit.grading.repair import grade_id
from labkit.integrity import (Finding, chain, chains, definitions, denied_attributes, hiding, imports,
                              is_denied, parse, tampering)


BUILTIN_NAMES = frozenset(dir(builtins))
TAMPERING = "a cell you wrote changes how notebooks are run or checked, which is not allowed in a submission"


class NoReferenceAnswers(GradingError):
    """The instructor's notebook could not produce its reference answers."""


@dataclass(frozen=True)
class Rule:
    """One exercise's rule, read from the instructor's test cell: ``with exercise(name, func, deny=...)``."""

    test_id: str
    function: str
    deny: tuple[str, ...]


def _is_graded(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def exercise_rules(source: NotebookNode) -> dict[str, Rule]:
    """test grade_id -> Rule, for every graded cell whose code opens ``with ...exercise(...)``."""
    rules = {}
    for cell in source.cells:
        tree = parse(cell.source) if _is_graded(cell) else None
        for node in ast.walk(tree) if tree else ():
            if not (isinstance(node, ast.Call) and (chain(node.func) or ("",))[-1] == "exercise"):
                continue
            if len(node.args) < 2 or not isinstance(node.args[1], ast.Name):
                continue
            deny = next((k.value for k in node.keywords if k.arg == "deny"), None)
            try:
                denied = tuple(ast.literal_eval(deny)) if deny is not None else ()
            except ValueError:
                raise ValueError(f"cell {grade_id(cell)}: deny= must be a literal tuple of strings") from None
            rules[grade_id(cell)] = Rule(grade_id(cell), node.args[1].id, denied)
    return rules


def student_cells(submission: NotebookNode, release: NotebookNode) -> list[NotebookNode]:
    """The code cells a student wrote: solution cells and every cell not in the student edition as given."""
    given = {cell.source.strip() for cell in release.cells if cell.cell_type == "code"}
    return [cell for cell in submission.cells if cell.cell_type == "code" and (
        cell.get("metadata", {}).get("nbgrader", {}).get("solution") or cell.source.strip() not in given)]


def tampering_findings(submission: NotebookNode, release: NotebookNode) -> list[str]:
    """Tampering in any cell the student wrote, as "cell N: line L: what" (cells numbered from 1)."""
    imported: set[str] = set()
    for cell in submission.cells:
        tree = parse(cell.source) if cell.cell_type == "code" else None
        if tree:
            imported |= set(imports(tree))
    numbers = {id(cell): n for n, cell in enumerate(submission.cells, start=1)}
    found = []
    for cell in student_cells(submission, release):
        tree = parse(cell.source)
        for finding in tampering(tree, imported) if tree else ():
            found.append(f"cell {numbers[id(cell)]}: {finding}")
    return found


def denied_findings(submission: NotebookNode, release: NotebookNode, rule: Rule) -> list[Finding]:
    """Uses of ``rule.deny`` by the solution of ``rule.function`` and the student's code it reaches."""
    bound: dict[str, str] = {}
    written: dict[str, ast.AST] = {}
    mine = {id(cell) for cell in student_cells(submission, release)}
    for cell in submission.cells:
        tree = parse(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        bound.update(imports(tree))
        if id(cell) in mine:
            written.update(definitions(tree))
    start = written.get(rule.function)
    if start is None:
        return []
    found: list[Finding] = []
    pending, seen = [start], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found += denied_attributes(node, rule.deny) + hiding(node)
        for names, line in chains(node):
            names = _unalias(names, written)
            root = bound.get(names[0]) or (f"builtins.{names[0]}" if names[0] in BUILTIN_NAMES
                                            and names[0] not in written else None)
            if root:
                path = ".".join([root, *names[1:]])
                entry = is_denied(path, rule.deny)
                if entry:
                    found.append(Finding(line, f"uses {'.'.join(names)} ({entry})"))
            elif names[0] in written and written[names[0]] is not node:
                pending.append(written[names[0]])
    return sorted(set(found), key=lambda f: (f.line, f.what))


def _unalias(names: tuple[str, ...], written: dict[str, ast.AST], depth: int = 0) -> tuple[str, ...]:
    """``u.x`` where the student wrote ``u = F.unfold``: read it as ``F.unfold.x``."""
    node = written.get(names[0])
    if depth < 20 and isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name) and chain(node.value):
        return _unalias(chain(node.value) + names[1:], written, depth + 1)
    return names


def reference_answers(source: Path, cache: Path, timeout: int) -> dict[str, dict[str, dict]]:
    """test grade_id -> key -> answer the instructor's solution emits, from its exercise-only cut.

    Cached in ``cache`` (JSON, keyed by the source's hash); computed by running the cut in a
    fresh kernel in an empty folder. Raises NoReferenceAnswers if the cut fails.
    """
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("source_sha256") == digest:
            return stored["answers"]
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from labkit.grading.course import grading_environment
    from labkit.grading.cut import exercise_cut

    notebook = exercise_cut(nbformat.read(source, as_version=4))
    env = {**os.environ, **grading_environment()}      # the kernel's own: safe with several labs at once
    with tempfile.TemporaryDirectory(prefix="labkit-answers-") as folder:
        try:
            NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": folder}}).execute(env=env)
        except CellExecutionError as err:
            raise NoReferenceAnswers(f"the exercise cells of {source.name} fail on the instructor's solutions, so "
                                  f"no reference answers exist: {str(err).strip().splitlines()[-1][:300]}") from None
    answers = {grade_id(cell): answers_in(cell) for cell in notebook.cells if _is_graded(cell)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(cache, "w") as handle:
        json.dump({"source_sha256": digest, "answers": answers}, handle)
    return answers


def verdicts(autograded: NotebookNode, source: NotebookNode, release: NotebookNode,
             references: dict[str, dict[str, dict]]) -> dict[str, list[str]]:
    """test grade_id -> the reasons it scores 0 (empty list: nbgrader's score stands)."""
    problems: dict[str, list[str]] = {grade_id(c): [] for c in source.cells if _is_graded(c)}
    tampered = tampering_findings(autograded, release)
    rules = exercise_rules(source)
    cells = {grade_id(c): c for c in autograded.cells if _is_graded(c)}
    for test_id in problems:
        if tampered:
            problems[test_id].append(TAMPERING + " (" + "; ".join(tampered[:3]) + ")")
        rule = rules.get(test_id)
        for finding in denied_findings(autograded, release, rule) if rule else ():
            problems[test_id].append(f"{rule.function} must not use what this exercise asks you to write "
                                     f"yourself ({finding})")
        got = answers_in(cells.get(test_id, {}))
        for key, expected in references.get(test_id, {}).items():
            if key not in got:
                problems[test_id].append(f"hidden case '{key}': no answer (the test stopped before it)")
                break
            why = mismatch(got[key]["answer"], expected["answer"], expected["rtol"], expected["atol"])
            if why:
                problems[test_id].append(f"hidden case '{key}': {why}")
                break
    return problems


def answers_cache(course: Path, lab: str) -> Path:
    """Where the reference answers of ``lab`` are kept, inside the instructor's course folder."""
    return course / "answers" / f"{lab}.json"


def apply(verdict: dict[str, list[str]], gradebook_url: str, lab: str, student: str,
          autograded_path: Path) -> list[str]:
    """Zero the grades the verdict rejects, note why in the autograded notebook; return the notes."""
    from nbgrader.api import Gradebook

    from labkit.grading.execute import error_output

    failing = {test_id: reasons for test_id, reasons in verdict.items() if reasons}
    if not failing:
        return []
    notes = []
    with Gradebook(gradebook_url) as gradebook:
        for test_id, reasons in failing.items():
            grade = gradebook.find_grade(test_id, lab, lab, student)
            if grade.auto_score or reasons[0].startswith(TAMPERING):   # tampering is always reported
                notes.append(f"{test_id}: 0 points, {reasons[0]}")
            grade.auto_score = 0.0
        gradebook.db.commit()
    notebook = nbformat.read(autograded_path, as_version=4)
    for cell in notebook.cells:
        reasons = failing.get(grade_id(cell))
        if reasons:
            cell.outputs.append(error_output("NotAccepted", "; ".join(reasons)))
    with atomic_write(autograded_path, "w") as handle:
        nbformat.write(notebook, handle)
    return notes


