"""``labkit book``: the course site, built with Sphinx from the executed labs of the last ``labkit run``.

The pages are written into a fresh source folder (the labs as students see them, the landing page,
the report, the README's instructor sections, the dataset cards, the API reference), Sphinx builds
it, and the new site replaces the old one only once it is complete.
"""
from __future__ import annotations

import io
import json
import os
import pkgutil
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import nbformat

from labkit.book.lab_pages import StaleNotebook, student_page
from labkit.book.pages import IMAGES, landing_page, localise, readme_page, report_page
from labkit.grading.course import build_course, find_labs
from labkit.runner import LabResult, discover, run_curriculum, write_report

HERE = Path(__file__).parent
CONF_DIR = HERE / "sphinx"
API_PACKAGES = ("labkit", "labkit.data", "labkit.models", "labkit.grading", "labkit.book")


class BookError(RuntimeError):
    """The site could not be built; the message says why and what to do."""


def _read_report(executed: Path) -> dict:
    path = executed / "report.json"
    if not path.exists():
        return {"labs": []}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); run `make run` to write it again") from None


def lab_pages(labs: dict[str, Path], course: Path, executed: Path, report: dict) -> tuple[dict, list[str]]:
    """Each lab's page (None where it must run first) and why each of those must run.

    ``labs`` maps each lab to its source notebook; ``course`` is the nbgrader course that
    ``build_course`` made of them, holding the student editions the release hands out.
    """
    ran = {lab["name"] for lab in report["labs"]}
    pages, reasons = {}, []
    for name, source_path in labs.items():
        done = executed / f"{name}.ipynb"
        if not done.exists() or name not in ran:
            pages[name] = None
            reasons.append(f"{name}: no executed notebook in {executed}/")
            continue
        edition = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        try:
            pages[name] = student_page(nbformat.read(done, as_version=4), edition,
                                       nbformat.read(source_path, as_version=4))
        except StaleNotebook as err:
            pages[name] = None
            reasons.append(f"{name}: {err}")
    return pages, reasons


def run_missing(names: Sequence[str], notebooks: Path, executed: Path, report: dict, mode: str,
                echo: Callable[[str], None]) -> dict:
    """Run the labs in ``names`` into ``executed`` and merge them into its report; the new report."""
    modes = {lab["mode"] for lab in report["labs"]}
    if mode == "auto" and len(modes) == 1:
        mode = modes.pop()                             # the mode the other pages ran in
    echo(f"running {len(names)} lab(s) first, in {mode} mode: {', '.join(names)}")
    results = run_curriculum(names, mode=mode, notebooks=str(notebooks), out=str(executed))
    merged = {lab["name"]: LabResult(**lab) for lab in report["labs"]}
    merged.update({r.name: r for r in results})
    order = [p.stem for p in discover(notebooks)]
    write_report([merged[name] for name in order if name in merged], executed)
    return _read_report(executed)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def api_pages(src: Path) -> None:
    """api/index.md and one page per labkit module, written by autodoc from its docstrings."""
    import importlib

    names = []
    for package in API_PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += sorted(f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)
                        if not info.ispkg and info.name != "__main__")
    rows = []
    for name in names:
        doc = (importlib.import_module(name).__doc__ or "").strip().splitlines()
        summary = doc[0].replace("|", "\\|") if doc else ""
        rows.append(f"| [`{name}`]({name}.rst) | {summary} |")
        heading = f"``{name}``"          # autodoc writes reStructuredText, so these pages are .rst
        members = "   :no-members:\n" if name in API_PACKAGES else ""   # a package re-exports its modules'
        _write(src / "api" / f"{name}.rst", f"{heading}\n{'=' * len(heading)}\n\n.. automodule:: {name}\n{members}")
    toctree = "\n".join(["```{toctree}", ":hidden:", ""] + names + ["```"])
    _write(src / "api" / "index.md",
           "# API reference\n\nThe `labkit` package, module by module, from its docstrings.\n\n"
           "| module | what it is for |\n|---|---|\n" + "\n".join(rows) + "\n\n" + toctree + "\n")


