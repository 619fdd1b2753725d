"""One run of a demo hub: free ports, its configuration, the hub up, and everything stopped after.

``with running_hub(classroom) as hub:`` yields a :class:`RunningHub` (address, token, REST client)
once the hub answers; leaving the block, normally or by an exception or Ctrl-C, stops the hub, the
proxy, every user's server and their kernels (see labkit.hub.processes).
"""
from __future__ import annotations

import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from labkit.grading.grader import interrupts_ignored
from labkit.hub.client import HubClient
from labkit.hub.config import PROXY_HELP, Ports, find_proxy, write_hub_config
from labkit.hub.layout import Classroom
from labkit.hub.processes import HubError, free_port, start_hub, stop_hub, wait_until_up


@dataclass
class RunningHub:
    """A hub that answers: its public ``url``, the service ``token``, a REST ``client``."""

    classroom: Classroom
    url: str
    token: str
    run_id: str
    log: Path
    process: subprocess.Popen
    client: HubClient = field(init=False)
    stopped_late: list[str] = field(default_factory=list)   # filled when the run ends

    def __post_init__(self) -> None:
        self.client = HubClient(self.url, self.token, self.classroom.course_id)


@contextmanager
def running_hub(classroom: Classroom, environment: dict[str, str] | None = None,
                timeout: float = 120, port: int | None = None) -> Iterator[RunningHub]:
    """Start a hub for ``classroom`` on free loopback ports; stop all of it on leaving the block.

    ``environment``: extra variables for every user's server; ``port``: the public port (default:
    a free one; the hub's and the proxy's own ports are always free ones). Raises HubError (with the hub's log)
    when configurable-http-proxy is missing or the hub does not answer within ``timeout`` seconds.
    """
    proxy = find_proxy()
    if proxy is None:
        raise HubError(PROXY_HELP)
    classroom.prepare()
    ports = Ports(public=port or free_port(), proxy_api=free_port(), hub=free_port())
    run_id = secrets.token_hex(8)
    token = secrets.token_hex(32)
    config = write_hub_config(classroom, ports, proxy, run_id, environment)
    log = classroom.state / "jupyterhub.log"
    process = None
    hub = None
    try:
        process = start_hub(config, token, run_id, log)
        url = f"http://127.0.0.1:{ports.public}"
        wait_until_up(f"{url}/hub/api/", process, log, timeout)
        hub = RunningHub(classroom, url, token, run_id, log, process)
        yield hub
    finally:
        with interrupts_ignored():           # a second Ctrl-C must not cut the clean-up short
            late = stop_hub(process, run_id)
        if hub is not None:
            hub.stopped_late = late
