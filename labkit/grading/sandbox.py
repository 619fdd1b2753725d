"""Each submission's kernel in a sandbox: bubblewrap, an unprivileged user and resource limits.

Only the kernel runs inside; nbgrader, the gradebook and everything else that grades stays outside,
so the hidden tests, the instructor's notebooks and the reference answers are never in the
sandbox's view. The kernel talks to its client over Unix sockets in a folder bound into the
sandbox (``transport = "ipc"``), which works without a network, where TCP on 127.0.0.1 would need
the host's loopback. Inside:

- the filesystem is read-only and shows only what Python needs (the system's /usr, /etc and
  libraries, the interpreter, the virtual environment, labkit's own source, the data caches);
  the instructor's repository, home, the course and every other submission are not there at all;
- the submission's notebook folder is the one writable place, with a private /tmp in memory;
- no network: a network namespace of its own (its loopback reaches nothing on the host);
- its own PID namespace (it sees no other process; everything in it dies with the worker);
- an unprivileged user id (root, which ignores RLIMIT_NPROC, is dropped), and rlimits on data
  memory, processes, file size and CPU time, applied before the kernel starts.

``probe()`` says whether bubblewrap works here; ``grade(sandbox="auto" | "require" | "off")`` uses it.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

MODES = ("auto", "require", "off")
GiB, MiB = 2 ** 30, 2 ** 20
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
                "bubblewrap; `make install` does it where it can) on a Linux machine that allows user "
                "namespaces")
UNISOLATED = ("grading is NOT isolated: submissions run with your permissions (they can read your files, "
              "use the network and exhaust the machine). {reason}. To isolate them, {hint}, or grade "
              "in a Linux virtual machine that has it.")
# Unprivileged uids the kernels of a root grader run as (one per worker process, from its pid).
UID_BASE = 1_000_000


class SandboxUnavailable(RuntimeError):
    """``sandbox="require"`` was asked for and bubblewrap cannot run here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What one kernel may use. Memory is RLIMIT_DATA (RLIMIT_AS would stop a CUDA build of torch
    from even importing: it reserves far more address space than it uses); processes counts threads."""

    memory_bytes: int
    processes: int = 256
    file_bytes: int = 256 * MiB
    cpu_seconds: int = 3600
    tmp_bytes: int = 512 * MiB

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive whole number, got {value!r}")

    def describe(self) -> str:
        return (f"memory {self.memory_bytes / GiB:.1f} GiB, {self.processes} processes, files up to "
                f"{self.file_bytes / MiB:.0f} MiB, {self.cpu_seconds} s of CPU, /tmp {self.tmp_bytes / MiB:.0f} MiB")


def default_limits(jobs: int = 1, cpu_seconds: int = 3600) -> Limits:
    """Limits for ``jobs`` kernels at a time: each may use 3/4 of the memory divided among them (1 GiB at least)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Limits(memory_bytes=max(GiB, int(0.75 * total / max(1, jobs))), cpu_seconds=cpu_seconds)


@lru_cache(maxsize=None)
def probe() -> tuple[bool, str]:
    """(works, detail): whether bubblewrap can run a command here with no network and its own PIDs.

    ``detail`` names the bubblewrap version when it works, and the reason when it does not.
    """
    if sys.platform != "linux":
        return False, f"bubblewrap needs Linux and this is {platform.system()}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    command = [bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent"]
    if os.geteuid() != 0:
        command.append("--unshare-user")
    try:
        done = subprocess.run(command + ["true"], capture_output=True, text=True, timeout=30)
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bubblewrap could not start: {err}"
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        return False, f"bubblewrap is installed but cannot create a sandbox here ({why})"
    return True, version.strip() or "bubblewrap"


