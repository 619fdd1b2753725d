"""Import-time promises: what `import labkit` loads, and which modules stay independent."""
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_labkit_loads_neither_pyplot_nor_the_widgets():
    loaded = _modules_after("import labkit")
    assert "matplotlib.pyplot" not in loaded and "labkit.widgets" not in loaded
    assert "labkit.plots" not in loaded and "ipywidgets" not in loaded


def test_plots_and_widgets_load_on_first_use():
    loaded = _modules_after("import labkit\nlabkit.widgets.GDExplorer\nlabkit.plots.plot_history")
    assert {"labkit.widgets", "labkit.plots", "matplotlib.pyplot"} <= loaded
