"""The JupyterHub configuration of a demo class: loopback only, dummy logins, local processes.

The file is written to ``state/jupyterhub_config.py``. The service token that the tests and the
demo use for the REST API is read from the environment (``LABKIT_HUB_TOKEN``), never written down.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit.hub.layout import Classroom

SERVICE = "labkit-class"          # the hub service (and role) whose token drives the REST API
TOKEN_ENV = "LABKIT_HUB_TOKEN"
RUN_ENV = "LABKIT_HUB_RUN"        # set in every process of one hub run, so leftovers can be found
# What the service may do: start and stop servers, reach them (nbgrader's endpoints), read users.
SERVICE_SCOPES = ["admin:users", "admin:servers", "access:servers", "read:users"]
PROXY_HELP = ("configurable-http-proxy (npm) is needed: `npm install --prefix .venv/node "
              "configurable-http-proxy` (make hub-proxy), or `npm install -g configurable-http-proxy`")


def find_proxy(venv: Path | None = None) -> str | None:
    """configurable-http-proxy: the project-local npm install beside the interpreter, else PATH."""
    venv = venv or Path(sys.prefix)
    local = venv / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if os.access(local, os.X_OK):
        return str(local)
    return shutil.which("configurable-http-proxy")


@dataclass(frozen=True)
class Ports:
    """The three loopback ports a hub needs: the public proxy, the proxy's API, the hub itself."""

    public: int
    proxy_api: int
    hub: int


HUB_CONFIG = '''\
# Written by labkit.hub for a DEMO class on this machine only: dummy logins (any password),
# every student's server runs as the same Unix user. Never expose it to a network.
import os

c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {public}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.pid_file = {pid!r}
c.JupyterHub.cleanup_servers = True           # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
c.ConfigurableHTTPProxy.pid_file = {proxy_pid!r}
c.ConfigurableHTTPProxy.should_start = True

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {users!r}
c.Authenticator.admin_users = {admins!r}

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.ip = "127.0.0.1"                    # each user's server, like the hub, on loopback only
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180                 # a loaded 2-core machine starts JupyterLab slowly
c.Spawner.http_timeout = 180
c.Spawner.environment = {environment!r}
CONFIG_PATHS = {config_paths!r}
INSTRUCTOR, COURSE = {instructor!r}, {course!r}


def per_user(spawner):
    """Each user's nbgrader configuration; the instructor's JupyterLab opens on the course."""
    spawner.environment = dict(spawner.environment, JUPYTER_CONFIG_PATH=CONFIG_PATHS[spawner.user.name])
    if spawner.user.name == INSTRUCTOR:
        spawner.notebook_dir = COURSE


c.Spawner.pre_spawn_hook = per_user

c.JupyterHub.services = [{{"name": {service!r}, "api_token": os.environ[{token_env!r}]}}]
c.JupyterHub.load_roles = [{{"name": {service!r}, "scopes": {scopes!r}, "services": [{service!r}]}}]
'''


def write_hub_config(classroom: Classroom, ports: Ports, proxy: str, run_id: str,
                     environment: dict[str, str] | None = None) -> Path:
    """Write ``state/jupyterhub_config.py`` for ``classroom`` on ``ports``; return its path.

    ``environment``: extra variables for every single-user server (and so every kernel), e.g.
    ``LABKIT_MODE``; ``run_id`` marks every process of this run (``LABKIT_HUB_RUN``).
    """
    state = classroom.state
    bindir = Path(sys.executable).parent
    args = ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")          # the demo's one Unix user may be root (containers)
    env = {"PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")]), RUN_ENV: run_id,
           **(environment or {})}
    text = HUB_CONFIG.format(
        public=ports.public, hub=ports.hub, proxy_api=ports.proxy_api,
        db_url=f"sqlite:///{state / 'jupyterhub.sqlite'}", cookie=str(state / "jupyterhub_cookie_secret"),
        pid=str(state / "jupyterhub.pid"), proxy=proxy, proxy_pid=str(state / "proxy.pid"),
        users=set(classroom.users), admins={classroom.instructor},
        home_template=str(classroom.root / "home" / "{username}"),
        singleuser=str(bindir / "jupyterhub-singleuser"), args=args, environment=env,
        config_paths={user: classroom.config_path(user) for user in classroom.users},
        instructor=classroom.instructor, course=str(classroom.course),
        service=SERVICE, token_env=TOKEN_ENV, scopes=SERVICE_SCOPES)
    path = state / "jupyterhub_config.py"
    path.write_text(text)
    return path
