"""Lab 01 in a real browser: JupyterLab and headless Chromium, driven by Playwright.

Proves what no headless executor can: in a student's JupyterLab the learning-rate explorer
renders as a live widget, moving its slider (by keyboard, as a student would) redraws the
gradient-descent path, and ``labkit.fit``'s live loss plot ends as a figure in the cell.
Screenshots go to build/browser/. Skips, saying how to enable it, where no Chromium can run.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from conftest import REPO

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:                  # the test skips, saying how to install it
    sync_playwright = None

LAB = "01_linear_regression.ipynb"
SHOTS = REPO / "build" / "browser"
BUDGET_S = 240                   # the whole test; the run of all cells alone may take RUN_ALL_S
RUN_ALL_S = 150
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run"]
ENABLE = ("to enable it: apt-get install chromium and pip install playwright "
          "(never `playwright install`), or point LABKIT_CHROMIUM at a Chromium binary")


class Deadline:
    """A time budget; ``ms(cap)`` is a Playwright timeout that never outlives it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            pytest.fail(f"the browser test ran past its {BUDGET_S} s budget")
        return left

    def ms(self, cap: float) -> float:
        return 1000 * min(cap, self.left())


@pytest.fixture
def deadline() -> Deadline:
    """The test's whole budget, from Chromium's launch to the last check (teardown not counted)."""
    return Deadline(BUDGET_S)


