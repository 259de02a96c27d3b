"""Files in and out, safely: the one place where cnnscope reads a user's file or writes one.

Writes are whole or nothing: a temporary file (or folder) beside the destination, then a
rename, with the permissions the umask gives a new file. A folder that is replaced goes
whole, and its old content comes back when anything fails. SIGTERM (what ``timeout`` and
CI send) interrupts like Ctrl-C, so the same clean-up runs. Reads accept regular files
only, under a size cap per kind, so that ``/dev/zero`` or a FIFO never hangs a command.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from cnnscope.errors import CnnscopeError

MB = 1 << 20
# Size caps per kind of file read: far above any real one, far below what would exhaust memory.
LIMITS = {
    "a spec": 4 * MB,  # a spec of 4 MB already lists more layers than MAX_NODES allows
    "a labels file": 16 * MB,
    "a matrix": 1 * MB,
    "an image": 256 * MB,
    "a checkpoint": 16 * 1024 * MB,
    "an ONNX model": 2048 * MB - 1,  # protobuf's own limit: larger models keep their tensors in external data
    "ONNX external data": 16 * 1024 * MB,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that every ``finally`` cleans up as on Ctrl-C."""


_signalled: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _signalled.append(signum)  # remembered: an interrupt swallowed on its way (a finaliser, a library) still counts
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _remember(signum: int, frame: FrameType | None) -> None:
    _signalled.append(signum)


def remember_signals() -> None:
    """Once a command is done, nothing is left to interrupt: SIGINT and SIGTERM are only remembered (for the
    exit code), not raised in the exit handlers of libraries, which would print them as ignored exceptions."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, _remember)


def terminated() -> bool:
    """Whether SIGTERM arrived (the CLI then exits 143, not Ctrl-C's 130)."""
    return signal.SIGTERM in _signalled


def interrupted() -> bool:
    """Whether SIGINT (Ctrl-C) arrived at any point, whatever caught it since."""
    return signal.SIGINT in _signalled


def handle_sigterm() -> None:
    """Make SIGTERM interrupt like SIGINT, and remember both (the CLI calls this at the start of a command)."""
    _signalled.clear()
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored (nohup)
        signal.signal(signal.SIGINT, _on_signal)
    if sys.unraisablehook is not _quiet_interrupts:
        _printed_unraisable.append(sys.unraisablehook)
        sys.unraisablehook = _quiet_interrupts


_printed_unraisable: list[Callable[[Any], object]] = []  # the hook in force before ours


def _quiet_interrupts(unraisable: Any) -> None:
    """An interrupt raised where Python cannot pass it on (a weakref callback of importlib, a finaliser) is
    remembered already, and the exit code says it: it is not printed as an ignored exception with a traceback."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _signalled:
        return
    _printed_unraisable[-1](unraisable)


def _why(exc: OSError) -> str:
    reasons = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only filesystem",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENAMETOOLONG: "file name too long",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.EISDIR: "is a directory",
    }
    return reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)


def os_error(exc: OSError, path: str | Path, doing: str = "cannot write") -> CnnscopeError:
    """One clear line for an OSError on ``path``."""
    return CnnscopeError(f"{doing}: {_why(exc)}", path=str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_destination(path: Path) -> None:
    """Refuse to replace anything but a regular file: a link (whose target a rename would not
    touch, but which the user meant), a FIFO, a device (``/dev/stdout``), a socket, a folder."""
    if not str(path) or str(path) in (".", ".."):
        raise CnnscopeError("an empty or special path is not a file to write", path=str(path))
    if path.is_symlink():
        raise CnnscopeError("is a symbolic link: refusing to replace it", path=str(path), hint="write to a new name")
    if path.is_dir():
        raise CnnscopeError("is a directory", path=str(path))
    if path.exists() and not path.is_file():
        raise CnnscopeError(
            "is not a regular file (a pipe, a device or a socket): refusing to replace it",
            path=str(path),
            hint="write to a new file name",
        )
    if not path.parent.is_dir():
        raise CnnscopeError("the folder does not exist", path=str(path))


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it becomes ``path`` only if the block succeeds.

    For writers that want a file name (torch.save, Pillow, numpy). Any failure, Ctrl-C or
    SIGTERM included, removes the temporary file and leaves ``path`` as it was.
    """
    import tempfile  # here, not at the top: the CLI imports this module on every start (2 ms)

    path = Path(path)
    _check_destination(path)
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=".part")
    except OSError as exc:
        raise os_error(exc, path) from None
    os.close(handle)
    temporary = Path(name)
    try:
        try:
            yield temporary
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
            os.replace(temporary, path)
        except OSError as exc:
            raise os_error(exc, path) from None
    finally:
        if temporary.exists():
            temporary.unlink()


