"""The process around the commands: exit codes, signals and standard streams, whatever happens.

The typer-free path (:mod:`cnnscope.cli.fast`) answers first; what it does not serve goes to the typer app.

- An option error is one line on stderr (exit 2), as every other error, not click's panel.
- SIGTERM interrupts like Ctrl-C (temporary files go), exit 143; Ctrl-C exits 130, in whatever phase it comes:
  an interrupt that a library swallowed, or that came once the command was done (in the exit handlers of
  torch and others), still decides the code.
- A closed pipe (``cnnscope inspect x | head -1``) prints nothing more and exits 141, as ``yes | head`` does.
- Output that cannot be written (``> /dev/full``) is one line on stderr, exit 2.
- Out of memory, too deep a recursion or an OS error that slipped past the checks: one line, exit 2.
- Anything else is a bug: one line that says so (``CNNSCOPE_DEBUG=1`` shows the traceback), exit 3.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys

from cnnscope import files

BROKEN_PIPE = 128 + 13  # killed by SIGPIPE, the shell's code for a closed pipe
TERMINATED = 128 + 15  # SIGTERM
INTERRUPTED = 130  # SIGINT
INTERNAL = 3


def _say(message: str) -> None:
    try:
        sys.stderr.write(message.replace("\n", " ") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _finish(code: int) -> int:
    """Flush stdout now, while its errors can still be reported."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        _silence_stdout()
        _say(f"error: cannot write the output: {os.strerror(exc.errno) if exc.errno else exc}")
        return max(code, 2)
    return code


def run(args: list[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises)."""
    from cnnscope.cli.fast import serve

    files.handle_sigterm()
    try:
        code = serve(sys.argv[1:] if args is None else args)
        if code is None:  # not a form the typer-free path serves
            code = _run_typer(args)
    except KeyboardInterrupt:
        code = INTERRUPTED
    except SystemExit as exc:  # typer and rich answer a broken pipe with exit 1 (after pacifying stdout)
        if type(sys.stdout).__name__ == "PacifyFlushWrapper" or _caused_by(exc, BrokenPipeError):
            _silence_stdout()
            return BROKEN_PIPE
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except MemoryError:
        _say("error: out of memory (a smaller --input or model?)")
        code = 2
    except RecursionError:
        _say("error: nested too deeply to handle")
        code = 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or type(exc).__name__
        if exc.errno in (errno.ENOSPC, errno.EIO) and not exc.filename:
            reason = f"cannot write the output: {reason}"
        _say(f"error: {where}{reason}")
        code = 2
    except Exception as exc:
        if os.environ.get("CNNSCOPE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _say(
            f"internal error: {type(exc).__name__}{': ' + first[:200] if first else ''}"
            " (a bug: please report it; CNNSCOPE_DEBUG=1 shows the traceback)"
        )
        code = INTERNAL
    return _signalled(_finish(code))


def _signalled(code: int) -> int:
    """The code of a signal that arrived, wherever it was caught (or swallowed); else ``code``."""
    if files.terminated():
        return TERMINATED
    if files.interrupted():
        return INTERRUPTED
    return code


def _run_typer(args: list[str] | None) -> int:
    """The typer app, its usage and click errors made one line each (importing typer: some 40 ms)."""
    import typer

    from cnnscope.cli import typer_app

    # click's exceptions, found through typer (which vendors click since 0.24, and imported it before)
    click_errors = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    usage_error: type[Exception] = click_errors["UsageError"]
    click_exception: type[Exception] = click_errors["ClickException"]
    try:
        code = typer_app()(args=args, standalone_mode=False, prog_name="cnnscope")
        return code if isinstance(code, int) else 0
    except usage_error as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `cnnscope`: the help, as always
            with contextlib.suppress(OSError):
                typer.echo(context.get_help() if context else str(exc))
            return 2  # as click does: no command is a usage error
        command = context.command_path if context else "cnnscope"
        _say(f"error: {_message(exc)} (see {command} --help)")
        return 2
    except click_exception as exc:
        _say(f"error: {_message(exc)}")
        return int(getattr(exc, "exit_code", 2))
    except typer.Abort:
        return INTERRUPTED


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message() if callable(format_message) else exc)


_decided: list[int] = []


def _exit_as_signalled() -> None:
    """Registered before any library's exit handler, so run after all of them: where a signal came (also once
    the command's code was decided, in torch's exit handlers, say), exit with the signal's code at once. (The
    interpreter would end a run whose Ctrl-C came during an ``exec`` of a string, as dataclasses do, by
    killing itself with SIGINT, whatever the code.)"""
    if not _decided or not (files.interrupted() or files.terminated()):
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_signalled(_decided[0]))


def main() -> None:
    atexit.register(_exit_as_signalled)
    try:
        code = run()
        files.remember_signals()
    except KeyboardInterrupt:  # a second Ctrl-C, during the clean-up of the first
        files.remember_signals()
        code = _signalled(INTERRUPTED)
    _decided.append(code)
    sys.exit(code)
