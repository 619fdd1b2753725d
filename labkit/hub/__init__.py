"""A demo class on a local JupyterHub: an instructor, a few students and nbgrader's exchange.

``python -m labkit.hub`` (``make hub``) starts it on 127.0.0.1 for an instructor to try the whole
release → fetch → submit → collect → grade → feedback cycle before setting up the real hub;
tests/test_hub.py drives the same set-up end to end. Nothing here is imported by labkit itself:
it needs the ``hub`` extra (JupyterHub) and configurable-http-proxy from npm.

- :mod:`labkit.hub.layout`: the class's folders and nbgrader configuration (the exchange, homes);
- :mod:`labkit.hub.config`: the JupyterHub configuration file for them;
- :mod:`labkit.hub.processes`: starting the hub and stopping every process it started;
- :mod:`labkit.hub.client`: the hub's and the single-user servers' REST APIs (nbgrader's included);
- :mod:`labkit.hub.instructor`: the README's instructor commands, run for real.
"""
from __future__ import annotations

from labkit.hub.layout import COURSE_ID, Classroom

__all__ = ["COURSE_ID", "Classroom"]
