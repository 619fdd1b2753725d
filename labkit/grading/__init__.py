"""Release student editions of the labs and grade submissions, with nbgrader as the engine.

``release`` builds the student edition of every lab and proves it is blank; ``grade`` autogrades a
folder of submissions laid out as ``SUBMISSIONS/<student>/<lab>.ipynb``. Neither needs the
instructor to know nbgrader's course-directory layout: both build one from ``notebooks/``.
nbgrader is imported only when one of them is used.
"""
from __future__ import annotations

from importlib import import_module

_EXPORTS = {"GradingError": "course", "Grade": "grader", "grade": "grader",
            "ReleaseError": "editions", "release": "editions", "Limits": "sandbox",
            "SandboxUnavailable": "sandbox"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"labkit.grading.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'labkit.grading' has no attribute {name!r}")
