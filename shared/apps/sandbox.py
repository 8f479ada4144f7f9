"""Run untrusted code (a model's output) in a sandbox: a child process with a timeout, a fresh temp
dir as its working directory, resource limits, and no network.

    result = run_code("print(1 + 1)", "python")          # Result(passed=True, stdout='2\\n', ...)
    result = run_code("while (true) {}", "javascript")   # timed_out=True after `timeout_s`

The layers, from the outside in (each is measured in `tests/test_sandbox.py`):
- **process**: its own session (process group), killed as a group when the timeout ends;
  `RLIMIT_CPU` also stops it if the parent is gone. stdout/stderr go to files in the temp dir, so
  `RLIMIT_FSIZE` bounds them too (a print loop cannot fill memory).
- **memory**: `RLIMIT_AS` (address space); node also gets a smaller V8 heap (`--max-old-space-size`),
  since V8 reserves about 1 GB of address space before it runs anything.
- **processes**: `RLIMIT_NPROC` leaves room for a few threads only; Python's audit hook refuses
  `subprocess`/`os.system`/`fork`/`exec`, node's permission model refuses `child_process`.
- **network**: `unshare -rn` puts the child in a new user and network namespace (only a down
  loopback: every connect fails), where the kernel allows it without root. Where it does not
  (e.g. Ubuntu 24.04's AppArmor default), the prelude is the only barrier: Python's audit hook
  refuses socket creation and name lookups, node's prelude refuses `net`/`http`/`dns`/... and
  removes `fetch`. The prelude is always installed; `network_isolation()` says which applies.
- **files**: the child's cwd, HOME and TMPDIR are the temp dir. Python's audit hook refuses writes
  (open for writing, remove, rename, mkdir, ...) outside it; node runs under its permission model
  with writes allowed only there. Reading is allowed (the interpreter must read its libraries).

Python runs as `sys.executable -I -B` (isolated: no PYTHON* variables, no user site, no cwd on
sys.path; no .pyc files), JavaScript as `/usr/bin/node`. The environment is minimal: no proxy
variables, no tokens. This stops the accidents that generated code makes (an endless loop, a
huge list, a stray `rm`, a download); it is not a boundary against a determined attacker (a
container or VM is, e.g. gVisor or Firecracker).
"""
import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("python", "javascript")
NODE = "/usr/bin/node"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0       # wall clock; the process group is killed after it
    memory_mb: int = 512         # RLIMIT_AS for python (node gets node_memory_mb)
    node_memory_mb: int = 1536   # RLIMIT_AS for node: V8 reserves ~1 GB up front
    node_heap_mb: int = 256      # V8 old-space limit: the JavaScript memory bomb stops here
    file_mb: int = 16            # RLIMIT_FSIZE: largest file it may write (stdout/stderr included)
    extra_threads: int = 32      # RLIMIT_NPROC headroom above what this user already runs
    output_chars: int = 4000     # stdout/stderr kept (the tail)


@dataclass(frozen=True)
class Result:
    passed: bool        # exit status 0 and not timed out
    returncode: int     # negative: killed by that signal
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float      # wall time

    def error(self, lines: int = 6) -> str:
        """The last lines of stderr (the exception), or why it was stopped: what a model reads to repair its code."""
        if self.timed_out:
            return "Timeout: the program did not finish in time (an infinite loop?)"
        # keep what a reader (or a model) needs: the exception line and a few around it, without
        # node's version banner, stack frames and native frames, or Python's ^^^ markers
        kept = [line for line in self.stderr.splitlines() if line.strip() and not re.match(
            r"\s*(Node\.js v[\d.]+$|\d+: 0x[0-9a-f]+|at |[\^~]+$|----- Native)", line)]
        errors = [i for i, line in enumerate(kept) if re.match(r"\s*([\w.]*(Error|Exception)\b|FATAL ERROR)", line)]
        first = max(0, errors[-1] - min(2, lines - 1)) if errors else max(0, len(kept) - lines)  # 2 lines of context
        tail = "\n".join(kept[first:first + lines])
        return tail or ("" if self.passed else f"exited with status {self.returncode}")


# --- the preludes: installed in the child before the generated code runs -------------------------

PYTHON_PRELUDE = r'''
import os, sys
_root = os.path.realpath(os.getcwd())
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_DENY = ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
         "socket.gethostbyaddr", "socket.sendto", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
         "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.dlopen", "sys.remote_exec")
_PATHS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
          "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.copymode", "shutil.move")

def _inside(path):
    if isinstance(path, int):
        return True  # an already open file descriptor
    path = os.path.realpath(os.fsdecode(path))
    return path == _root or path.startswith(_root + os.sep)

def _hook(event, args):
    if event in _DENY or event.startswith("socket."):
        if event not in ("socket.gethostname", "socket.sethostname"):
            raise PermissionError(f"sandbox: {event} is not allowed (no network, no processes)")
    elif event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE
        if path is not None and writing and not _inside(path):
            raise PermissionError(f"sandbox: writing outside the sandbox directory is not allowed: {path}")
    elif event in _PATHS:
        for path in args[:2]:
            if isinstance(path, (str, bytes, os.PathLike)) and not _inside(path):
                raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed: {path}")

sys.addaudithook(_hook)  # cannot be removed once added (PEP 578)
del _hook
import runpy
runpy.run_path(sys.argv[1], run_name="__main__")
'''

