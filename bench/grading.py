"""Grading throughput: seconds per submission per lab, and the speed-up from ``--jobs 2``.

A class of ``--students`` students hands in every lab that has exercises (the instructor's
solutions, so every cell runs to the end like a complete submission). The same batch is graded
with jobs=1 and then with jobs=N, each into a fresh folder, in smoke mode, in one run. Prints the
seconds one submission of each lab takes (process start, kernel, every cell, feedback) and the
ratio of the two wall-clock times, course preparation included as an instructor would see it.

    python bench/grading.py [--students 2] [--jobs 2] [--labs 01 02 03]
    python bench/grading.py --sandbox-overhead [--students 2] [--labs 00 01]

Target on the 2-core machine (issue 4): jobs=2 at least 1.7x faster than jobs=1.
``--sandbox-overhead`` grades the batch with jobs=1 unsandboxed and then in bubblewrap, and prints
the seconds a submission takes each way (target, issue 14: at most 1 s more in the sandbox).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from labkit.grading import grade
from labkit.grading.course import find_labs
from labkit.grading.grader import lab_points

REPO = Path(__file__).resolve().parents[1]


def labs_with_exercises(wanted: list[str]) -> dict[str, Path]:
    import nbformat

    found = find_labs(REPO / "notebooks", wanted)
    return {lab: path for lab, path in found.items() if lab_points(nbformat.read(path, as_version=4)) > 0}


def make_batch(folder: Path, labs: dict[str, Path], students: int) -> int:
    for number in range(students):
        student = folder / f"student{number:02d}"
        student.mkdir(parents=True)
        for lab, notebook in labs.items():
            shutil.copyfile(notebook, student / f"{lab}.ipynb")
    return students * len(labs)


def timed(batch: Path, out: Path, jobs: int, sandbox: str = "off"):
    start = time.perf_counter()
    grades = grade(batch, source=REPO / "notebooks", out=out, jobs=jobs, progress=False, echo=lambda _: None,
                   sandbox=sandbox)
    wall = time.perf_counter() - start
    wrong = [g for g in grades if g.status != "graded" or g.score != g.max_score]
    if wrong:
        raise SystemExit(f"every submission in the benchmark should get full marks; these did not: {wrong}")
    return wall, grades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--labs", nargs="*", default=[])
    parser.add_argument("--sandbox-overhead", action="store_true",
                        help="compare jobs=1 unsandboxed with jobs=1 in bubblewrap instead of jobs=1 with jobs=N")
    args = parser.parse_args()
    labs = labs_with_exercises(args.labs)
    if args.sandbox_overhead:
        sandbox_overhead(labs, args.students)
        return
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as scratch:
        scratch = Path(scratch)
        count = make_batch(scratch / "submissions", labs, args.students)
        print(f"{count} submissions ({args.students} students x {len(labs)} labs), smoke mode")
        serial, grades = timed(scratch / "submissions", scratch / "serial", 1)
        parallel, _ = timed(scratch / "submissions", scratch / f"jobs{args.jobs}", args.jobs)
    print(f"\n{'lab':<24}{'s / submission (jobs=1)':>26}")
    for lab in labs:
        seconds = [g.seconds for g in grades if g.lab == lab]
        print(f"{lab:<24}{statistics.mean(seconds):>26.1f}")
    print(f"\njobs=1: {serial:.1f} s   jobs={args.jobs}: {parallel:.1f} s   "
          f"speed-up {serial / parallel:.2f}x (target >= 1.7x)")


def sandbox_overhead(labs: dict[str, Path], students: int) -> None:
    """Seconds per submission unsandboxed and sandboxed, the same batch graded each way in one run."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-sandbox-") as scratch:
        scratch = Path(scratch)
        count = make_batch(scratch / "submissions", labs, students)
        print(f"{count} submissions ({students} students x {len(labs)} labs), smoke mode, jobs=1")
        runs = {mode: timed(scratch / "submissions", scratch / mode, 1, mode)[1] for mode in ("off", "require")}
    print(f"\n{'lab':<24}{'s / submission, off':>22}{'in bubblewrap':>16}{'difference':>12}")
    differences = []
    for lab in labs:
        off, inside = ([g.seconds for g in runs[mode] if g.lab == lab] for mode in ("off", "require"))
        differences += [b - a for a, b in zip(off, inside)]
        print(f"{lab:<24}{statistics.mean(off):>22.2f}{statistics.mean(inside):>16.2f}"
              f"{statistics.mean(inside) - statistics.mean(off):>+12.2f}")
    print(f"\nthe sandbox adds {statistics.mean(differences):+.2f} s per submission on average (target <= 1 s)")


if __name__ == "__main__":
    main()
