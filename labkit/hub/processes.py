"""Starting a demo hub and stopping every process it started: proxy, servers, their kernels.

JupyterHub starts each user's server in a session of its own (so that a Ctrl-C meant for the hub
does not reach them) and stops them itself when it exits cleanly. To leave nothing behind when it
does not, every process of one run carries a marker in its environment (``LABKIT_HUB_RUN``), and
:func:`stop_hub` ends, after the hub, every process still carrying it, descendants of the hub or
orphans alike.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import psutil

from labkit.hub.config import RUN_ENV, TOKEN_ENV


class HubError(RuntimeError):
    """The hub did not start or answer in time; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it; never a fixed number)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when there is none yet)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_hub(config: Path, token: str, run_id: str, log: Path) -> subprocess.Popen:
    """Start ``jupyterhub -f config`` in its own session, logging to ``log``."""
    env = {**os.environ, TOKEN_ENV: token, RUN_ENV: run_id}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=config.parent,
                                env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``url`` (the hub's API, through the proxy) until it answers 200; HubError if it cannot."""
    give_up = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise HubError(f"JupyterHub exited with status {process.returncode} while starting; "
                           f"its log ({log}) ends:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
        except OSError as err:
            last = str(err)
        time.sleep(0.25)          # polling a port: there is nothing to wait on
    raise HubError(f"JupyterHub did not answer at {url} within {timeout:.0f} s ({last}); "
                   f"its log ({log}) ends:\n{log_tail(log)}")


def marked(run_id: str) -> list[psutil.Process]:
    """The live processes of this run: those whose environment carries ``LABKIT_HUB_RUN=run_id``."""
    found = []
    needle = f"{RUN_ENV}={run_id}".encode()
    for process in psutil.process_iter(["pid"]):
        try:
            if process.pid == os.getpid():
                continue
            # /proc/PID/environ holds the environment a process started with: read it raw.
            with open(f"/proc/{process.pid}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    if process.status() != psutil.STATUS_ZOMBIE:
                        found.append(process)
        except (OSError, psutil.Error):
            continue
    return found


def _descendants(pid: int) -> list[psutil.Process]:
    with suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _alive(process: psutil.Process) -> bool:
    """Still running (a zombie, or a process gone meanwhile, is not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _end(processes: list[psutil.Process], grace: float) -> None:
    """SIGTERM, then SIGKILL to whatever has not exited within ``grace`` seconds."""
    for process in processes:
        with suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def stop_hub(process: subprocess.Popen | None, run_id: str, grace: float = 45.0) -> list[str]:
    """Stop the hub (it stops the proxy and every server), then anything of this run still alive.

    The hub gets ``grace`` seconds (it gives each server up to 20 s, all at once) before SIGKILL.
    Returns a description of the processes that had to be ended after the hub was gone (a clean
    shutdown returns []). Safe to call twice, and with ``process=None`` (the hub never started).
    """
    before = _descendants(process.pid) if process is not None and process.poll() is None else []
    if process is not None and process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)        # the hub shuts the servers and proxy down
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    elif process is not None:
        process.wait()
    left = {p.pid: p for p in before if _alive(p)}
    left.update({p.pid: p for p in marked(run_id)})
    described = []
    for p in left.values():
        with suppress(psutil.Error):
            described.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
    _end(list(left.values()), grace=5)
    return described
