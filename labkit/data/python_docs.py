"""The offline text corpus "python-docs": the documentation that ships with every CPython.

Two sources, both inside the running interpreter, so the corpus exists without a network:
the reference manual's topics (``pydoc_data.topics``, one document per topic) and the standard
library's docstrings (module, class, function and method), read with :mod:`ast` -- nothing is
imported or run. Each docstring is labelled with the area of the standard library it comes from
(:data:`AREAS`) when its top-level module is mapped, for the labelled task "python-areas"; that
task's text has the identifiers that name the answer stripped (:func:`strip_names`).

Documents are split by a hash of their id (sha1, stable across runs and Python versions):
80 % train, 10 % validation, 10 % test. The build takes a few seconds; it is kept in memory for
the session and in the data cache as a small gzipped JSON file, one per Python version.
"""
from __future__ import annotations

import ast
import gzip
import hashlib
import inspect
import json
import os
import re
import sys
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from labkit.data.cache import CacheDir, search_path, writable_dir
from labkit.files import atomic_write

FORMAT = 2                     # bump when the records or their text change: old cache files are then ignored
MIN_WORDS = 15                 # shorter docstrings ("Return x.") say too little to learn from
SPLITS = ("train", "validation", "test")
CACHE_FOLDER = "python-docs"
# Folders of the standard library that are not its documentation: tests, tools, third-party code.
SKIP_DIRS = frozenset({"test", "tests", "idle_test", "idlelib", "lib2to3", "turtledemo", "site-packages",
                       "dist-packages", "__pycache__", "lib-dynload", "_bundled"})
# The labelled task: top-level module -> area. Modules left out (and the reference topics) are
# unlabelled and serve pretraining only. Names missing from a Python version are simply absent
# (distutils, gone in 3.12, is deliberately unmapped so that every version has the same classes).
AREAS: dict[str, tuple[str, ...]] = {
    "internet": ("email", "http", "urllib", "smtplib", "smtpd", "imaplib", "poplib", "ftplib", "nntplib",
                 "telnetlib", "xmlrpc", "wsgiref", "socket", "socketserver", "ssl", "mailbox", "mimetypes",
                 "webbrowser", "ipaddress", "selectors", "asynchat", "asyncore", "cgi", "cgitb", "mailcap",
                 "netrc", "quopri", "base64", "uu"),
    "concurrency": ("asyncio", "threading", "_threading_local", "concurrent", "multiprocessing", "subprocess",
                    "queue", "sched", "contextvars", "signal"),
    "gui": ("tkinter", "turtle", "curses"),
    "testing & debugging": ("unittest", "doctest", "pdb", "bdb", "traceback", "inspect", "trace", "profile",
                            "cProfile", "pstats", "timeit", "tracemalloc", "dis", "pickletools", "faulthandler",
                            "warnings", "code", "codeop", "cmd", "pydoc", "tabnanny", "symtable", "pyclbr"),
    "text & data formats": ("re", "sre_compile", "sre_parse", "sre_constants", "difflib", "textwrap", "string",
                            "codecs", "json", "xml", "csv", "configparser", "html", "pickle", "_compat_pickle",
                            "copyreg", "plistlib", "tomllib", "struct", "shlex", "pprint", "reprlib", "stringprep",
                            "unicodedata", "_markupbase", "xdrlib", "gettext", "locale"),
    "files & OS": ("os", "shutil", "tarfile", "zipfile", "pathlib", "tempfile", "glob", "fnmatch", "io", "_pyio",
                   "gzip", "bz2", "lzma", "zlib", "_compression", "filecmp", "fileinput", "stat", "posixpath",
                   "ntpath", "genericpath", "shelve", "dbm", "sqlite3", "mmap", "pty", "tty", "getpass",
                   "platform", "sysconfig", "zipapp", "linecache", "chunk", "aifc", "wave", "sunau"),
}
MODULE_AREA = {module: area for area, modules in AREAS.items() for module in modules}
CLASSES = tuple(AREAS)

