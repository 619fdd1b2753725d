"""The instructor's side of the class cycle: the README's commands, run as the instructor would.

release:  ``labkit release LABS --out release --course course`` then, in the course,
          ``nbgrader release_assignment LAB``
collect:  ``nbgrader collect LAB`` in the course (submissions land in ``course/submitted``)
grade:    ``labkit grade course/submitted --out grading``
return:   ``nbgrader release_feedback LAB`` in ``grading/course``

Each runs as a child process with the exchange's configuration (``JUPYTER_CONFIG_PATH``), so what
is tested is the command line, not a Python shortcut around it.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from labkit.hub.layout import Classroom

NBGRADER_ERROR = re.compile(r"\| ERROR\]")      # nbgrader logs a failed step and may still exit 0


class InstructorError(RuntimeError):
    """An instructor command failed; the message holds the command and the end of its output."""


class Instructor:
    """Runs the instructor's commands for ``classroom``; ``notebooks`` is the folder of the labs."""

    def __init__(self, classroom: Classroom, notebooks: str | os.PathLike = "notebooks",
                 echo: Callable[[str], None] = print, timeout: float = 900,
                 env: dict[str, str] | None = None) -> None:
        """``timeout``: seconds any one command may take; ``env``: extra variables for every command
        (e.g. a hub run's marker, so that what a command leaves running is stopped with the hub)."""
        self.classroom, self.notebooks = classroom, Path(notebooks).resolve()
        self.echo, self.timeout, self.env = echo, timeout, dict(env or {})

    def run(self, command: Sequence[str], shown: str, cwd: Path) -> str:
        """Run ``command`` in ``cwd``, echoing ``shown`` (what the instructor types); its output."""
        self.echo(f"[{cwd.relative_to(self.classroom.root) if cwd.is_relative_to(self.classroom.root) else cwd}]"
                  f"$ {shown}")
        env = {**os.environ, **self.classroom.instructor_env(), **self.env}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        try:
            done = subprocess.run(list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as err:
            raise InstructorError(f"`{shown}` did not finish within {self.timeout:.0f} s") from err
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode != 0 or NBGRADER_ERROR.search(output):
            raise InstructorError(f"`{shown}` (in {cwd}) failed with status {done.returncode}:\n"
                                  f"{output.strip()[-3000:]}")
        return output

    def _labkit(self, *args: str) -> tuple[list[str], str]:
        return [sys.executable, "-m", "labkit.cli", *args], "labkit " + shlex.join(args)

    def _nbgrader(self, *args: str) -> tuple[list[str], str]:
        return [sys.executable, "-m", "nbgrader", *args], "nbgrader " + shlex.join(args)

    def release(self, labs: Sequence[str], execute: bool = False, force: bool = False) -> str:
        """Student editions of ``labs`` (checked by labkit), then each released to the exchange.

        ``execute`` runs labkit's two checks that execute the notebooks; ``force`` replaces a
        release already in the exchange (nbgrader refuses otherwise)."""
        room = self.classroom
        args = ["release", *labs, "--notebooks", str(self.notebooks), "--out", str(room.release_dir),
                "--course", str(room.course)] + ([] if execute else ["--no-execute"])
        output = self.run(*self._labkit(*args), cwd=room.root)
        replace = ["--force"] if force else []
        for lab in labs:
            output += self.run(*self._nbgrader("release_assignment", lab, *replace), cwd=room.course)
        return output

    def collect(self, lab: str) -> str:
        """Every student's latest submission of ``lab`` into ``course/submitted/<student>/<lab>/``."""
        return self.run(*self._nbgrader("collect", lab), cwd=self.classroom.course)

    def grade(self, jobs: int = 2) -> str:
        """``labkit grade`` on the collected layout, into ``grading/`` (grades.csv, feedback, course)."""
        room = self.classroom
        return self.run(*self._labkit("grade", str(room.course / "submitted"), "--notebooks", str(self.notebooks),
                                      "--out", str(room.grading), "--jobs", str(jobs), "--no-progress"),
                        cwd=room.root)

    def release_feedback(self, lab: str) -> str:
        """Each graded student's feedback on ``lab`` into the exchange, for them alone to fetch."""
        return self.run(*self._nbgrader("release_feedback", lab), cwd=self.classroom.grading / "course")
