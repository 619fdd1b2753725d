"""The site's Markdown pages, written from what already exists: the labs, the last report, the README.

Nothing here is typed twice: a lab's title, goals and expected run times come from its first cell,
the run times and metrics from ``report.json``, the launch options and the instructors' cycle from
the README's own sections. Links to repository files that are not pages of the site point to GitHub.
"""
from __future__ import annotations

import posixpath
import re
from typing import Any, Iterable, Mapping, Sequence

from labkit.launch import BINDER_BADGE, BRANCH, COLAB_BADGE, REPOSITORY

BADGE_IMAGES = {COLAB_BADGE: "colab-badge.svg", BINDER_BADGE: "binder-badge.svg"}
IMAGES = "images"                      # folder of the site's own images (the badges), at its root
LINK = re.compile(r"(!?\[[^\]]*\])\(([^()\s]+)\)")


def section(markdown: str, heading: str) -> str:
    """The body of the section titled ``heading`` (any level), up to the next heading of its level."""
    match = re.search(rf"^(#+) {re.escape(heading)}[ \t]*\n", markdown, re.M)
    if match is None:
        raise ValueError(f"no section titled {heading!r}")
    level = len(match.group(1))
    rest = markdown[match.end():]
    # Lines inside fenced code blocks (shell comments start with #) are not headings.
    body, fenced = [], False
    for line in rest.splitlines():
        fenced ^= line.lstrip().startswith("```")
        heading_level = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < heading_level <= level and line[heading_level:heading_level + 1] == " ":
            break
        body.append(line)
    return "\n".join(body).strip() + "\n"


def title(markdown: str) -> str:
    """The text of the first level-1 heading."""
    match = re.search(r"^# (.+)$", markdown, re.M)
    if match is None:
        raise ValueError("no level-1 heading ('# Title')")
    return match.group(1).strip()


def localise(markdown: str, source: str, page: str, pages: Iterable[str]) -> str:
    """Rewrite the links of ``markdown`` (written at repository path ``source``) for site page ``page``.

    Links to files that are pages of the site (``pages``: repository paths) point to those pages;
    links to any other repository file point to GitHub; the badge images point to the site's copies.
    """
    pages = set(pages)
    here, there = posixpath.dirname(source), posixpath.dirname(page)

    def rewrite(match: re.Match) -> str:
        text, target = match.groups()
        if target in BADGE_IMAGES:
            return f"{text}({posixpath.relpath(f'{IMAGES}/{BADGE_IMAGES[target]}', there or '.')})"
        if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(here, path))
        if repo_path in pages:
            new = posixpath.relpath(repo_path, there or ".")
        else:
            new = f"https://github.com/{REPOSITORY}/blob/{BRANCH}/{repo_path}"
        return f"{text}({new}{'#' + anchor if anchor else ''})"

    return LINK.sub(rewrite, markdown)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _run_phrase(lab: Mapping[str, Any]) -> str:
    run = {"smoke": "quick run", "full": "full run"}.get(lab["mode"], lab["mode"])
    return f"{run} ({lab['mode']} mode) on {lab['device']}"


def landing_page(readme: str, labs: Mapping[str, str], report: Mapping[str, Any], pages: Iterable[str]) -> str:
    """index.md: what the kit is, the curriculum (goals and run times), and how to launch the labs.

    ``labs`` maps a lab's name to the Markdown of its first cell; ``report`` is the runner's report.
    """
    runs = {lab["name"]: lab for lab in report["labs"]}
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1]
    lines = [f"# {title(readme)}", "", localise(intro.strip(), "README.md", "index.md", pages), "",
             "## Curriculum", "",
             f"Every page shows its lab as it last ran, {_when(report)}, with each exercise as you "
             "receive it: the task, the starting code and its self-check, without an answer.", "",
             "| lab | last run | seconds |", "|---|---|---|"]
    for name, first_cell in labs.items():
        run, link = runs.get(name), f"[{title(first_cell)}](notebooks/{name}.ipynb)"
        lines.append(f"| {link} | {_run_phrase(run)}, {run['status']} | {run['seconds']:.0f} |" if run
                     else f"| {link} | not run | |")
    for name, first_cell in labs.items():
        lines += ["", f"### [{title(first_cell)}](notebooks/{name}.ipynb)", "",
                  "**Learning goals.** " + section(first_cell, "Learning goals").strip(), "",
                  "**Expected run time.**", "", section(first_cell, "Expected run time").strip()]
    lines += ["", "## Launching the labs", "",
              localise(section(readme, "Launching the labs"), "README.md", "index.md", pages)]
    return "\n".join(lines) + "\n"


def _when(report: Mapping[str, Any]) -> str:
    return f"on {report['generated'][:10]}" if report.get("generated") else "in the last run"


def report_page(report: Mapping[str, Any]) -> str:
    """report.md: the last curriculum run, lab by lab, with every metric the labs recorded."""
    lines = ["# Curriculum report", "",
             f"The last run of every lab, {_when(report)} ({report['generated']}): {report['passed']} passed, "
             f"{report['failed']} failed. Each lab records its key results as metrics; the test suite "
             "checks them on every change.", "",
             "| lab | status | run | seconds |", "|---|---|---|---|"]
    for lab in report["labs"]:
        lines.append(f"| [{lab['name']}](notebooks/{lab['name']}.ipynb) | {lab['status']} | "
                     f"{_run_phrase(lab)} | {lab['seconds']:.1f} |")
    for lab in report["labs"]:
        lines += ["", f"## {lab['name']}", ""]
        if lab.get("error"):
            lines += [f"**Failed:** {lab['error']}", ""]
        if lab["metrics"]:
            lines += ["| metric | value |", "|---|---|"]
            lines += [f"| `{key}` | {_format(value)} |" for key, value in lab["metrics"].items()]
        else:
            lines.append("No metrics recorded.")
    return "\n".join(lines) + "\n"


def readme_page(readme: str, heading: str, page: str, pages: Iterable[str], also: Sequence[str] = ()) -> str:
    """A page holding one section of the README (its sub-sections included), then the sections
    titled in ``also`` as its own sub-sections; links localised."""
    body = section(readme, heading) + "".join(f"\n## {other}\n\n{section(readme, other)}" for other in also)
    return f"# {heading}\n\n" + localise(body, "README.md", page, pages)
