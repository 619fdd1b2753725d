"""Command line: `labkit doctor` and `labkit run`."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from labkit.runner import CELL_TIMEOUT


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
    run.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                     help=f"per-cell time limit in seconds (default {CELL_TIMEOUT})")
    run.add_argument("--no-progress", action="store_true", help="hide the per-notebook progress bar")
    run.set_defaults(func=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
