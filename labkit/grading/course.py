"""An nbgrader course directory built from the lab notebooks, so no instructor has to lay one out.

nbgrader expects ``<root>/source/<assignment>/<notebook>.ipynb`` and a gradebook; here every lab is
an assignment holding one notebook of the same name (``01_linear_regression``).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from labkit.mode import SMOKE_CELL_TIMEOUT
from labkit.runner import discover, environment_variables, select

COURSE_ID = "labkit"


NBGRADER_CONFIG = """\
# Written by labkit for nbgrader's own commands run in this folder (release_assignment, collect,
# formgrader, release_feedback). labkit's commands pass the same settings themselves.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "{course_id}"
c.Execute.timeout = {timeout}   # seconds per cell; nbgrader's default (30) is too short for training
"""


class GradingError(RuntimeError):
    """nbgrader could not build, release or grade something; the message says what and why."""


def grading_environment(threads: int | None = None) -> dict[str, str]:
    """Variables for kernels that release or grade: smoke mode, no widgets, no display.

    The interpreter's own bin/ goes first on PATH because nbgrader runs the ``alembic`` program
    from there when it creates a gradebook (``.venv/bin/labkit`` is often run without activation).
    """
    env = {"LABKIT_MODE": "smoke", "LABKIT_WIDGETS": "0", "MPLBACKEND": "Agg",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def find_labs(source: str | os.PathLike, labs: Sequence[str] = ()) -> dict[str, Path]:
    """Lab name -> source notebook for the labs in ``source`` (all, or those named in ``labs``)."""
    return {path.stem: path for path in select(discover(source), labs)}


def nbgrader_config(root: Path, timeout: int = SMOKE_CELL_TIMEOUT, sandbox: dict | None = None):
    """The traitlets Config for a course at ``root``: our executor and a per-cell ``timeout``.

    ``sandbox`` (``{"readable": [...], "limits": {...}}``, see labkit.grading.sandbox) starts every
    kernel inside bubblewrap with those limits; None starts it as a plain process.
    """
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from traitlets.config import Config

    from labkit.grading.execute import ResilientExecute

    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.Execute.timeout = timeout
    # Kernels log a notice about local TCP on every start; keep grading logs to what matters.
    config.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
    # nbgrader's list with its Execute replaced by one that survives kernel crashes and hangs.
    config.Autograde.autograde_preprocessors = [
        ResilientExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    # Student print loops must not bloat the feedback: keep the head and tail of long outputs.
    config.LimitOutput.max_lines = 200
    if sandbox is not None:
        from labkit.grading.sandbox import kernel_manager_class

        config.Execute.kernel_manager_class = kernel_manager_class()
        config.SandboxedKernelManager.sandbox = sandbox
        config.ResilientExecute.limits = sandbox["limits"]
    return config


def nbgrader_api(root: Path, timeout: int = SMOKE_CELL_TIMEOUT, sandbox: dict | None = None):
    """nbgrader's Python API for the course at ``root`` (kernels sandboxed when ``sandbox`` is given)."""
    from nbgrader.apps import NbGraderAPI

    return NbGraderAPI(config=nbgrader_config(root, timeout, sandbox))


def check(result: dict, what: str) -> None:
    """Raise GradingError with nbgrader's own log when an API call failed."""
    if not result.get("success"):
        log = (result.get("log") or "").strip().splitlines()
        detail = "\n".join(line for line in log if "ERROR" in line or "Error" in line)[-3000:]
        raise GradingError(f"nbgrader could not {what}:\n{detail or result.get('error', '')}")


def build_course(labs: dict[str, Path], root: str | os.PathLike, timeout: int = SMOKE_CELL_TIMEOUT) -> Path:
    """Copy each lab into ``root/source/<lab>/`` and run nbgrader generate_assignment on it.

    Creates or updates ``root/gradebook.db`` (assignments, cells, checksums, points) and writes the
    student editions to ``root/release/<lab>/<lab>.ipynb``. Re-running updates in place: grades
    already in the gradebook are kept.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config_file = root / "nbgrader_config.py"
    if not config_file.exists():      # nbgrader's own commands (collect, formgrader...) read it
        config_file.write_text(NBGRADER_CONFIG.format(course_id=COURSE_ID, timeout=timeout))
    for lab, notebook in labs.items():
        folder = root / "source" / lab
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, folder / f"{lab}.ipynb")
    api = nbgrader_api(root, timeout)
    with environment_variables(**grading_environment()):
        for lab in labs:
            check(api.generate_assignment(lab, force=True), f"generate the student edition of {lab}")
    return root
