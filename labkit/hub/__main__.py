"""``python -m labkit.hub`` (``make hub``): a demo class on this machine, until Ctrl-C.

Releases the labs through nbgrader's exchange under ``build/hub/``, starts JupyterHub on 127.0.0.1
with an instructor (formgrader on the course) and a few students, prints how to log in and the
rest of the cycle, and on Ctrl-C stops every process it started. Exit status: 0 after Ctrl-C,
1 when the hub fails, 2 when something it needs is missing.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

BANNER = """\
========================================================================================
 DEMO CLASS. NEVER EXPOSE IT TO A NETWORK.
 Dummy authentication: any password logs in as any listed user. Every student's server
 runs as this one Unix user ({unix_user}), so students are not isolated from each other.
 It listens on 127.0.0.1 only. A real class needs real authentication and one Unix user
 or container per student (README, "On a class JupyterHub").
========================================================================================"""


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cycle_text(classroom, url: str, labs: Sequence[str]) -> str:
    """How to log in, and the instructor's remaining commands with this class's paths."""
    room, lab = classroom, labs[-1] if labs else "LAB"
    env = f"JUPYTER_CONFIG_PATH={shlex.quote(_shown(room.root / 'etc' / 'exchange'))}"
    students = ", ".join(room.students)
    return "\n".join([
        f"Log in at {url}/hub/login",
        f"  instructor: {room.instructor} (JupyterLab on the course, Nbgrader -> Formgrader)",
        f"  students:   {students} (Nbgrader -> Assignment List: Fetch, work, Submit, later Fetch Feedback)",
        "  password:   anything (dummy authentication)",
        "",
        f"Released through the exchange {_shown(room.exchange)}: {', '.join(labs)}",
        "Then, in a terminal of this machine (the instructor's side, e.g. for " + lab + "):",
        f"  collect:  (cd {shlex.quote(_shown(room.course))} && {env} nbgrader collect {lab})",
        f"  grade:    labkit grade {shlex.quote(_shown(room.course / 'submitted'))} "
        f"--out {shlex.quote(_shown(room.grading))}",
        f"  return:   (cd {shlex.quote(_shown(room.grading / 'course'))} && {env} nbgrader release_feedback {lab})",
        "",
        "Ctrl-C stops the hub, the proxy, every user's server and their kernels.",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m labkit.hub`` and ``labkit hub``."""
    parser.add_argument("labs", nargs="*", help="labs to release, by number or name (default: all)")
    parser.add_argument("--root", default="build/hub", help="the class's folders (default: build/hub)")
    parser.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    parser.add_argument("--students", nargs="+", default=["ada", "bo", "cy"], help="student user names")
    parser.add_argument("--instructor", default="instructor", help="the instructor's user name")
    parser.add_argument("--port", type=int, default=None, help="public port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--execute", action="store_true",
                        help="run labkit release's checks that execute the notebooks (minutes)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.hub", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Release the labs, start the hub and wait for Ctrl-C (see the module docstring)."""
    if importlib.util.find_spec("jupyterhub") is None:
        print("labkit.hub needs JupyterHub: pip install 'labkit[hub]'", file=sys.stderr)
        return 2
    from labkit.grading.course import GradingError, find_labs
    from labkit.hub.client import HubAPIError
    from labkit.hub.config import PROXY_HELP, find_proxy
    from labkit.hub.instructor import Instructor, InstructorError
    from labkit.hub.layout import Classroom
    from labkit.hub.processes import HubError, marked
    from labkit.hub.session import running_hub

    if find_proxy() is None:
        print(f"labkit.hub: {PROXY_HELP}", file=sys.stderr)
        return 2
    try:
        classroom = Classroom(Path(args.root), instructor=args.instructor, students=tuple(args.students))
        labs = list(find_labs(args.notebooks, args.labs))
    except (ValueError, OSError) as err:
        print(f"labkit.hub: {err}", file=sys.stderr)
        return 2
    import getpass

    print(BANNER.format(unix_user=getpass.getuser()))
    for stop in (signal.SIGINT, signal.SIGTERM):     # Ctrl-C, or `kill`, even where SIGINT came ignored
        signal.signal(stop, signal.default_int_handler)
    hub = None
    try:
        classroom.prepare()
        Instructor(classroom, args.notebooks).release(labs, execute=args.execute, force=True)
        with running_hub(classroom, environment={"LABKIT_MODE": os.environ.get("LABKIT_MODE", "smoke")},
                         port=args.port) as hub:
            hub.client.start_server(classroom.instructor)
            print(cycle_text(classroom, hub.url, labs), flush=True)
            while hub.process.poll() is None:
                time.sleep(1)
            print(f"labkit.hub: JupyterHub exited with status {hub.process.returncode}; "
                  f"see {hub.log}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nstopping the hub, the proxy and every server ...", flush=True)
    except (HubError, HubAPIError, InstructorError, GradingError) as err:
        print(f"labkit.hub: {err}", file=sys.stderr)
        return 1
    finally:
        if hub is not None:
            left = marked(hub.run_id)
            if left:
                print(f"labkit.hub: still running: {[p.pid for p in left]}", file=sys.stderr)
            else:
                print("stopped: nothing it started is running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
