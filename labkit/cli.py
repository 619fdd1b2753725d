"""Command line: `labkit doctor`, `labkit run`, `labkit release` and `labkit grade`."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from labkit.mode import FULL_CELL_TIMEOUT, SMOKE_CELL_TIMEOUT


def _doctor(args: argparse.Namespace) -> int:
    from labkit.doctor import doctor

    doctor(check_network=not args.no_network)
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        import papermill  # noqa: F401
    except ImportError:
        print("labkit run needs papermill and ipykernel: pip install 'labkit[run]'", file=sys.stderr)
        return 2
    from labkit.runner import run_curriculum

    try:
        results = run_curriculum(args.labs, mode=args.mode, notebooks=args.notebooks, out=args.out,
                                 timeout=args.timeout, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        print(f"labkit run: {err}", file=sys.stderr)
        return 2
    return 0 if all(r.status == "ok" for r in results) else 1


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

    try:
        release(args.notebooks, args.out, args.labs, timeout=args.timeout, execute=not args.no_execute)
    except (FileNotFoundError, ValueError) as err:
        print(f"labkit release: {err}", file=sys.stderr)
        return 2
    except GradingError as err:          # a check failed: nothing was released
        print(f"labkit release: {err}", file=sys.stderr)
        return 1
    return 0


def _grade(args: argparse.Namespace) -> int:
    if not _needs_nbgrader("grade"):
        return 2
    from labkit.grading import GradingError, grade

    try:
        grade(args.submissions, source=args.notebooks, out=args.out, jobs=args.jobs,
              timeout=args.timeout, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        print(f"labkit grade: {err}", file=sys.stderr)
        return 2
    except GradingError as err:          # nbgrader could not set up the course
        print(f"labkit grade: {err}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="labkit: the deep-learning lab kit")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="report Python, torch, GPU, precision, widgets, cache, network")
    doctor.add_argument("--no-network", action="store_true", help="skip the online/offline probe")
    doctor.set_defaults(func=_doctor)
    run = sub.add_parser("run", help="execute the labs with papermill and write build/report.{md,json}")
    run.add_argument("labs", nargs="*", help="labs to run, by number or name (default: all), e.g. 01 03")
    run.add_argument("--mode", default="auto", choices=["auto", "smoke", "full"],
                     help="smoke: quick CPU run; full: the real lab; auto: full when a GPU is present")
    run.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    run.add_argument("--out", default="build", help="where executed notebooks and reports go (default: build)")
    run.add_argument("--timeout", type=int, default=None,
                     help=f"per-cell time limit in seconds (default {SMOKE_CELL_TIMEOUT} in smoke mode, "
                          f"{FULL_CELL_TIMEOUT} in full mode)")
    run.add_argument("--no-progress", action="store_true", help="hide the per-notebook progress bar")
    run.set_defaults(func=_run)

    release = sub.add_parser("release", help="build and check the student edition of each lab (nbgrader)")
    release.add_argument("labs", nargs="*", help="labs to release, by number or name (default: all)")
    release.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    release.add_argument("--out", default="release", help="where the student editions go (default: release)")
    release.add_argument("--timeout", type=int, default=SMOKE_CELL_TIMEOUT,
                         help=f"per-cell time limit in seconds for the checks (default {SMOKE_CELL_TIMEOUT})")
    release.add_argument("--no-execute", action="store_true",
                         help="skip running the notebooks (solutions pass, blank edition fails)")
    release.set_defaults(func=_release)
    grade = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<lab>.ipynb (nbgrader)")
    grade.add_argument("submissions", help="folder laid out as SUBMISSIONS/<student>/<lab>.ipynb")
    grade.add_argument("--notebooks", default="notebooks", help="folder with the labs (default: notebooks)")
    grade.add_argument("--out", default="grading",
                       help="grades.csv, feedback/ and the nbgrader course go here (default: grading)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=int, default=SMOKE_CELL_TIMEOUT,
                       help=f"per-cell time limit in seconds (default {SMOKE_CELL_TIMEOUT})")
    grade.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    grade.set_defaults(func=_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
