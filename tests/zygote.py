"""``python -m cnnscope`` as a fresh process, without paying torch's import (~3 s) every time.

A server process imports torch (and nothing of the test run's state: no pytest, no captured streams,
no torch thread pool started) once; each command is a ``fork`` of it that then runs exactly what
``python -m cnnscope ARGS`` runs, in its own working folder, environment, umask and memory limit,
with stdin from /dev/null and stdout/stderr into files. Exit codes, "nothing half-written" and
one-line errors are then observed on a real process, as with ``subprocess.run``; tests of signals
and closed streams start their own processes.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# The server: a loop that forks one child per request line and answers with its exit code.
_SERVER = r"""
import json, os, resource, runpy, signal, sys, time
import torch  # the point of the server: imported once, before any fork
import cnnscope.runtime.build  # and cnnscope's torch side with it

def child(request):
    os.setsid()
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY),
                            (2, request["stderr"], os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(0o022)
    limit = request["memory"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = ["cnnscope", *request["args"]]
    runpy.run_module("cnnscope", run_name="__main__", alter_sys=True)

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            child(request)
        except SystemExit as exc:
            code = exc.code
            import atexit
            atexit._run_exitfuncs()  # as the interpreter does at exit (cnnscope's signal handling is one)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(99)
        os._exit(0)
    deadline = time.monotonic() + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = "timeout"
            break
        time.sleep(0.005)
    print(json.dumps(code), flush=True)
"""


class Zygote:
    """One server per test process (started on first use, ended at exit)."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment,
        )
        atexit.register(self.close)

    def run(
        self, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float, memory: int
    ) -> subprocess.CompletedProcess:
        assert self.process.stdin is not None and self.process.stdout is not None
        with tempfile.TemporaryDirectory() as folder:
            out, err = Path(folder, "stdout"), Path(folder, "stderr")
            out.touch()
            err.touch()
            request = {
                "args": args,
                "cwd": str(cwd),
                "env": env,
                "timeout": timeout,
                "memory": memory,
                "stdout": str(out),
                "stderr": str(err),
            }
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            code = json.loads(self.process.stdout.readline())
            if code == "timeout":
                raise subprocess.TimeoutExpired(["cnnscope", *args], timeout)
            return subprocess.CompletedProcess(
                ["cnnscope", *args],
                code,
                out.read_text(encoding="utf-8", errors="replace"),
                err.read_text(encoding="utf-8", errors="replace"),
            )

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)


_server: Zygote | None = None


def cnnscope_process(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float, memory: int
) -> subprocess.CompletedProcess:
    """``python -m cnnscope ARGS`` in ``cwd`` with exactly ``env``, through the shared server."""
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = Zygote(env)
    return _server.run(args, cwd=cwd, env=env, timeout=timeout, memory=memory)
