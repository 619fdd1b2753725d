"""Shared test setup: headless plotting, smoke mode, a private data cache, loopback HTTP server."""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")                      # this process only; notebook kernels keep inline plots
os.environ["LABKIT_WIDGETS"] = "0"         # kernels started by papermill/nbval print lines
os.environ["LABKIT_MODE"] = "smoke"
os.environ.pop("LABKIT_DEVICE", None)

REPO = Path(__file__).resolve().parents[1]
os.environ["LABKIT_OUTPUT_DIR"] = str(REPO / "build" / "test-outputs")   # files labs write, never notebooks/
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def instructor_solutions(source) -> dict[str, str]:
    """solution grade_id -> the instructor's code for it without the markers: what a student who
    solved the exercise hands in."""
    return {c.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKER.sub("", c.source) for c in source.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path_factory.mktemp("labkit-data")))


class Route:
    """What the loopback server answers for one path."""

    def __init__(self, body: bytes = b"", status: int = 200, claimed_length: int | None = None) -> None:
        self.body, self.status, self.claimed_length = body, status, claimed_length
        self.hits = 0


class LoopbackServer:
    """An HTTP server on 127.0.0.1 serving ``routes``; ``url(path)`` gives the address."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route.hits += 1
                if route.status != 200:
                    self.send_error(route.status)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(route.claimed_length or len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)      # a claimed_length > len(body) = interrupted transfer
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


# The files that take longest on the 2-core machine (minutes: whole labs executed or graded). They
# are collected first, in an order that pytest-xdist's first round-robin hand-out (whole files, see
# the Makefile) splits into two halves of similar length, so that both workers finish together
# instead of one running a long file alone at the end.
LONGEST_FIRST = ("tests/test_grading_roundtrip.py", "tests/test_exercise_mutants.py", "tests/test_grading_faults.py",
                 "tests/test_notebooks.py", "tests/test_grading_forgery.py", "tests/test_grading_sandbox.py",
                 "notebooks/05_gan.ipynb",
                 "notebooks/06_text_attention.ipynb", "notebooks/07_bert_pretraining.ipynb", "notebooks/08_efficiency.ipynb",
                 "notebooks/03_cnn.ipynb", "notebooks/04_vae.ipynb", "tests/test_browser.py", "tests/test_hub.py",
                 "notebooks/02_mlp_backprop.ipynb", "tests/test_exercise_integrity.py", "tests/test_grading_interrupt.py")


def _duration_rank(item: pytest.Item) -> int:
    path = item.path.relative_to(REPO).as_posix()
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first (a stable sort: the order inside a file, and of the rest, is kept).

    tests/gpu is the CUDA layer: skipped, with the reason, wherever no CUDA GPU is present (CI
    never has one). `make test-gpu` runs it alone on a GPU machine and installs nothing."""
    import torch

    items.sort(key=_duration_rank)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: run `make test-gpu` on a machine with one")
    for item in items:
        if "gpu" in item.path.relative_to(REPO).parts[:2]:
            item.add_marker(skip)