_DOCTEST = re.compile(r"^\s*(>>>|\.\.\.)")
_IMPORT = re.compile(r"^\s*(import\s+[\w.]+|from\s+[\w.]+\s+import\s)")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class Record:
    """One document of the corpus: its text, its area (None: unlabelled) and the task's stripped text."""

    id: str
    text: str
    label: str | None
    task_text: str | None          # the text without the names that give the area away (labelled only)

    @property
    def split(self) -> str:
        return split_of(self.id)


def split_of(doc_id: str) -> str:
    """ "train" (80 %), "validation" (10 %) or "test" (10 %), from a sha1 of the id: the same everywhere."""
    bucket = int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) % 10
    return SPLITS[0] if bucket < 8 else SPLITS[1] if bucket == 8 else SPLITS[2]


def word_count(text: str) -> int:
    return len(text.split())


def clean(text: str) -> str:
    """Dedented prose on one line: no doctest examples (prompts and their output), no import lines."""
    lines, in_example = [], False
    for line in inspect.cleandoc(text).splitlines():
        if _DOCTEST.match(line):
            in_example = True
        elif not line.strip():
            in_example = False
        if not in_example and not _IMPORT.match(line):
            lines.append(line)
    return " ".join(" ".join(lines).split())


def strip_names(text: str, names: frozenset[str], module_parts: frozenset[str]) -> str:
    """``text`` without the identifiers in ``names`` (case-sensitive) or ``module_parts`` (lowercase).

    Whole tokens only, also inside dotted names; a token that contains a module part of four
    letters or more is stripped too ("LZMACompressor" in lzma's docstrings).
    With names {"Message", "email", "message"}: "see email.message.Message.get_payload()" becomes "see get_payload()".
    """
    long_parts = tuple(part for part in module_parts if len(part) >= 4)

    def keep(part: str) -> bool:
        lower = part.lower()
        return part not in names and lower not in module_parts and not any(p in lower for p in long_parts)

    def replace(match: re.Match) -> str:
        return ".".join(part for part in match.group(0).split(".") if keep(part))

    stripped = _DOTTED.sub(replace, text)
    stripped = re.sub(r"(?<![\w)\]])\(\)", "", stripped)          # "()" left by a stripped call
    return " ".join(stripped.split())


def stdlib_dir() -> Path:
    """The folder of this interpreter's standard library (also from inside a virtual environment)."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[Path]:
    """The standard library's .py files in sorted order, without tests, tools and third-party code."""
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(("config-", ".")))
        files += [Path(folder) / name for name in sorted(names)
                  if name.endswith(".py") and not name.startswith(("test_", "_sysconfigdata"))]
    return files


