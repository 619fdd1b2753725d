"""The hub's REST API and each user's server, nbgrader's Assignments endpoints included.

Everything goes through the hub's public address (the proxy), with the class service's token: the
hub starts and stops servers (``/hub/api/users/<u>/server``), and each user's server answers the
Jupyter contents API and nbgrader's assignment-list extension (``/user/<u>/assignments``,
``/user/<u>/assignments/{fetch,submit,fetch_feedback}``), exactly the calls the Assignments tab
makes when a student clicks Fetch, Submit or Fetch Feedback.
"""
from __future__ import annotations

import time
from typing import Any

import requests

from labkit.grading.course import COURSE_ID

ACTIONS = ("fetch", "submit", "fetch_feedback")


class HubAPIError(RuntimeError):
    """A hub or server request failed; the message names the request and the answer."""


class HubClient:
    """REST calls against a hub at ``url`` (``http://127.0.0.1:PORT``) with a service ``token``."""

    def __init__(self, url: str, token: str, course_id: str = COURSE_ID, timeout: float = 120) -> None:
        self.url, self.course_id, self.timeout = url.rstrip("/"), course_id, timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def _request(self, method: str, path: str, expect: tuple[int, ...] = (200,), **options) -> requests.Response:
        options.setdefault("timeout", self.timeout)
        try:
            answer = self.session.request(method, f"{self.url}{path}", **options)
        except requests.RequestException as err:
            raise HubAPIError(f"{method} {path}: {err}") from err
        if answer.status_code not in expect:
            raise HubAPIError(f"{method} {path} answered HTTP {answer.status_code}: {answer.text[:500]}")
        return answer

    # -- the hub ---------------------------------------------------------------------------------
    def user(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/hub/api/users/{name}").json()

    def get(self, path: str, **params: str) -> Any:
        """GET ``path`` (from the hub's root, e.g. ``/user/ann/formgrader/api/assignments``) as JSON."""
        return self._request("GET", path, params=params).json()

    def spawn(self, name: str) -> None:
        """Ask the hub to start ``name``'s server, without waiting (400: it is already running)."""
        self._request("POST", f"/hub/api/users/{name}/server", expect=(201, 202, 400))

    def start_server(self, name: str, timeout: float = 180) -> None:
        """Start ``name``'s server (if it is not running) and wait until it answers."""
        self.spawn(name)
        give_up = time.monotonic() + timeout
        last = "not ready"
        while time.monotonic() < give_up:
            server = self.user(name).get("servers", {}).get("")
            if server and server.get("ready"):
                answer = self.session.get(f"{self.url}/user/{name}/api/status", timeout=30)
                if answer.status_code == 200:
                    return
                last = f"its API answered HTTP {answer.status_code}"
            elif server:
                last = f"pending: {server.get('pending')}"
            time.sleep(0.5)       # the hub offers no event to wait on over REST
        raise HubAPIError(f"{name}'s server was not ready within {timeout:.0f} s ({last})")

    def stop_server(self, name: str) -> None:
        self._request("DELETE", f"/hub/api/users/{name}/server", expect=(202, 204, 400))

    # -- a user's server -------------------------------------------------------------------------
    def assignments(self, name: str) -> list[dict[str, Any]]:
        """What ``name``'s Assignments tab lists: released, fetched and submitted, with feedback."""
        answer = self._request("GET", f"/user/{name}/assignments", params={"course_id": self.course_id})
        return _value(answer.json(), f"list {name}'s assignments")

    def act(self, name: str, action: str, lab: str) -> list[dict[str, Any]]:
        """Press Fetch, Submit or Fetch Feedback for ``lab`` as ``name``; the list it shows after."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        answer = self._request("POST", f"/user/{name}/assignments/{action}",
                               params={"course_id": self.course_id, "assignment_id": lab})
        return _value(answer.json(), f"{action} {lab} as {name}")

    def read(self, name: str, path: str) -> dict[str, Any]:
        """A file or folder of ``name``'s through the contents API (a notebook as JSON)."""
        return self._request("GET", f"/user/{name}/api/contents/{path}", params={"content": 1}).json()

    def write_notebook(self, name: str, path: str, notebook: dict[str, Any]) -> None:
        """Save ``notebook`` (nbformat JSON) as ``name``'s ``path``, as JupyterLab's Save does."""
        self._request("PUT", f"/user/{name}/api/contents/{path}", expect=(200, 201),
                      json={"type": "notebook", "format": "json", "content": notebook})


def _value(answer: Any, what: str) -> list[dict[str, Any]]:
    """nbgrader's ``{"success": ..., "value": ...}`` answer, or HubAPIError with its traceback."""
    if isinstance(answer, dict) and not answer.get("success", False):
        raise HubAPIError(f"nbgrader could not {what}:\n{str(answer.get('value', answer))[-2000:]}")
    return answer["value"] if isinstance(answer, dict) else answer