NODE_PRELUDE = r'''
const Module = require("module");
const blocked = new Set(["net", "http", "https", "http2", "dgram", "tls", "dns", "dns/promises", "child_process",
                         "cluster", "worker_threads", "inspector"]);
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const name = String(request).replace(/^node:/, "");
  if (blocked.has(name)) throw new Error(`sandbox: module '${request}' is not allowed (no network, no processes)`);
  return load.apply(this, arguments);
};
for (const name of ["fetch", "WebSocket", "EventSource", "XMLHttpRequest"]) {
  try { delete globalThis[name]; } catch (e) {}
}
if (process.env.SANDBOX_ESM_HOOKS) {  // dynamic import("net") bypasses Module._load: an ESM resolve hook
  const list = JSON.stringify([...blocked]);
  Module.register("data:text/javascript," + encodeURIComponent(`export async function resolve(s, c, next) {
    if (${list}.includes(String(s).replace(/^node:/, ""))) throw new Error("sandbox: module '" + s + "' is not allowed");
    return next(s, c); }`));
}
'''


# --- what this machine allows ------------------------------------------------------------------

@functools.cache
def network_isolation() -> str:
    """"namespace" if `unshare -rn` works here (the kernel gives the child no network at all),
    else "prelude" (only the in-process blocks above). Probed once per process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "prelude"
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "prelude"
    return "namespace" if probe.returncode == 0 else "prelude"


@functools.cache
def _node_permission_flag() -> str:
    """Node >= 22.13 calls its permission model `--permission`; node 20 `--experimental-permission`."""
    probe = subprocess.run([NODE, "--permission", "-e", "0"], capture_output=True, timeout=30, check=False)
    return "--permission" if probe.returncode == 0 else "--experimental-permission"


def _threads_of_this_user() -> int:
    """Processes and threads this uid runs now (what RLIMIT_NPROC counts)."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:  # the process ended meanwhile
                pass
    return count


def _limits_setter(limits: Limits, memory_mb: int):
    cpu = int(limits.timeout_s) + 2
    nproc = _threads_of_this_user() + limits.extra_threads
    size = {resource.RLIMIT_AS: memory_mb << 20, resource.RLIMIT_CPU: cpu, resource.RLIMIT_NPROC: nproc,
            resource.RLIMIT_FSIZE: limits.file_mb << 20, resource.RLIMIT_CORE: 0}

    def preexec():  # runs in the child between fork and exec
        for which, value in size.items():
            resource.setrlimit(which, (value, value))
    return preexec


def _command(language: str, workdir: Path, limits: Limits, network: str) -> tuple[list[str], int]:
    if language == "python":
        (workdir / "main.py").chmod(0o644)
        return [sys.executable, "-I", "-B", "-c", PYTHON_PRELUDE, "main.py"], limits.memory_mb
    if not os.path.exists(NODE):
        raise FileNotFoundError(f"{NODE} not found: JavaScript runs under Node.js; install it (apt-get install nodejs)")
    # without a network namespace the prelude also hooks ESM imports, which run in a loader thread
    worker = ["--allow-worker"] if network == "prelude" else []
    return [NODE, _node_permission_flag(), "--allow-fs-read=*", f"--allow-fs-write={workdir}", *worker, "--no-warnings",
            f"--max-old-space-size={limits.node_heap_mb}", "--require", str(workdir / "prelude.cjs"),
            "main.cjs"], limits.node_memory_mb


DEFAULT_LIMITS = Limits()


def run_code(code: str, language: str, limits: Limits = DEFAULT_LIMITS, files: dict[str, str] | None = None,
             network: str | None = None) -> Result:
    """Run `code` (one program) in a fresh sandbox; `files` are extra files written next to it.
    `network`: "namespace" or "prelude" (see the module's docstring); None picks what this machine allows."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    network = network or network_isolation()
    if network not in ("namespace", "prelude"):
        raise ValueError(f'network must be "namespace" or "prelude", not {network!r}')
    if network == "namespace" and network_isolation() != "namespace":
        raise RuntimeError("unshare -rn does not work here (no unprivileged user namespaces); use network='prelude'")
    with tempfile.TemporaryDirectory(prefix="sandbox-") as tmp:
        workdir = Path(tmp).resolve()
        (workdir / ("main.py" if language == "python" else "main.cjs")).write_text(code)
        if language == "javascript":
            (workdir / "prelude.cjs").write_text(NODE_PRELUDE)
        for name, text in (files or {}).items():
            (workdir / name).write_text(text)
        command, memory_mb = _command(language, workdir, limits, network)
        if network == "namespace":
            command = ["unshare", "-rn", *command]  # unshare execs the command: same pid, same group
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8"}
        if network == "prelude":
            env["SANDBOX_ESM_HOOKS"] = "1"
        start = time.perf_counter()
        with open(workdir / ".stdout", "wb") as out, open(workdir / ".stderr", "wb") as err:
            process = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err, preexec_fn=_limits_setter(limits, memory_mb),  # noqa: PLW1509  (only setrlimit, async-signal-safe enough)
                                       start_new_session=True)
            try:
                process.wait(timeout=limits.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # the whole group: anything it started dies too
                except ProcessLookupError:
                    pass
                process.wait()
        seconds = time.perf_counter() - start

        def tail(name):
            with open(workdir / name, "rb") as f:
                f.seek(max(0, os.path.getsize(workdir / name) - limits.output_chars))
                text = f.read().decode("utf-8", "replace")
            return text.replace(str(workdir) + os.sep, "")  # the same message whatever the temp dir's name
        code_ = process.returncode
        return Result(passed=code_ == 0 and not timed_out, returncode=code_, stdout=tail(".stdout"),
                      stderr=tail(".stderr"), timed_out=timed_out, seconds=seconds)
