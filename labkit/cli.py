"""Command line: `labkit doctor`, `run`, `book`, `release`, `check`, `grade` and `hub`.

Exit status: 0 when all went well; 1 when something ran and failed (a lab, a release check,
nbgrader) or the doctor found a problem; 2 for bad input (arguments, paths, environment variables),
told in one line on stderr; 130 when stopped by Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from labkit.arguments import check_positive_int
from labkit.mode import FULL_CELL_TIMEOUT, MODE_ENV, SMOKE_CELL_TIMEOUT, requested

INTERRUPTED = 130          # 128 + SIGINT: what shells report for a program stopped by Ctrl-C


def _fail(command: str, message: object, status: int = 2) -> int:
    """Print ``labkit COMMAND: message`` on stderr and return ``status``."""
    print(f"labkit {command}: {message}", file=sys.stderr)
    return status


def _at_least_one(text: str) -> int:
    """argparse type for seconds and counts: a whole number of at least 1."""
    try:
        return check_positive_int(int(text), "value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None


def _output_folder_problem(out: str) -> str | None:
    """Why ``--out`` cannot be used as an output folder, or None if it can."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        return f"--out {out} is a file, not a folder; pass --out with a folder (it is created if missing)"
    return None


def _doctor(args: argparse.Namespace) -> int:
    from labkit.doctor import doctor

    facts = doctor(check_network=not args.no_network)
    return 1 if facts["problems"] else 0


def _mode(args: argparse.Namespace) -> str:
    """--mode if given, else $LABKIT_MODE (smoke | full | auto), else auto.

    Kept as named ("auto" is not resolved here) so the runner can say truthfully whether it
    auto-detected the mode or was asked for one. An invalid $LABKIT_MODE raises ValueError.
    """
    return args.mode if args.mode is not None else requested()


def _run(args: argparse.Namespace) -> int:
    try:
        import papermill  # noqa: F401
    except ImportError:
        print("labkit run needs papermill and ipykernel: pip install 'labkit[run]'", file=sys.stderr)
        return 2
    from labkit.device import DeviceUnavailableError, get_device
    from labkit.runner import run_curriculum

    if problem := _output_folder_problem(args.out):
        return _fail("run", problem)
    try:
        mode = _mode(args)
        get_device()                   # a bad $LABKIT_DEVICE fails here, before any lab starts
        results = run_curriculum(args.labs, mode=mode, notebooks=args.notebooks, out=args.out,
                                 timeout=args.timeout, progress=not args.no_progress)
    except (OSError, ValueError, DeviceUnavailableError) as err:
        return _fail("run", err)
    return 0 if all(r.status == "ok" for r in results) else 1


def _book(args: argparse.Namespace) -> int:
    try:
        import myst_nb  # noqa: F401
        import nbgrader  # noqa: F401
    except ImportError:
        print("labkit book needs Sphinx, myst-nb and nbgrader: pip install 'labkit[book]'", file=sys.stderr)
        return 2
    from labkit.book import BookError, build_book

    for flag, folder in (("--executed", args.executed), ("--out", args.out)):
        if problem := _output_folder_problem(folder):
            return _fail("book", problem.replace("--out", flag))
    try:
        build_book(args.executed, args.out, notebooks=args.notebooks, mode=_mode(args))
    except (OSError, ValueError) as err:
        return _fail("book", err)
    except BookError as err:
        return _fail("book", err, 1)
    return 0


def _needs_nbgrader(command: str) -> bool:
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        print(f"labkit {command} needs nbgrader: pip install 'labkit[grading]'", file=sys.stderr)
        return False
    return True


def _release(args: argparse.Namespace) -> int:
    if not _needs_nbgrader("release"):
        return 2
    from labkit.grading import GradingError, release

    if problem := _output_folder_problem(args.out):
        return _fail("release", problem)
    try:
        release(args.notebooks, args.out, args.labs, course=args.course, timeout=args.timeout,
                execute=not args.no_execute)
    except (OSError, ValueError) as err:
        return _fail("release", err)
    except GradingError as err:          # a check failed: nothing was released
        return _fail("release", err, 1)
    return 0


def _grade(args: argparse.Namespace) -> int:
    if not _needs_nbgrader("grade"):
        return 2
    from labkit.grading import GradingError, grade
    from labkit.grading.grader import GradingInterrupted
    from labkit.grading.sandbox import SandboxUnavailable

    if problem := _output_folder_problem(args.out):
        return _fail("grade", problem)
    try:
        grade(args.submissions, source=args.notebooks, out=args.out, jobs=args.jobs,
              timeout=args.timeout, progress=not args.no_progress, sandbox=args.sandbox)
    except GradingInterrupted as stop:   # Ctrl-C: what was graded is saved, the message says what not
        return _fail("grade", stop, INTERRUPTED)
    except SandboxUnavailable as err:    # --sandbox require where bubblewrap cannot run: nothing graded
        return _fail("grade", err)
    except (OSError, ValueError) as err:
        return _fail("grade", err)
    except GradingError as err:          # nbgrader could not set up the course
        return _fail("grade", err, 1)
    return 0


