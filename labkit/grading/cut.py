"""The exercise-only cut of a lab: its exercise cells and the cells they need, nothing else.

A cell is needed when it defines (imports, assigns, defines a function or class) a name that a
kept cell uses, found statically and transitively. The cut runs in seconds where the whole lab
trains models: the grader computes its reference answers from the cut of the instructor's
notebook, and the mutant tests grade their wrong solutions on cuts. Authors keep exercises
independent of training for that reason (see notebooks/AUTHORING.md).
"""
from __future__ import annotations

import ast
import builtins

import nbformat
from nbformat import NotebookNode

from labkit.integrity import definitions, imports, parse


def is_exercise_cell(cell: NotebookNode) -> bool:
    """A solution cell or a graded test cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("solution") or meta.get("grade"))


def _defined(tree: ast.Module) -> set[str]:
    names = set(definitions(tree)) | set(imports(ast.Module(body=[n for n in tree.body
                                                                  if isinstance(n, (ast.Import, ast.ImportFrom))],
                                                            type_ignores=[])))
    for node in tree.body:
        if isinstance(node, (ast.For, ast.With)):
            for leaf in ast.walk(node.target if isinstance(node, ast.For) else node):
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                    names.add(leaf.id)
    return names


def _used(node: ast.AST) -> set[str]:
    """Free names an expression or statement reads: a function's parameters and local variables,
    and a comprehension's variables, are not free."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        local = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
        local |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            local |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        inner = set().union(*(_used(statement) for statement in body))
        outer = [d for d in arguments.defaults + arguments.kw_defaults if d]
        outer += getattr(node, "decorator_list", [])
        return (inner - local) | set().union(*(_used(d) for d in outer))
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        local = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        return set().union(*(_used(child) for child in ast.iter_child_nodes(node))) - local
    return set().union(*(_used(child) for child in ast.iter_child_nodes(node)))


def _cell_needs(tree: ast.Module) -> set[str]:
    """Names a cell reads before it assigns them itself (statement by statement)."""
    needs: set[str] = set()
    assigned: set[str] = set()
    for statement in tree.body:
        stored = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if isinstance(statement, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)):
            # a block's own variables (loop targets, names set inside it) are read after being set
            # there; reading one before setting it would be a bug in the lab
            needs |= _used(statement) - assigned - stored - {
                h.name for h in getattr(statement, "handlers", []) if h.name}
        else:
            needs |= _used(statement) - assigned
        assigned |= _defined(ast.Module(body=[statement], type_ignores=[]))
        assigned |= stored
    return needs


def exercise_cut(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` keeping its exercise cells, its parameters cell and what they need."""
    cells = notebook.cells
    trees = {i: parse(c.source) for i, c in enumerate(cells) if c.cell_type == "code"}
    defined = {i: _defined(t) for i, t in trees.items() if t is not None}
    keep = {i for i in trees if is_exercise_cell(cells[i])
            or "parameters" in cells[i].get("metadata", {}).get("tags", [])}
    pending = sorted(keep)
    known = set(dir(builtins))
    while pending:
        i = pending.pop()
        if trees.get(i) is None:
            continue
        for name in _cell_needs(trees[i]) - known:
            source = next((j for j in range(i - 1, -1, -1) if name in defined.get(j, ())), None)
            if source is not None and source not in keep:
                keep.add(source)
                pending.append(source)
    cut = nbformat.v4.new_notebook(metadata=notebook.metadata)
    cut.cells = [cells[i] for i in sorted(keep)]
    return cut
