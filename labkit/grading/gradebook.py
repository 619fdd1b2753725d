"""The course gradebook: a student-free template for workers, and merging their results back.

nbgrader keeps grades in one SQLite file. Parallel workers never write it: each grades into a copy
of the template (assignments, cells and points only), and the parent process merges the results
one at a time, so there is a single writer and no lock contention or corruption.
"""
from __future__ import annotations

import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from labkit.grading.course import COURSE_ID


@contextmanager
def quiet() -> Iterator[None]:
    """Hide the session notices nbgrader's gradebook triggers under SQLAlchemy 2 (harmless)."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def db_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def make_template(course_db: Path, template: Path) -> Path:
    """Copy the course gradebook to ``template`` without any student or submission in it."""
    from nbgrader.api import Gradebook

    shutil.copyfile(course_db, template)
    with quiet(), Gradebook(db_url(template), COURSE_ID) as gradebook:
        for student in list(gradebook.students):
            gradebook.remove_student(student.id)
    return template


def merge_submission(course_db: Path, worker_url: str, lab: str, student: str) -> None:
    """Copy ``student``'s automatic scores and comments for ``lab`` into the course gradebook.

    Re-grading updates the same rows (nbgrader keys them by student, lab and cell), so a batch can
    be graded again without duplicates; manual scores an instructor entered are left as they are.
    """
    from nbgrader.api import Gradebook

    with quiet(), Gradebook(worker_url) as worker, Gradebook(db_url(course_db), COURSE_ID) as course:
        submitted = worker.find_submission(lab, student)
        course.update_or_create_student(student)
        course.update_or_create_submission(lab, student, timestamp=submitted.timestamp)
        for notebook in submitted.notebooks:
            for grade in notebook.grades:
                target = course.find_grade(grade.name, notebook.name, lab, student)
                target.auto_score = grade.auto_score
                target.needs_manual_grade = grade.needs_manual_grade
            for comment in notebook.comments:
                target = course.find_comment(comment.name, notebook.name, lab, student)
                target.auto_comment = comment.auto_comment
        course.db.commit()