@contextmanager
def files_in_folder(folder: str | Path, names: Iterable[str]) -> Iterator[dict[str, Path]]:
    """Temporary paths for the files ``names`` in ``folder``: they become those files together when the
    block succeeds. On any failure (a full disk, Ctrl-C) none of them is written, and the folders made
    here for them go again; other files in ``folder`` are left as they are."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CnnscopeError("exists and is not a folder", path=str(folder), hint="--save takes a folder")
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # innermost first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, folder) from None
    try:
        with ExitStack() as stack:  # each temporary becomes its file as the stack unwinds, after the block
            temporaries = {name: stack.enter_context(atomic_path(folder / name)) for name in names}
            try:
                yield temporaries
            except OSError as exc:  # named by the file that failed (the folder where the writer does not say)
                failed = [name for name, path in temporaries.items() if exc.filename and Path(exc.filename) == path]
                raise os_error(exc, folder / failed[0] if failed else folder) from None
    except BaseException:
        for path in made:
            try:
                path.rmdir()
            except OSError:
                break
        raise


def disk_full(path: str | Path, slack: int = 64 * 1024) -> bool:
    """Whether the filesystem holding ``path`` has (almost) no space left. Some writers report a short
    write in their own words (torch: "[enforce fail at inline_container.cc] unexpected pos"): after such a
    failure, a full disk is what it means."""
    try:
        info = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < slack


def write_bytes_atomically(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all, with the permissions the umask gives a new file."""
    return write_bytes_atomically(path, text.encode("utf-8"))


@contextmanager
def replaced_folder(destination: str | Path, earlier_output: Callable[[Path], bool]) -> Iterator[Path]:
    """A staging folder that replaces ``destination`` whole when the block succeeds.

    ``destination`` may be missing, empty, or a folder that ``earlier_output`` recognises as
    this command's own: a folder of the user's is never deleted. On any failure the staging
    folder goes and the old folder stays (or comes back) intact.
    """
    import shutil
    import tempfile

    destination = Path(destination)
    where = str(destination)
    if not where or where in (".", ".."):
        raise CnnscopeError("an empty or special path is not a folder to write", path=where)
    if destination.exists() or destination.is_symlink():
        if not destination.is_dir() or destination.is_symlink():
            raise CnnscopeError("exists and is not a folder", path=where)
        try:
            empty = not any(destination.iterdir())
        except OSError as exc:
            raise os_error(exc, destination, "cannot read the folder") from None
        if not empty and not earlier_output(destination):
            raise CnnscopeError(
                "the folder holds other files: refusing to replace it",
                path=where,
                hint="give a new or empty folder, or one this command wrote before",
            )
    parent = destination.absolute().parent
    if not parent.is_dir():
        raise CnnscopeError("the parent folder does not exist", path=where)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{destination.name[:200]}.", dir=parent))
    except OSError as exc:
        raise os_error(exc, destination) from None
    aside: Path | None = None
    try:
        try:
            yield staging
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700 whatever the umask
            if destination.exists():
                aside = Path(tempfile.mkdtemp(prefix=f".{destination.name[:200]}.old.", dir=parent))
            try:
                if aside is not None:
                    os.replace(destination, aside)  # onto the empty folder just made
                os.replace(staging, destination)
            except BaseException:  # Ctrl-C and SIGTERM too: the old folder goes back where it was
                if aside is not None and not os.path.lexists(destination):
                    os.replace(aside, destination)
                    aside = None
                raise
        except OSError as exc:
            raise os_error(exc, destination) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def regular_file(path: str | Path, what: str, error: type[CnnscopeError] = CnnscopeError) -> Path:
    """``path`` if it is a readable regular file under the cap for ``what`` (a key of LIMITS); else ``error``.

    Checked with stat, which never blocks: a FIFO, a device (``/dev/zero``) or a folder is refused
    before anything opens it.
    """
    path = Path(path)
    where = str(path)
    noun = what.removeprefix("a ").removeprefix("an ").removesuffix(" file")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"no such {noun} file", path=where) from None
    except OSError as exc:
        raise error(f"cannot read: {_why(exc)}", path=where) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"is a directory, not {what}", path=where)
    if not stat.S_ISREG(info.st_mode):
        raise error(f"not a regular file (a pipe or a device?), so not {what}", path=where)
    limit = LIMITS.get(what, 16 * MB)
    if info.st_size > limit:
        raise error(f"{info.st_size:,} bytes is more than the {limit:,} allowed for {what}", path=where)
    if not os.access(path, os.R_OK):
        raise error("cannot read: permission denied", path=where)
    return path


def read_text(path: str | Path, what: str, error: type[CnnscopeError] = CnnscopeError) -> str:
    """The UTF-8 text of a regular file (see :func:`regular_file`)."""
    path = regular_file(path, what, error)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"not UTF-8 text, so not {what}", path=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {_why(exc)}", path=str(path)) from None