def _module_names(path: Path, root: Path) -> tuple[str, ...]:
    parts = path.relative_to(root).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _statements(body: list[ast.stmt]):
    """Every statement in ``body`` and in the blocks nested in it (expressions are not visited: fast)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _statements([n for n in block if isinstance(n, ast.AST)])


def _defined_and_imported(tree: ast.Module) -> set[str]:
    """Every class and function name defined anywhere in the file, and every name it imports."""
    names: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.update(node.module.split("."))
            for alias in node.names:
                names.update(alias.name.split("."))
                if alias.asname:
                    names.add(alias.asname)
    names.discard("*")
    return {name for name in names if len(name) > 1}


def _docstrings(tree: ast.Module) -> list[tuple[str, str]]:
    """(qualified name, docstring) of the module ("") and of every class and function in it."""
    found = []
    module_doc = ast.get_docstring(tree, clean=False)
    if module_doc:
        found.append(("", module_doc))

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = f"{prefix}{node.name}"
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    found.append((qualname, doc))
                visit(node.body, qualname + ".")
            elif isinstance(node, (ast.If, ast.Try)):            # definitions under `if sys.platform ...`
                for block in (node.body, node.orelse, *(h.body for h in getattr(node, "handlers", ()))):
                    visit(block, prefix)

    visit(tree.body, "")
    return found


def file_records(path: Path, root: Path) -> list[Record]:
    """The documents of one standard-library file (none if it cannot be parsed by this Python)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    modules = _module_names(path, root)
    label = MODULE_AREA.get(modules[0]) if modules else None
    rel = path.relative_to(root).as_posix()
    names = frozenset(_defined_and_imported(tree)) if label else frozenset()
    module_parts = frozenset(part.lower() for part in modules)
    records, seen = [], Counter()
    for qualname, doc in _docstrings(tree):
        seen[qualname] += 1                    # a second definition (under another `if`) gets "#2"
        text = clean(doc)
        if word_count(text) < MIN_WORDS:
            continue
        doc_id = f"stdlib/{rel}:{qualname}" if qualname else f"stdlib/{rel}"
        doc_id += f"#{seen[qualname]}" if seen[qualname] > 1 else ""
        task_text = strip_names(text, names | frozenset(qualname.split(".")), module_parts) if label else None
        records.append(Record(doc_id, text, label, task_text))
    return records


def topic_records() -> list[Record]:
    """One unlabelled document per topic of the reference manual (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    return [Record(f"pydoc/{name}", clean(topics[name]), None, None) for name in sorted(topics)]


def build(root: Path | None = None) -> list[Record]:
    """Every document, in a fixed order (topics, then files in sorted order); exact duplicates kept once."""
    root = root or stdlib_dir()
    records, seen = [], set()
    for record in topic_records() + [r for path in stdlib_files(root) for r in file_records(path, root)]:
        if record.text not in seen:
            seen.add(record.text)
            records.append(record)
    return records


# --- the build, kept for the session and in the data cache -----------------------------------------

_SESSION: dict[str, list[Record]] = {}


def python_version() -> str:
    """This interpreter's version, e.g. "3.11.7"."""
    return ".".join(map(str, sys.version_info[:3]))


def cache_name() -> str:
    """The cache file of this Python version, e.g. python-docs-3.11.7-f1.json.gz."""
    return f"python-docs-{python_version()}-f{FORMAT}.json.gz"


def _read(path: Path) -> list[Record] | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        records = [Record(*row) for row in data["records"]]
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None                                       # unreadable: rebuilt
    return records if records and data.get("format") == FORMAT else None


def _write(records: list[Record], root: str | os.PathLike | None) -> CacheDir | None:
    """Save the build in the first writable cache (None if there is none: it is then only kept in memory)."""
    try:
        cache, _ = writable_dir(root)
        payload = {"format": FORMAT, "python": python_version(),
                   "records": [[r.id, r.text, r.label, r.task_text] for r in records]}
        with atomic_write(cache.path / CACHE_FOLDER / cache_name()) as out:
            out.write(gzip.compress(json.dumps(payload, ensure_ascii=False).encode(), mtime=0))
    except OSError:
        return None
    return cache


def load(root: str | os.PathLike | None = None) -> tuple[list[Record], str]:
    """(records, where they came from): this session's copy, else a data cache, else built and cached."""
    key = cache_name()
    if key in _SESSION:
        return _SESSION[key], "already loaded in this session"
    for cache in search_path(root):
        records = _read(cache.path / CACHE_FOLDER / key)
        if records is not None:
            _SESSION[key] = records
            return records, f"read from {cache.name} ({cache.path / CACHE_FOLDER / key})"
    start = time.perf_counter()
    records = build()
    seconds = time.perf_counter() - start
    cache = _write(records, root)
    saved = f"saved in {cache.name} ({cache.path / CACHE_FOLDER / key})" if cache else "no writable cache to save it in"
    _SESSION[key] = records
    return records, f"built from this Python's documentation in {seconds:.1f} s, {saved}"
