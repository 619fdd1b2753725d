"""Does a student's function use what its exercise forbids? Read in the kernel, from live objects.

``forbidden_uses(im2col, deny=("torch.nn.functional.unfold",))`` reads the function's source,
resolves every ``name.attr`` it mentions through the function's globals (so ``u = F.unfold`` in
another cell is still ``F.unfold``), follows the notebook's own functions and classes it calls,
and reports each use of a denied name. The grader repeats the check outside the kernel from the
notebook's source (labkit.grading.verdict); this in-kernel copy is what the visible ✓ relies on.
"""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
from typing import Any, Callable, Sequence

from labkit.integrity import Finding, chains, denied_attributes, hiding, is_denied

NOTEBOOK_MODULE = "__main__"


def _resolve(dotted: str) -> Any:
    """The object a dotted name such as "torch.nn.functional.unfold" names (None if there is none).

    Only modules already imported are looked at: code cannot use a module nobody imported, and
    importing a large library (scikit-learn) just to deny it would slow every self-check down.
    """
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        obj = sys.modules.get(".".join(parts[:split]))
        if obj is None:
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _path_of(obj: Any) -> str | None:
    """A dotted name for a module or a library function/class, used to match module prefixes."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(name, str):
        return f"{module}.{name}"
    return None


def _source_tree(obj: Any) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None


def _own(obj: Any) -> bool:
    """Whether ``obj`` is a function or class defined in the notebook itself."""
    return (isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == NOTEBOOK_MODULE)


def _members(cls: type) -> list[Callable]:
    """The functions a class defines (its methods, static and class methods, properties)."""
    found = []
    for value in vars(cls).values():
        value = getattr(value, "__func__", value)
        if isinstance(value, property):
            found += [f for f in (value.fget, value.fset) if f]
        elif isinstance(value, types.FunctionType):
            found.append(value)
    return found


def forbidden_uses(func: Callable, deny: Sequence[str]) -> list[Finding]:
    """Each use of a ``deny`` entry by ``func`` or by the notebook functions it reaches."""
    if not callable(func):
        raise TypeError(f"expected the function or class you wrote, got {type(func).__name__}")
    denied = {entry: _resolve(entry) for entry in deny if not entry.startswith(".")}
    found: list[Finding] = []
    pending, seen = [func], set()
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, type) and _source_tree(obj) is None:
            pending += _members(obj)            # classes made in a notebook cell: read each method
            continue
        tree = _source_tree(obj)
        if tree is None:
            name = getattr(obj, "__name__", "it")
            found.append(Finding(0, f"the source of {name} cannot be read: define it with def in a cell"))
            continue
        found += denied_attributes(tree, deny) + hiding(tree)
        namespace = getattr(obj, "__globals__", None) or vars(inspect.getmodule(obj) or types.ModuleType("x"))
        if isinstance(obj, type):
            pending += _members(obj)
            namespace = vars(inspect.getmodule(obj)) if inspect.getmodule(obj) else {}
        for names, line in chains(tree):
            if names[0] not in namespace:
                continue
            target = namespace[names[0]]
            for attr in names[1:]:
                if _own(target) or _matches(target, denied):
                    break
                try:
                    target = getattr(target, attr)
                except Exception:                # an attribute that is not there (or a property that fails)
                    break
            entry = _matches(target, denied)
            if entry:
                found.append(Finding(line, f"uses {'.'.join(names)} ({entry})"))
            elif _own(target) and target is not obj:
                pending.append(target)
    return sorted(set(found), key=lambda f: (f.line, f.what))


def _matches(obj: Any, denied: dict[str, Any]) -> str | None:
    """The deny entry ``obj`` is (the same object) or lies inside (a module prefix), or None."""
    for entry, target in denied.items():
        if target is not None and obj is target:
            return entry
    path = _path_of(obj)
    return is_denied(path, denied) if path else None