def chromium_executable() -> str | None:
    override = os.environ.get("LABKIT_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser(deadline: Deadline) -> Iterator[object]:
    """Headless Chromium from the system (Playwright never downloads one), or a skip."""
    if sync_playwright is None:
        pytest.skip(f"the playwright module is missing; {ENABLE}")
    executable = chromium_executable()
    if executable is None:
        where = os.environ.get("LABKIT_CHROMIUM") or "chromium or chromium-browser on PATH"
        pytest.skip(f"no Chromium executable found ({where}); {ENABLE}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                                  args=CHROMIUM_ARGS, timeout=deadline.ms(30))
        except PlaywrightError as error:
            pytest.skip(f"Chromium at {executable} does not start ({str(error).splitlines()[0]}); {ENABLE}")
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_settings(folder: Path, plugin: str, settings: dict) -> None:
    path = folder / f"{plugin}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it shuts its kernels down), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def lab_url(tmp_path: Path, deadline: Deadline) -> Iterator[str]:
    """JupyterLab on a free loopback port, no token, serving a clean copy of lab 01.

    Its kernels render widgets (no LABKIT_WIDGETS=0), run in smoke mode with inline plots, and
    see none of the user's Jupyter configuration, settings or workspaces.
    """
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    notebook = nbformat.read(REPO / "notebooks" / LAB, as_version=4)
    for cell in notebook.cells:                      # no stale prompts or outputs to mistake for ours
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, root / LAB)
    settings = home / "settings"
    _write_settings(settings, "@jupyterlab/notebook-extension/tracker", {"windowingMode": "none"})
    _write_settings(settings, "@jupyterlab/apputils-extension/notification",
                    {"fetchNews": "false", "checkForUpdates": False})

    env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_WIDGETS", "MPLBACKEND", "LABKIT_DEVICE")}
    env.update(LABKIT_MODE="smoke", LABKIT_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="2",
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"))
    port = _free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.allow_root=True",
               f"--ServerApp.root_dir={root}",
               "--IdentityProvider.token=", "--PasswordIdentityProvider.hashed_password=",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + deadline.ms(60) / 1000
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > give_up:
                pytest.fail(f"JupyterLab did not answer in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)                              # polling a port: there is nothing to wait on
        yield url
    finally:
        _stop(process)


def _cell(page, source_part: str):
    """The notebook cell (in the page) whose source contains ``source_part``; exactly one must."""
    notebook = nbformat.read(REPO / "notebooks" / LAB, as_version=4)
    found = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and source_part in c.source]
    assert len(found) == 1, f"{LAB}: expected one code cell containing {source_part!r}, found {found}"
    return page.locator(".jp-Notebook .jp-Cell").nth(found[0])


def _appears(locator, timeout_ms: float) -> bool:
    try:
        locator.wait_for(timeout=timeout_ms)
        return True
    except PlaywrightTimeout:
        return False


def _outputs(cell) -> list[str]:
    """What a cell's output area shows, as MIME types (a widget view has none)."""
    return cell.locator(".jp-OutputArea-output").evaluate_all(
        "outputs => outputs.map(o => o.dataset.mimeType || o.className)")


def _png(img) -> bytes:
    """The bytes an <img> shows, fetched inside the page (a blob: or data: URL)."""
    encoded = img.evaluate("""async img => {
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        let text = ''; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text); }""")
    return base64.b64decode(encoded)


ALL_RAN = """() => {
    const dialog = document.querySelector('.jp-Dialog');
    if (dialog) return 'dialog: ' + dialog.innerText;          // e.g. "Select Kernel": fail now
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent);
    return prompts.length > 0 && !prompts.some(t => t.includes('*')) && prompts.some(t => /\\d/.test(t));
}"""


def _run_all_cells(page, deadline: Deadline) -> None:
    """Run → Run All Cells from the menu bar, then wait until no cell is queued or running."""
    # the status bar says Idle only once the kernel is connected and has answered (the toolbar's
    # execution indicator says idle even before a kernel exists)
    kernel = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
    kernel.wait_for(timeout=deadline.ms(60))
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    done = page.wait_for_function(ALL_RAN, timeout=deadline.ms(RUN_ALL_S), polling=500).json_value()
    assert done is True, f"JupyterLab asked instead of running: {done}"
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
    missing = [i for i, text in enumerate(prompts) if not re.search(r"\d", text)]
    if missing:
        errors = [t for t in page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").all_text_contents()
                  if "Error" in t]
        pytest.fail(f"{len(missing)} of {len(prompts)} code cells did not run; errors shown:\n"
                    + "\n".join(errors)[-3000:])


def test_lab01_widgets_work_in_jupyterlab(deadline: Deadline, browser, lab_url: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{lab_url}/lab/tree/{LAB}", timeout=deadline.ms(60))
        _run_all_cells(page, deadline)

        # 1. the learning-rate explorer is a widget: a slider with a readout above a PNG picture
        explorer = _cell(page, "GDExplorer(").locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox")
        handle = explorer.locator(".widget-slider .noUi-handle")
        readout = explorer.locator(".widget-readout")
        picture = explorer.locator(".widget-image")
        if not _appears(picture, deadline.ms(15)):
            pytest.fail(f"the explorer is not a live widget; its cell shows {_outputs(_cell(page, 'GDExplorer('))}")
        before = (readout.text_content(), picture.get_attribute("src"), _png(picture))
        assert before[2].startswith(b"\x89PNG") and picture.evaluate("img => img.naturalWidth") > 100
        explorer.screenshot(path=SHOTS / "explorer-before.png", timeout=deadline.ms(30))

        # 2. moving the slider redraws the path (continuous_update=False: one redraw per key press;
        #    the checks need only the first, so `after` may be an intermediate picture)
        for key in ("ArrowRight",) * 4 + ("ArrowLeft",):
            handle.press(key, timeout=deadline.ms(10))
        page.wait_for_function("([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0",
                               arg=[picture.element_handle(), before[1]], timeout=deadline.ms(30))
        after = (readout.text_content(), picture.get_attribute("src"), _png(picture))
        explorer.screenshot(path=SHOTS / "explorer-after.png", timeout=deadline.ms(30))
        assert after[0] != before[0], f"the readout stayed at {before[0]!r}"
        assert after[2].startswith(b"\x89PNG") and after[2] != before[2], "the picture did not change"

        # 3. labkit.fit's live plot ended as a static figure in its cell
        fit = _cell(page, "history = labkit.fit(")
        figure = fit.locator(".jp-OutputArea .jp-RenderedImage img")
        assert figure.count() == 1, f"labkit.fit left no figure in its cell; it shows {_outputs(fit)}"
        assert figure.evaluate("img => img.complete && img.naturalWidth") > 100
        figure.screenshot(path=SHOTS / "live-loss.png", timeout=deadline.ms(30))
    finally:
        try:
            page.screenshot(path=SHOTS / "lab01.png", timeout=10_000)    # the state it ended in
        finally:
            page.close()
