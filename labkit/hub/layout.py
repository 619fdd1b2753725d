"""The folders of a demo class and the nbgrader configuration that ties them to one exchange.

Everything lives under one root (``build/hub`` for ``make hub``)::

    exchange/           nbgrader's exchange: what the instructor releases, what students submit
    course/             the instructor's nbgrader course (``labkit release --course``): solutions,
                        hidden tests, gradebook; ``nbgrader collect`` writes ``course/submitted/``
    release/            the student editions (``labkit release --out``)
    grading/            ``labkit grade --out``: grades.csv, feedback/, the grading course
    home/<user>/        each hub user's home, the root of their JupyterLab
    etc/exchange/       nbgrader_config.py for everyone: the exchange and the course id
    etc/students/<u>/   nbgrader_config.py for one student: their student id
    etc/formgrader/     nbgrader_config.py for the instructor's server: the course for formgrader
    state/              the hub's database, cookie secret, configuration and logs

Users find their configuration through ``JUPYTER_CONFIG_PATH`` (set by the hub for each server,
and by :meth:`Classroom.instructor_env` for the instructor's commands), as a real hub's
administrator would put the first file in ``/etc/jupyter/nbgrader_config.py``.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from labkit.grading.course import COURSE_ID

DEFAULT_STUDENTS = ("ada", "bo", "cy")
USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# JupyterLab settings for every user: no news or update checks (the hub must never call out), and
# every cell in the page so a browser test can find it.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def _pyrepr(value: object) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)


def nbgrader_config_text(settings: dict[str, object], comment: str) -> str:
    """An nbgrader_config.py setting ``{"Exchange.root": ...}`` style keys, with a comment on top."""
    lines = [f"# {line}" for line in comment.splitlines()] + ["c = get_config()  # noqa: F821"]
    lines += [f"c.{key} = {_pyrepr(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Classroom:
    """A class on one machine: its folders, an instructor and students (hub user names)."""

    root: Path
    instructor: str = "instructor"
    students: tuple[str, ...] = DEFAULT_STUDENTS
    course_id: str = COURSE_ID
    users: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        users = (self.instructor, *self.students)
        bad = [name for name in users if not USERNAME.match(name)]
        if bad or len(set(users)) != len(users):
            raise ValueError(f"hub user names must be distinct, lower-case letters, digits, _ or -, "
                             f"starting with a letter; got {', '.join(bad) or 'a repeated name'}")
        object.__setattr__(self, "users", users)

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    @property
    def grading(self) -> Path:
        return self.root / "grading"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def config_path(self, user: str) -> str:
        """``JUPYTER_CONFIG_PATH`` for ``user``'s server: their own settings first, then the exchange."""
        own = self.root / "etc" / ("formgrader" if user == self.instructor else f"students/{user}")
        return os.pathsep.join([str(own), str(self.root / "etc" / "exchange")])

    def instructor_env(self) -> dict[str, str]:
        """Variables for the instructor's nbgrader commands: the exchange's configuration."""
        return {"JUPYTER_CONFIG_PATH": str(self.root / "etc" / "exchange")}

    def prepare(self) -> None:
        """Create the folders and write every nbgrader configuration file (idempotent)."""
        for folder in (self.course, self.release_dir, self.grading, self.state):
            folder.mkdir(parents=True, exist_ok=True)
        # The exchange must exist before nbgrader runs and be writable by every student: on a real
        # hub, students are distinct Unix users, and nbgrader's own permission bits keep each
        # student's submission and feedback from the others.
        self.exchange.mkdir(parents=True, exist_ok=True)
        self.exchange.chmod(stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
        etc = self.root / "etc"
        self._write(etc / "exchange" / "nbgrader_config.py", nbgrader_config_text(
            {"Exchange.root": self.exchange, "CourseDirectory.course_id": self.course_id,
             "ExchangeCollect.check_owner": False},
            "The class's exchange, for every user (a real hub: /etc/jupyter/nbgrader_config.py).\n"
            "check_owner: in this demo one Unix user owns every submission, so nbgrader collect cannot\n"
            "compare a submission's owner with the student it names; on a real hub leave it on."))
        self._write(etc / "formgrader" / "nbgrader_config.py", nbgrader_config_text(
            {"CourseDirectory.root": self.course},
            "The instructor's JupyterLab: formgrader works on this course."))
        for student in self.students:
            # One Unix user serves every student in this demo, so nbgrader cannot tell them apart
            # by the process's user name: each student's server is told its student id.
            self._write(etc / "students" / student / "nbgrader_config.py", nbgrader_config_text(
                {"CourseDirectory.student_id": student},
                f"Student {student}: the id nbgrader files their submissions under."))
        for user in self.users:
            settings = self.home(user) / ".jupyter" / "lab" / "user-settings"
            for plugin, values in LAB_SETTINGS.items():
                self._write(settings / f"{plugin}.jupyterlab-settings", json.dumps(values))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
