"""Widget mode inside a real kernel executed headless: it must finish (no nbclient deadlock),
show live widgets, and leave static figures in the saved notebook."""
import nbformat
import papermill
from nbformat.v4 import new_code_cell, new_notebook

SOURCE = [
    "import numpy as np, torch, labkit\nfrom torch import nn\n"
    "x = np.linspace(-2, 2, 50); y = 3 * x + 1\n"
    "assert labkit.widgets.widget_frontend()",
    "explorer = labkit.widgets.GDExplorer(x, y, lr=0.05)\nexplorer.widget",
    "for lr in (0.01, 0.5, 1.2):\n    explorer.slider.value = lr\nlen(explorer.trajectory)",
    "X = torch.randn(64, 2); t = X @ torch.tensor([1.0, -2.0])\n"
    "history = labkit.fit(nn.Linear(2, 1), (X, t.unsqueeze(1)), epochs=5, loss_fn=nn.MSELoss(), lr=0.1)",
]


def test_widget_mode_runs_headless_and_leaves_figures(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_WIDGETS")               # the kernel believes a front end is there
    nb = new_notebook(cells=[new_code_cell(s) for s in SOURCE])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "widgets.ipynb")
    for attempt in range(3):                           # the deadlock was intermittent: try it thrice
        papermill.execute_notebook(str(tmp_path / "widgets.ipynb"), str(tmp_path / "out.ipynb"),
                                   progress_bar=False, execution_timeout=60, kernel_name="python3")
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    kinds = [set(o.get("data", {})) for o in out.cells[1].outputs]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)
    fit_outputs = [set(o.get("data", {})) for o in out.cells[3].outputs]
    assert any("image/png" in k for k in fit_outputs)    # the live plot ends as a static figure
    assert "epoch" not in "".join(o.get("text", "") for o in out.cells[3].outputs)   # no text lines