def stage(src: Path, pages: dict, report: dict, repo: Path) -> None:
    """Write every source page of the site into ``src``."""
    readme = (repo / "README.md").read_text(encoding="utf-8")
    site_files = {f"notebooks/{name}.ipynb" for name in pages} | {
        "notebooks/AUTHORING.md", "datasets/README.md", "README.md"}
    first_cells = {}
    for name, page in pages.items():
        target = f"notebooks/{name}.ipynb"
        for cell in page.cells:
            if cell.cell_type == "markdown":
                cell.source = localise(cell.source, target, target, site_files)
        first_cells[name] = page.cells[0].source
        (src / "notebooks").mkdir(parents=True, exist_ok=True)
        nbformat.write(page, src / target)
    shutil.copytree(HERE / IMAGES, src / IMAGES)
    for repo_file in ("notebooks/AUTHORING.md", "datasets/README.md"):
        _write(src / repo_file, localise((repo / repo_file).read_text(encoding="utf-8"), repo_file, repo_file,
                                         site_files))
    _write(src / "report.md", report_page(report))
    _write(src / "instructors.md", readme_page(readme, "For instructors: release and grade", "instructors.md",
                                               site_files, also=("Run modes",)))
    api_pages(src)
    toctrees = [("Labs", [f"notebooks/{name}" for name in pages]),
                ("Course", ["report", "instructors", "notebooks/AUTHORING", "datasets/README"]),
                ("Reference", ["api/index"])]
    index = landing_page(readme, first_cells, report, site_files)
    for caption, entries in toctrees:
        index += "\n".join(["", "```{toctree}", ":hidden:", f":caption: {caption}", ""] + entries + ["```"]) + "\n"
    _write(src / "index.md", index)


def sphinx_build(src: Path, out: Path, doctrees: Path) -> list[str]:
    """Build the HTML site of ``src`` into ``out``; the warnings Sphinx gave."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    warnings = io.StringIO()
    with patch_docutils(str(CONF_DIR)), docutils_namespace():
        app = Sphinx(str(src), str(CONF_DIR), str(out), str(doctrees), "html", status=None,
                     warning=warnings, freshenv=True, parallel=min(2, os.cpu_count() or 1))
        app.build()
    return [line for line in warnings.getvalue().splitlines() if line.strip()]


def build_book(executed: str | os.PathLike = "build", out: str | os.PathLike = "build/book", *,
               notebooks: str | os.PathLike = "notebooks", mode: str = "auto",
               echo: Callable[[str], None] = print) -> Path:
    """Build the site into ``out`` from the executed labs in ``executed``; the path of its index.html.

    Labs with no executed notebook there, or executed from an older version of the lab, run first
    (in the mode of the others, else ``mode``). The new site replaces ``out`` only when complete.
    """
    start = time.perf_counter()
    notebooks, executed, out = Path(notebooks).resolve(), Path(executed).resolve(), Path(out).resolve()
    labs = find_labs(notebooks)            # a folder without labs is an error that says so
    report = _read_report(executed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-book-") as work:
        course = build_course(labs, Path(work) / "course")     # the student editions, as the release builds them
        pages, reasons = lab_pages(labs, course, executed, report)
        if reasons:
            echo("some labs must run before their pages can be built:\n  " + "\n  ".join(reasons))
            report = run_missing([name for name, page in pages.items() if page is None], notebooks, executed,
                                 report, mode, echo)
            pages, reasons = lab_pages(labs, course, executed, report)
            if reasons:
                raise BookError("these labs could not be run for the site:\n  " + "\n  ".join(reasons))
        modes = sorted({f"{lab['mode']} mode on {lab['device']}" for lab in report["labs"]})
        echo(f"building the site from the executed labs in {executed}/ ({', '.join(modes)}, "
             f"run {report.get('generated', 'at an unknown time')})")
        src, new = Path(work) / "src", Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            stage(src, pages, report, notebooks.parent)
            warnings = sphinx_build(src, new, Path(work) / "doctrees")
            for warning in warnings:
                echo(f"warning: {warning}")
            old = out.with_name(f".{out.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            if out.exists():
                out.rename(old)
            new.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(new, ignore_errors=True)
    echo(f"site built in {time.perf_counter() - start:.1f} s: {out / 'index.html'}")
    return out / "index.html"
