"""nbgrader's executor, made to survive a kernel that dies or hangs in one student's cell.

nbgrader gives up on a whole submission when its kernel dies (``os._exit``, a segfault, running
out of memory), and a cell that ignores the timeout interrupt leaves every later cell waiting.
``ResilientExecute`` records an error on the offending cell (so it scores 0), starts a fresh
kernel, re-runs the cells before it to rebuild the student's state, and carries on.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Integer

KERNEL_DIED = ("the kernel died while running this cell (os._exit, a crash or running out of "
               "memory). The cells before it were re-run in a fresh kernel and grading went on.")
RERUN = "The cells before it were re-run in a fresh kernel and grading went on."
STOPPED = ": the kernel was stopped"
LIMIT_REACHED = "This cell {cause}" + STOPPED + ". " + RERUN
KERNEL_HUNG = ("this cell ran past the time limit and ignored the interrupt. The kernel was "
               "restarted, the cells before it were re-run in it, and grading went on.")


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output like the kernel's own, shown in the feedback and failing a test cell."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class ResilientExecute(Execute):
    """Execute that restarts and replays after a dead or unresponsive kernel (see module doc)."""

    max_restarts = Integer(3, help="kernel restarts allowed per notebook before giving up").tag(config=True)
    limits = Dict(help="a sandboxed kernel's limits (labkit.grading.sandbox.Limits as a dict), to name the "
                       "one that stopped it").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._skipped: set[int] = set()
        self._restarts = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cause = self._limit_that_stopped_the_kernel()
            cell.outputs.append(error_output("LimitReached", LIMIT_REACHED.format(cause=cause)) if cause
                                else error_output("KernelDied", KERNEL_DIED))
        except CellTimeoutError:
            # nbclient interrupted the cell at the time limit, and the kernel ignored the interrupt.
            cell.outputs.append(error_output("KernelHung", KERNEL_HUNG))
        self._restart_and_replay(index)
        return cell, self.resources

    def _limit_that_stopped_the_kernel(self) -> str | None:
        """The sandbox limit whose signal ended the kernel (from bubblewrap's exit status), if any."""
        if not self.limits:
            return None
        from labkit.grading.sandbox import Limits, death_note

        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return death_note(process.poll() if process is not None else None, Limits(**self.limits))

    def _finished(self, msg_id: str, timeout: float) -> bool:
        """Whether the kernel answered ``msg_id`` within ``timeout`` seconds (False if it died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = run_sync(self.kc.shell_channel.get_msg)(timeout=1)
            except Empty:
                if not run_sync(self.kc.is_alive)():
                    return False
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    def _restart_and_replay(self, index: int) -> None:
        """Fresh kernel, then re-run the earlier code cells (not ones that crashed or hung)."""
        self._skipped.add(index)
        self._restarts += 1
        if self._restarts > self.max_restarts:
            raise DeadKernelError(f"the kernel died or hung {self._restarts} times; grading stopped")
        self.log.warning("Kernel died or hung in cell %d; restarting and re-running the cells before it",
                         index)
        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        for position, earlier in enumerate(self.nb.cells[:index]):
            if earlier.cell_type != "code" or position in self._skipped or not earlier.source.strip():
                continue
            msg_id = run_sync(ensure_async)(self.kc.execute(earlier.source, store_history=False,
                                                            allow_stdin=False))
            if not self._finished(msg_id, self.timeout or 600):
                raise DeadKernelError(f"re-running cell {position} after a restart did not finish")
