"""The course site's parts on small inputs: a lab page's student view, the pages written from the
README and the report, and `labkit book`'s errors. (The site built from the real labs, its links,
leaks and a browser reading it are tested in test_notebooks.py, after the labs run.)"""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import REPO
from labkit.book.lab_pages import StaleNotebook, student_page
from labkit.book.pages import landing_page, localise, report_page, section
from labkit.cli import main
from labkit.launch import BRANCH, REPOSITORY
from labkit.report import METRIC_MIME

SOLUTION = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x  # the instructor's answer\n    ### END SOLUTION\n"
STUDENT = "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
TEST = "assert square(3) == 9\n### BEGIN HIDDEN TESTS\nassert square(-4) == 16  # hidden from students\n### END HIDDEN TESTS\n"


def _lab():
    """(source, release edition, executed) of a three-cell lab with one exercise."""
    nb_meta = {"nbgrader": {"solution": True, "grade": False, "grade_id": "square", "locked": False,
                            "schema_version": 3}}
    test_meta = {"nbgrader": {"solution": False, "grade": True, "grade_id": "square_test", "locked": True,
                              "points": 1, "schema_version": 3}}
    source = new_notebook(cells=[new_markdown_cell("# Lab 99 — Squares\n\nText."),
                                 new_code_cell(SOLUTION, metadata=nb_meta), new_code_cell(TEST, metadata=test_meta),
                                 new_code_cell("print(square(5))")])
    edition = nbformat.from_dict(json.loads(json.dumps(source)))
    edition.cells[1].source, edition.cells[2].source = STUDENT, "assert square(3) == 9\n"
    executed = nbformat.from_dict(json.loads(json.dumps(source)))
    executed.cells.insert(1, new_code_cell('MODE = "smoke"', metadata={"tags": ["injected-parameters"]}))
    executed.cells[2].outputs = [new_output("stream", name="stdout", text="solved\n")]
    executed.cells[3].outputs = [new_output("stream", name="stdout", text="✓ passed\n")]
    executed.cells[4].outputs = [new_output("stream", name="stdout", text="25\n"),
                                 new_output("display_data", data={METRIC_MIME: {"name": "n", "value": 1},
                                                                  "text/plain": ""})]
    return source, edition, executed


def test_a_page_shows_exercises_as_released_and_the_rest_as_executed():
    source, edition, executed = _lab()
    page = student_page(executed, edition, source)
    assert [c.source for c in page.cells] == [source.cells[0].source, STUDENT, "assert square(3) == 9\n",
                                              "print(square(5))"]
    assert page.cells[1].outputs == [] and page.cells[2].outputs == []      # no ✓ beside a blank exercise
    assert page.cells[3].outputs == [new_output("stream", name="stdout", text="25\n")]   # metrics dropped
    text = json.dumps(page)
    assert "instructor's answer" not in text and "hidden from students" not in text


def test_a_page_run_from_an_older_lab_is_stale():
    source, edition, executed = _lab()
    executed.cells[4].source = "print(square(6))"
    with pytest.raises(StaleNotebook, match="from cell 4 on"):
        student_page(executed, edition, source)


def test_a_page_that_would_leak_is_refused():
    source, edition, executed = _lab()
    edition.cells[1].source = SOLUTION.replace("### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")
    with pytest.raises(ValueError, match="give answers away.*instructor's answer"):
        student_page(executed, edition, source)


def test_section_stops_at_the_next_heading_of_its_level_and_ignores_code():
    text = "# T\n\n## A\n\none\n\n```bash\n# a shell comment\n```\n\n### A.1\n\ntwo\n\n## B\n\nthree\n"
    assert section(text, "A") == "one\n\n```bash\n# a shell comment\n```\n\n### A.1\n\ntwo\n"
    with pytest.raises(ValueError, match="no section titled 'C'"):
        section(text, "C")


def test_links_point_to_pages_of_the_site_or_to_github():
    text = ("[lab](notebooks/01_x.ipynb) [code](labkit/train.py#L3) [web](https://example.org) [here](#top) "
            "![c](https://colab.research.google.com/assets/colab-badge.svg)")
    out = localise(text, "README.md", "notebooks/AUTHORING.md", {"notebooks/01_x.ipynb"})
    assert "[lab](01_x.ipynb)" in out and "(https://example.org)" in out and "(#top)" in out
    assert f"[code](https://github.com/{REPOSITORY}/blob/{BRANCH}/labkit/train.py#L3)" in out
    assert "![c](../images/colab-badge.svg)" in out


def test_landing_and_report_pages_come_from_the_labs_and_the_report():
    readme = (REPO / "README.md").read_text()
    first = nbformat.read(REPO / "notebooks" / "03_cnn.ipynb", as_version=4).cells[0].source
    report = {"generated": "2026-12-07T10:00:00+0000", "passed": 1, "failed": 0,
              "labs": [{"name": "03_cnn", "status": "ok", "mode": "smoke", "device": "cpu", "seconds": 31.4,
                        "metrics": {"cnn_test_accuracy": 0.91234, "note": "a|b"}, "error": None}]}
    landing = landing_page(readme, {"03_cnn": first}, report, {"notebooks/03_cnn.ipynb"})
    assert "| [Lab 03 — Convolutional networks](notebooks/03_cnn.ipynb) | quick run (smoke mode) on cpu, ok | 31 |" \
        in landing
    assert "im2col" in landing and "## Launching the labs" in landing and "2026-12-07" in landing
    page = report_page(report)
    assert "| `cnn_test_accuracy` | 0.9123 |" in page and "| `note` | a\\|b |" in page


@pytest.mark.parametrize("args, message", [
    (["--executed", str(REPO / "README.md")], "README.md is a file, not a folder; pass --executed"),
    (["--notebooks", str(REPO / "datasets")], "contains no lab notebooks"),
])
def test_book_refuses_bad_folders_in_one_line(args, message, tmp_path, capsys):
    assert main(["book", "--out", str(tmp_path / "site"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit book: ") and message in err and len(err.strip().splitlines()) == 1


def test_a_broken_report_is_named_with_the_fix(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{not json")
    assert main(["book", "--executed", str(tmp_path), "--out", str(tmp_path / "site"),
                 "--notebooks", str(REPO / "notebooks")]) == 2
    assert re.search(r"report\.json is not valid JSON .*run `make run`", capsys.readouterr().err)
