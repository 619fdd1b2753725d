"""The curriculum runner on small generated notebooks: metrics, failures, selection, report."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.cli import main
from labkit.runner import device_label, discover, run_curriculum, select


def _write(folder, name, *sources, parameters="MODE = 'full'"):
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[cell] + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    _write(folder, "01_good.ipynb", "from labkit.report import record",
           "record('answer', 42)\nrecord('mode_seen', MODE)")
    _write(folder, "02_broken.ipynb", "x = 1", "raise ValueError('boom')")
    _write(folder, "03_after.ipynb", "from labkit.report import record\nrecord('ran', True)",
           "import labkit\n(labkit.output_dir('03_after') / 'weights.txt').write_text('saved')")
    (folder / "scratch.ipynb").write_text("not a lab")          # ignored: not named NN_*
    return folder


@pytest.fixture(scope="module")
def report(labs, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    results = run_curriculum(mode="smoke", notebooks=str(labs), out=str(out), progress=False, timeout=120)
    return results, out


def test_every_lab_runs_and_failures_are_located(report):
    results, out = report
    assert [(r.name, r.status) for r in results] == [("01_good", "ok"), ("02_broken", "failed"),
                                                     ("03_after", "ok")]
    broken = results[1]
    assert broken.error == "cell 3 (`raise ValueError('boom')`): ValueError: boom"   # source position
    assert (out / "02_broken.ipynb").exists()                  # the executed copy, for inspection


def test_files_a_lab_writes_go_to_the_build_folder_not_beside_the_notebooks(report, labs):
    _, out = report
    assert (out / "outputs" / "03_after" / "weights.txt").read_text() == "saved"
    assert sorted(p.name for p in labs.iterdir()) == ["01_good.ipynb", "02_broken.ipynb", "03_after.ipynb",
                                                      "scratch.ipynb"]


def test_report_json_has_the_documented_shape(report):
    _, out = report
    payload = json.loads((out / "report.json").read_text())
    good = payload["labs"][0]
    assert set(good) == {"name", "status", "mode", "device", "seconds", "metrics", "error"}
    assert good["metrics"] == {"answer": 42, "mode_seen": "smoke"}    # papermill injected MODE
    assert good["mode"] == "smoke" and good["device"] == device_label() and good["error"] is None
    assert payload["labs"][2]["metrics"] == {"ran": True}
    assert (payload["passed"], payload["failed"]) == (2, 1)
    md = (out / "report.md").read_text()
    assert f"| 01_good | ok | smoke | {device_label()} |" in md and "**02_broken**: cell 3 (" in md


def test_cli_exit_status_and_selection(labs, tmp_path, capsys):
    assert main(["run", "01", "--mode", "smoke", "--notebooks", str(labs), "--out", str(tmp_path),
                 "--no-progress"]) == 0
    assert [lab["name"] for lab in json.loads((tmp_path / "report.json").read_text())["labs"]] == ["01_good"]
    assert main(["run", "2", "--mode", "smoke", "--notebooks", str(labs), "--out", str(tmp_path),
                 "--no-progress"]) == 1
    assert main(["run", "09", "--notebooks", str(labs), "--out", str(tmp_path)]) == 2
    assert "no lab matches '09'" in capsys.readouterr().err


def test_discover_and_select(labs, tmp_path):
    found = discover(labs)
    assert [p.name for p in found] == ["01_good.ipynb", "02_broken.ipynb", "03_after.ipynb"]
    assert [p.stem for p in select(found, ["03", "01_good"])] == ["01_good", "03_after"]
    with pytest.raises(FileNotFoundError, match="no notebooks folder"):
        discover(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no lab notebooks"):
        discover(tmp_path)


def test_runner_leaves_the_callers_environment_alone(report, monkeypatch):
    import os
    assert os.environ["LABKIT_MODE"] == "smoke" and os.environ["LABKIT_WIDGETS"] == "0"   # conftest's own
    monkeypatch.setenv("LABKIT_MODE", "full")
    from labkit.runner import environment_variables
    with environment_variables(LABKIT_MODE="smoke", LABKIT_NEW="1"):
        assert os.environ["LABKIT_MODE"] == "smoke"
    assert os.environ["LABKIT_MODE"] == "full" and "LABKIT_NEW" not in os.environ


def test_a_stuck_cell_fails_its_lab_at_the_timeout(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write(folder, "01_stuck.ipynb", "import time\ntime.sleep(600)")
    (result,) = run_curriculum(mode="smoke", notebooks=str(folder), out=str(tmp_path / "build"),
                               progress=False, timeout=3)
    assert result.status == "failed"
    assert result.error.startswith("cell 2 (`import time`): CellTimeoutError: A cell timed out")
    assert result.seconds < 60