def resolve(mode: str, echo=print) -> bool:
    """Whether to sandbox under ``mode`` ("auto", "require" or "off"); says so once where it cannot.

    Raises SandboxUnavailable for "require" where bubblewrap does not work.
    """
    if mode not in MODES:
        raise ValueError(f"sandbox must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        echo("sandbox off: submissions run unisolated, with your permissions")
        return False
    works, detail = probe()
    if works:
        return True
    if mode == "require":
        raise SandboxUnavailable(f"--sandbox require: {detail}; {INSTALL_HINT}")
    echo(UNISOLATED.format(reason=detail, hint=INSTALL_HINT))
    return False


def _contains(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def readable_paths(secret: Iterable[str | os.PathLike], private: Iterable[str | os.PathLike],
                   env: Mapping[str, str]) -> list[str]:
    """The folders a kernel must read: the interpreter and its environment, labkit's source (an
    editable install), folders named in ``.pth`` files and $PYTHONPATH, and the data caches of
    $LABKIT_DATA_DIR.

    None of them is, holds or lies inside a ``secret`` folder (the labs, the course, the
    submissions, the grading output), and none is or holds a ``private`` one (your home, the
    repository you grade from, the temporary folder where every submission is graded), whose
    subfolders are fine: a virtual environment inside the repository, Python inside your home.
    """
    import labkit

    secret = [Path(os.path.realpath(p)) for p in secret]
    private = [Path(os.path.realpath(p)) for p in private]
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  str(Path(labkit.__file__).parent)}
    for site in _site_packages():
        for pth in site.glob("*.pth"):
            for line in pth.read_text(errors="replace").splitlines():
                if line.startswith("/"):
                    candidates.add(line.strip())
        candidates.update(_editable_sources(site))
    for variable in ("PYTHONPATH", "LABKIT_DATA_DIR"):
        candidates.update(p for p in env.get(variable, "").split(os.pathsep) if p)
    chosen = []
    for candidate in sorted(candidates):
        path = Path(os.path.realpath(candidate))
        if path.is_dir() and not any(_contains(path, s) or _contains(s, path) for s in secret) \
                and not any(_contains(path, p) for p in private):
            chosen.append(str(path))
    return [p for p in chosen if not any(_contains(Path(q), Path(p)) and q != p for q in chosen)]


def _editable_sources(site: Path) -> set[str]:
    """The source folders of editable installs (setuptools' ``__editable___*_finder.py`` MAPPING):
    where the kernel imports labkit from, whichever checkout the grader itself was started in."""
    import ast

    found = set()
    for finder in site.glob("__editable___*_finder.py"):
        for node in ast.parse(finder.read_text(errors="replace")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else \
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(target, ast.Name) and target.id == "MAPPING" and node.value is not None:
                try:
                    found.update(str(path) for path in ast.literal_eval(node.value).values())
                except ValueError:
                    pass
    return found


def _site_packages() -> list[Path]:
    import site

    return [Path(p) for p in site.getsitepackages() if Path(p).is_dir()]


# The few lines that run inside the sandbox before the kernel: the rlimits, then (for a root grader)
# an unprivileged uid, then exec. Python -I -S: nothing from the environment or site-packages.
LAUNCHER = """\
import json, os, resource, sys
settings = json.loads(sys.argv[1])
for name, value in settings["rlimits"]:
    resource.setrlimit(getattr(resource, name), tuple(value))
if settings["uid"] is not None:
    os.setgroups([])
    os.setgid(settings["uid"])
    os.setuid(settings["uid"])
os.execv(sys.argv[2], sys.argv[2:])
"""


def rlimits(limits: Limits) -> list[tuple[str, tuple[int, int]]]:
    """(name, (soft, hard)) for resource.setrlimit; CPU gets 5 s of grace between SIGXCPU and SIGKILL."""
    return [("RLIMIT_DATA", (limits.memory_bytes,) * 2), ("RLIMIT_NPROC", (limits.processes,) * 2),
            ("RLIMIT_FSIZE", (limits.file_bytes,) * 2),
            ("RLIMIT_CPU", (limits.cpu_seconds, limits.cpu_seconds + 5))]


SYSTEM = ("/usr", "/etc", "/sys", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _system_binds() -> list[str]:
    args = []
    for folder in SYSTEM:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    return args


def command(kernel_cmd: list[str], *, cwd: str, sockets: str, readable: list[str], limits: Limits,
            uid: int | None) -> list[str]:
    """The bubblewrap command line that runs ``kernel_cmd`` in the sandbox (see the module doc).

    ``cwd`` (the notebook's folder) and ``sockets`` (the kernel's connection file and Unix sockets)
    are the writable binds; ``uid`` is the unprivileged user a root grader's kernel becomes.
    """
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp", "--chmod", "1777", "/tmp",
            "--perms", "1777", "--dir", "/tmp/home"]
    # bubblewrap makes the folders above a mount point private (0700): open them, or the kernel's
    # unprivileged user could not reach /root/.pyenv/... and the like
    targets = [*readable, cwd, sockets]
    above = {a for t in targets for a in Path(t).parents if not any(_contains(Path(s), a) for s in SYSTEM)}
    for folder in sorted(above - {Path("/"), Path("/tmp")}, key=lambda a: len(a.parts)):
        args += ["--perms", "0755", "--dir", str(folder)]
    for path in readable:
        args += ["--ro-bind", path, path]
    args += ["--bind", cwd, cwd, "--bind", sockets, sockets, "--remount-ro", "/", "--chdir", cwd,
             "--setenv", "HOME", "/tmp/home", "--setenv", "TMPDIR", "/tmp",
             "--unsetenv", "JPY_PARENT_PID", "--unsetenv", "LABKIT_OUTPUT_DIR"]
    if uid is None:
        args.append("--unshare-user")
    else:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    settings = json.dumps({"rlimits": rlimits(limits), "uid": uid})
    return args + ["--", sys.executable, "-I", "-S", "-c", LAUNCHER, settings, *kernel_cmd]


def sandbox_uid() -> int | None:
    """The unprivileged uid for this worker's kernels when grading as root (None otherwise)."""
    return UID_BASE + os.getpid() % UID_BASE if os.geteuid() == 0 else None


def death_note(returncode: int | None, limits: Limits | None) -> str | None:
    """Which limit killed a sandboxed kernel, read from bubblewrap's exit status (128 + signal).

    Only SIGXCPU and SIGXFSZ name a limit for certain; any other death is reported as a crash.
    """
    if returncode is None or limits is None or returncode <= 128:
        return None
    signum = returncode - 128
    if signum == signal.SIGXCPU:
        return f"used up its CPU-time limit ({limits.cpu_seconds} s)"
    if signum == signal.SIGXFSZ:
        return f"wrote a file larger than the limit ({limits.file_bytes / MiB:.0f} MiB)"
    return None   # SIGKILL and the rest: a crash, or the student's own doing; not a limit we can name


def limit_note(ename: str, evalue: str, limits: Limits) -> str | None:
    """The limit an error output shows was reached (None when it shows none)."""
    text = f"{ename}: {evalue}"
    if ename == "MemoryError" or "can't allocate memory" in text or "Cannot allocate memory" in text:
        return f"ran out of its memory limit ({limits.memory_bytes / GiB:.1f} GiB)"
    if "File too large" in text:
        return f"wrote a file larger than the limit ({limits.file_bytes / MiB:.0f} MiB)"
    if "Resource temporarily unavailable" in text or "can't start new thread" in text:
        return f"started more processes or threads than the limit ({limits.processes})"
    if "Read-only file system" in text:
        return "tried to write outside its folder, which is read-only while grading"
    if "Network is unreachable" in text or "Connection refused" in text \
            or "Temporary failure in name resolution" in text:
        return "tried to use the network, which is cut off while grading"
    return None


def private_sockets_folder(uid: int | None) -> str:
    """A fresh folder for the kernel's Unix sockets, in the worker's temporary folder (removed with
    it) unless that path is too long for a socket's (about 100 bytes), then in /tmp."""
    base = tempfile.gettempdir()
    folder = tempfile.mkdtemp(prefix="lk-", dir=base if len(base) < 60 else "/tmp")
    if uid is not None:
        os.chown(folder, uid, uid)
    return folder


def kernel_manager_class():
    """SandboxedKernelManager, defined on first use (jupyter_client is a grading dependency)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Dict, default

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts its kernel inside the sandbox described by ``sandbox`` (Config: readable, limits)."""

        sandbox = Dict(config=True, help="readable: [folders]; limits: Limits as a dict")

        @default("transport")
        def _sandbox_transport(self) -> str:
            return "ipc"

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self._uid = sandbox_uid()
            self._sockets = private_sockets_folder(self._uid)
            self.ip = os.path.join(self._sockets, "k")
            self.connection_file = os.path.join(self._sockets, "connection.json")

        @property
        def kernel_spec(self):
            # Interrupts as messages: a SIGINT to the process group would stop bubblewrap itself.
            spec = super().kernel_spec
            if spec is not None:
                spec.interrupt_mode = "message"
            return spec

        @property
        def limits(self) -> Limits:
            return Limits(**self.sandbox["limits"])

        def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
            kernel_cmd = super().format_kernel_cmd(extra_arguments)
            cwd = os.path.realpath(self._launch_args.get("cwd") or os.getcwd())
            if self._uid is not None:
                os.chown(cwd, self._uid, self._uid)
                os.chown(self.connection_file, self._uid, self._uid)
            return command(kernel_cmd, cwd=cwd, sockets=self._sockets, readable=list(self.sandbox["readable"]),
                           limits=self.limits, uid=self._uid)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._sockets, ignore_errors=True)

    return SandboxedKernelManager