def _check(args: argparse.Namespace) -> int:
    if not _needs_nbgrader("check"):
        return 2
    from labkit.grading.repair import MalformedSubmission
    from labkit.grading.selfcheck import check

    missing = [path for path in args.notebooks if not Path(path).is_file()]
    if missing:
        return _fail("check", f"no notebook at {', '.join(missing)}")
    try:
        return 0 if check(args.notebooks, timeout=args.timeout) else 1
    except MalformedSubmission as err:
        return _fail("check", err, 1)


def _hub(args: argparse.Namespace) -> int:
    from labkit.hub.__main__ import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="labkit: the deep-learning lab kit")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="report Python, torch, GPU, precision, widgets, cache, network")
    doctor.add_argument("--no-network", action="store_true", help="skip the online/offline probe")
    doctor.set_defaults(func=_doctor)
    run = sub.add_parser("run", help="execute the labs with papermill and write build/report.{md,json}")
    run.add_argument("labs", nargs="*", help="labs to run, by number or name (default: all), e.g. 01 03")
    run.add_argument("--mode", default=None, choices=["auto", "smoke", "full"],
                     help=f"smoke: quick CPU run; full: the real lab; auto: full when a GPU is present "
                          f"(default: ${MODE_ENV}, else auto)")
    run.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    run.add_argument("--out", default="build", help="where executed notebooks and reports go (default: build)")
    run.add_argument("--timeout", type=_at_least_one, default=None,
                     help=f"per-cell time limit in seconds (default {SMOKE_CELL_TIMEOUT} in smoke mode, "
                          f"{FULL_CELL_TIMEOUT} in full mode)")
    run.add_argument("--no-progress", action="store_true", help="hide the per-notebook progress bar")
    run.set_defaults(func=_run)

    book = sub.add_parser("book", help="build the course site into build/book/ from the executed labs")
    book.add_argument("--executed", default="build",
                      help="the executed labs and report.json of `labkit run` (default: build); labs "
                           "missing there, or run from an older version, run first")
    book.add_argument("--out", default="build/book", help="where the site goes (default: build/book)")
    book.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    book.add_argument("--mode", default=None, choices=["auto", "smoke", "full"],
                      help="the mode for labs that must run first, when the others did not all run in one "
                           f"(default: ${MODE_ENV}, else auto)")
    book.set_defaults(func=_book)

    release = sub.add_parser("release", help="build and check the student edition of each lab (nbgrader)")
    release.add_argument("labs", nargs="*", help="labs to release, by number or name (default: all)")
    release.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    release.add_argument("--out", default="release",
                         help="where the student editions go, and nothing else (default: release)")
    release.add_argument("--course", default="grading/hub",
                         help="the instructor's nbgrader course (solutions, hidden tests, gradebook) for a "
                              "hub's exchange; never inside --out (default: grading/hub)")
    release.add_argument("--timeout", type=_at_least_one, default=SMOKE_CELL_TIMEOUT,
                         help=f"per-cell time limit in seconds for the checks (default {SMOKE_CELL_TIMEOUT})")
    release.add_argument("--no-execute", action="store_true",
                         help="skip running the notebooks (solutions pass, blank edition fails)")
    release.set_defaults(func=_release)
    checker = sub.add_parser("check", help="run a notebook's self-checks before handing it in")
    checker.add_argument("notebooks", nargs="+", help="the notebook(s) to check, e.g. 01_linear_regression.ipynb")
    checker.add_argument("--timeout", type=_at_least_one, default=SMOKE_CELL_TIMEOUT,
                         help=f"per-cell time limit in seconds (default {SMOKE_CELL_TIMEOUT})")
    checker.set_defaults(func=_check)
    grade = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<lab>.ipynb (nbgrader)")
    grade.add_argument("submissions", help="folder laid out as SUBMISSIONS/<student>/<lab>.ipynb")
    grade.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    grade.add_argument("--out", default="grading",
                       help="grades.csv, feedback/ and the nbgrader course go here (default: grading)")
    grade.add_argument("--jobs", type=_at_least_one, default=1,
                       help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=_at_least_one, default=SMOKE_CELL_TIMEOUT,
                       help=f"per-cell time limit in seconds (default {SMOKE_CELL_TIMEOUT})")
    grade.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    grade.add_argument("--sandbox", default="auto", choices=["auto", "require", "off"],
                       help="run each submission's kernel in bubblewrap: auto (where it works, saying so "
                            "where it does not), require (refuse to grade without it), off (default: auto)")
    grade.set_defaults(func=_grade)
    from labkit.hub.__main__ import add_arguments as hub_arguments

    hub = sub.add_parser("hub", help="a demo class on a local JupyterHub (127.0.0.1, dummy logins); Ctrl-C stops it")
    hub_arguments(hub)
    hub.set_defaults(func=_hub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:            # Ctrl-C anywhere else: no traceback, the shell's status
        return _fail(args.command, "interrupted (Ctrl-C)", INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
