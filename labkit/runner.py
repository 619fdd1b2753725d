"""The curriculum runner: execute every lab with papermill and write build/report.{md,json}."""
from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from labkit.files import atomic_write
from labkit.mode import FULL_CELL_TIMEOUT, SMOKE_CELL_TIMEOUT, resolve

LAB_PATTERN = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
# Cells papermill adds to an executed notebook (not in the source, so not counted in positions).
PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


@dataclass
class LabResult:
    """What happened when one lab ran."""

    name: str
    status: str                                  # "ok" | "failed"
    mode: str
    device: str
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def cell_timeout(mode: str) -> int:
    """The per-cell time limit of a run in ``mode`` ("smoke" or "full")."""
    return SMOKE_CELL_TIMEOUT if resolve(mode) == "smoke" else FULL_CELL_TIMEOUT


def discover(notebooks: str | os.PathLike) -> list[Path]:
    """The labs in ``notebooks``: files named NN_name.ipynb, in curriculum order."""
    folder = Path(notebooks)
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {folder.resolve()}: run from the repository "
                                "root or pass --notebooks PATH")
    labs = sorted(p for p in folder.iterdir() if LAB_PATTERN.match(p.name))
    if not labs:
        raise FileNotFoundError(f"{folder} contains no lab notebooks (files named like 01_topic.ipynb)")
    return labs


def select(labs: Sequence[Path], wanted: Sequence[str]) -> list[Path]:
    """Labs whose number or name matches one of ``wanted`` ("01", "1", "01_linear_regression")."""
    if not wanted:
        return list(labs)
    chosen = []
    for item in wanted:
        key = item.removesuffix(".ipynb")
        matches = [p for p in labs if p.stem == key or p.stem[:2] == key.zfill(2)]
        if not matches:
            known = ", ".join(p.stem for p in labs)
            raise ValueError(f"no lab matches {item!r}; the labs are: {known}")
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def device_label() -> str:
    """Short device description for the report: "cpu" or "cuda:0 (NVIDIA H100 ...)"."""
    import torch

    from labkit.device import get_device

    dev = get_device()
    return f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)


def _describe_failure(err: Exception, executed: Any) -> str:
    """"cell N (`first line`): Error: message", N counted in the source notebook (1-based)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        summary = f"{err.ename}: {err.evalue}".strip()
    else:                                          # e.g. nbclient's CellTimeoutError
        summary = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    cells = executed["cells"] if executed is not None else []
    failed = [i for i, cell in enumerate(cells)
              if any(out.get("output_type") == "error" for out in cell.get("outputs", []))]
    if not failed:
        return summary
    index = failed[0]
    added = sum(bool(PAPERMILL_TAGS & set(c.get("metadata", {}).get("tags", []))) for c in cells[:index])
    lines = [line for line in cells[index]["source"].splitlines() if line.strip()]
    first = lines[0].strip()[:60] if lines else ""
    return f"cell {index - added + 1} (`{first}`): {summary}"


def run_lab(path: Path, out_dir: Path, mode: str, device: str, *, timeout: int | None = None,
            progress: bool = True) -> LabResult:
    """Execute one lab into ``out_dir`` and collect its recorded metrics.

    ``timeout`` is the per-cell limit in seconds (default: the mode's, see :mod:`labkit.mode`).
    """
    import nbformat
    import papermill

    from labkit.report import metrics_from_notebook

    output = out_dir / path.name
    start = time.perf_counter()
    failure = None
    try:
        papermill.execute_notebook(str(path), str(output), parameters={"MODE": mode},
                                   cwd=str(path.parent), progress_bar=progress,
                                   execution_timeout=timeout or cell_timeout(mode), kernel_name="python3")
    except Exception as err:                    # a lab's failure must not stop the others
        failure = err
    seconds = round(time.perf_counter() - start, 2)
    executed = nbformat.read(output, as_version=4) if output.exists() else None
    metrics = metrics_from_notebook(executed) if executed is not None else {}
    error = _describe_failure(failure, executed) if failure is not None else None
    return LabResult(path.stem, "failed" if error else "ok", mode, device, seconds, metrics, error)


def render_markdown(results: Sequence[LabResult]) -> str:
    """The report as a Markdown table, then the errors of failed labs."""
    lines = ["# labkit curriculum report", "",
             "| lab | status | mode | device | seconds | metrics |", "|---|---|---|---|---|---|"]
    for r in results:
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in r.metrics.items()) or "-"
        lines.append(f"| {r.name} | {r.status} | {r.mode} | {r.device} | {r.seconds:.1f} | {metrics} |")
    failed = [r for r in results if r.error]
    if failed:
        lines += ["", "## Failures", ""] + [f"- **{r.name}**: {r.error}" for r in failed]
    passed = sum(r.status == "ok" for r in results)
    lines += ["", f"{passed} of {len(results)} labs passed."]
    return "\n".join(lines) + "\n"


def write_report(results: Sequence[LabResult], out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.md into ``out_dir`` (atomically) and return their paths."""
    payload = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "passed": sum(r.status == "ok" for r in results),
        "failed": sum(r.status != "ok" for r in results),
        "labs": [asdict(r) for r in results],
    }
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    with atomic_write(json_path, "w") as handle:
        json.dump(payload, handle, indent=2)
    with atomic_write(md_path, "w") as handle:
        handle.write(render_markdown(results))
    return json_path, md_path


@contextmanager
def environment_variables(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by kernels) for the duration of the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_curriculum(wanted: Sequence[str] = (), *, mode: str = "auto", notebooks: str = "notebooks",
                   out: str = "build", timeout: int | None = None,
                   progress: bool = True) -> list[LabResult]:
    """Run the selected labs (all by default) in order; every lab runs even if one fails."""
    resolved = resolve(mode)
    labs = select(discover(notebooks), wanted)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    how = "auto-detected" if mode in (None, "auto") else "requested"
    print(f"labkit run: {len(labs)} lab(s) in {resolved} mode ({how}; change it with "
          f"`make run MODE=smoke|full` or `labkit run --mode smoke|full`)")
    device = device_label()
    results = []
    # Headless kernels print lines instead of widgets, see the mode outside the parameters cell, and
    # write their files (labkit.output_dir) under out/outputs/, never beside the notebooks.
    outputs = str((out_dir / "outputs").resolve())
    with environment_variables(LABKIT_WIDGETS="0", LABKIT_MODE=resolved, LABKIT_OUTPUT_DIR=outputs):
        for path in labs:
            print(f"\n== {path.stem} ==", flush=True)
            result = run_lab(path, out_dir, resolved, device, timeout=timeout, progress=progress)
            print(f"{result.status}: {result.seconds:.1f} s" + (f" — {result.error}" if result.error else ""))
            results.append(result)
    json_path, md_path = write_report(results, out_dir)
    print("\n" + render_markdown(results))
    print(f"executed notebooks, {md_path} and {json_path} are in {out_dir}/")
    return results
