"""What exercise code refers to, read from its source and never run.

Two readers share this module. In the student's kernel, ``labkit.checks.exercise`` resolves the
names a solution uses through the kernel's live objects. In the grader's own process,
``labkit.grading.verdict`` resolves them through the notebook's import statements, so nothing the
submission does at run time can change the verdict. Both ask the same questions:

- which dotted names does the code reach (``F.unfold``, ``torch.autograd.grad``, ``x.backward``)?
- does it hide what it calls (``eval``, ``getattr`` with a computed name, ``__import__`` ...)?
- does it tamper with the machinery that checks it (patching modules, IPython hooks, ``os._exit``)?

A deny-list entry is a dotted name (``"torch.nn.functional.unfold"``: that object, under any
alias), a module prefix (``"torch.autograd"``: everything inside it) or ``".name"`` (an attribute
or method of that name on any object, e.g. ``".backward"``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

# Magics a student may use in a notebook: they time or display, and change no state we rely on.
SAFE_MAGICS = frozenset({"time", "timeit", "matplotlib"})
# Calls that hide which function is reached, so no reader of the source could tell.
HIDING_CALLS = frozenset({"eval", "exec", "compile", "__import__", "globals", "locals", "vars",
                          "breakpoint"})
# Modules whose use in a submission can rewrite or hide what the checks see.
TAMPERING_MODULES = frozenset({"importlib", "inspect", "builtins", "ctypes", "gc", "IPython", "ipykernel",
                               "traitlets", "atexit", "signal", "sys", "types", "code", "codeop"})
# Attributes that reach into objects' internals (code objects, namespaces, the class tree).
TAMPERING_ATTRIBUTES = frozenset({"__code__", "__globals__", "__dict__", "__builtins__", "__subclasses__",
                                  "__bases__", "__mro__", "__class__", "__closure__", "__defaults__",
                                  "__kwdefaults__", "__getattribute__", "__setattr__", "__import__",
                                  "__loader__", "__spec__", "_exit", "f_globals", "f_locals", "f_back"})
TAMPERING_CALLS = frozenset({"setattr", "delattr", "exit", "quit"})


@dataclass(frozen=True)
class Finding:
    """Something a piece of code does that a rule forbids, with the line it is on (1-based)."""

    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def python_source(cell_source: str) -> str:
    """A notebook cell as plain Python: IPython's magics and ``!`` lines become the calls they run."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:                       # no IPython: a cell with magics will not parse
        return cell_source
    return TransformerManager().transform_cell(cell_source)


def parse(source: str) -> ast.Module | None:
    """The AST of a cell (magics translated), or None if it is not valid Python."""
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def chain(node: ast.expr) -> tuple[str, ...] | None:
    """``a.b.c`` as ("a", "b", "c"); None unless the expression is names and attributes only."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return None


def chains(tree: ast.AST) -> Iterator[tuple[tuple[str, ...], int]]:
    """Every maximal ``name.attr.attr`` expression in ``tree``, with its line."""
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and id(node) not in inner:
            found = chain(node)
            if found:
                yield found, node.lineno


def attribute_names(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every attribute name used in ``tree`` (``x.backward()`` gives "backward"), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.attr, node.lineno


def is_denied(path: str, deny: Iterable[str]) -> str | None:
    """The deny-list entry that the dotted ``path`` falls under, or None."""
    for entry in deny:
        if not entry.startswith(".") and (path == entry or path.startswith(entry + ".")):
            return entry
    return None


def denied_attributes(tree: ast.AST, deny: Iterable[str]) -> list[Finding]:
    """Uses of ``.name`` entries of the deny list: that attribute on any object."""
    names = {entry[1:] for entry in deny if entry.startswith(".")}
    return [Finding(line, f"uses .{name}") for name, line in attribute_names(tree) if name in names]


def hiding(tree: ast.AST) -> list[Finding]:
    """Calls that hide which function is reached (eval, exec, getattr with a computed name...)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        name = node.func.id
        if name in HIDING_CALLS:
            found.append(Finding(node.lineno, f"calls {name}(), which hides what the code does"))
        elif name == "getattr" and not (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
            found.append(Finding(node.lineno, "calls getattr() with a computed name, which hides what it reaches"))
    return found


def imports(tree: ast.AST) -> dict[str, str]:
    """Name bound -> dotted path, for the import statements at any depth of ``tree``."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bound[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level names a cell defines (functions, classes, assignments) -> the defining statement."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        found[leaf.id] = node
    return found


def tampering(tree: ast.AST, imported: Sequence[str] | set[str]) -> list[Finding]:
    """What in a student's cell could change how checks run or what the grader sees.

    ``imported``: names bound by imports anywhere in the notebook (modules and library objects);
    assigning to their attributes patches a library for every later cell.
    """
    found, magic_lines = [], set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""])
            for module in modules:
                if module.split(".")[0] in TAMPERING_MODULES:
                    found.append(Finding(node.lineno, f"imports {module}"))
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                found.append(Finding(node.lineno, f"uses `from {node.module} import *`, which hides where names come from"))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target])
            for target in targets:
                base = target
                while isinstance(base, (ast.Attribute, ast.Subscript)):
                    base = base.value
                if base is not target and isinstance(base, ast.Name) and base.id in imported:
                    found.append(Finding(node.lineno, f"changes an attribute of {base.id}, a library it imported"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in TAMPERING_CALLS:
                found.append(Finding(node.lineno, f"calls {name}()"))
            if name == "run_line_magic" or name == "run_cell_magic":
                magic_lines.add(node.lineno)
                magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
                if magic not in SAFE_MAGICS:
                    found.append(Finding(node.lineno, f"uses the %{magic} magic"))
            elif name in ("system", "getoutput"):
                magic_lines.add(node.lineno)
                found.append(Finding(node.lineno, "runs a shell command"))
        elif isinstance(node, ast.Attribute) and node.attr in TAMPERING_ATTRIBUTES:
            found.append(Finding(node.lineno, f"reaches {node.attr}"))
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "get_ipython"):
            found.append(Finding(node.lineno, f"uses {node.id}"))
    found += hiding(tree)
    # IPython turns magics into get_ipython() calls: judge the magic, not the call it became.
    unique = {(f.line, f.what): f for f in found
              if not (f.line in magic_lines and f.what == "uses get_ipython")}
    return sorted(unique.values(), key=lambda f: (f.line, f.what))
