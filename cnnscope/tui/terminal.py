"""Ask the terminal what it can draw, before the app starts, without losing a key typed meanwhile.

textual-image asks by itself when it is imported: one query at a time, reading stdin a byte at a
time with 0.1 s timeouts. Keys typed then are eaten, and an answer that comes late lands in the
app as text (typing ``net5`` at once left ``t5[?1;2c`` in the search box). Here all the queries
go out together, followed by a DA1 query that every terminal answers, and stdin is read until
that answer: whatever was read that is not an answer is the user's typing, which the app
replays once it runs. textual-image is then imported with its own probe switched off.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from textual_image.widget import AutoImage, SixelImage, TGPImage

    GraphicsWidget: TypeAlias = type[AutoImage | SixelImage | TGPImage]

KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"  # the Kitty graphics protocol: answers OK if spoken
CELL_QUERY = "\x1b[16t"  # the size of a cell in pixels
DA1_QUERY = "\x1b[c"  # device attributes: every terminal answers; "4" among them means Sixel
KITTY_REPLY = re.compile(r"\x1b_G([^\x1b]*)\x1b\\")
CELL_REPLY = re.compile(r"\x1b\[6;(\d+);(\d+)t")
DA1_REPLY = re.compile(r"\x1b\[\?([\d;]*)c")


@dataclass(frozen=True)
class Terminal:
    protocol: str | None  # "kitty", "sixel", or None: half blocks
    cell: tuple[int, int] | None  # (width, height) of a cell in pixels, where the terminal said
    typed: str  # what the user typed while the terminal was asked


NOT_A_TERMINAL = Terminal(None, None, "")


def parse_replies(data: str) -> Terminal:
    """The answers found in ``data``, and the rest of it as typing."""
    kitty = KITTY_REPLY.search(data)
    da1 = DA1_REPLY.search(data)
    cell = CELL_REPLY.search(data)
    if kitty and kitty.group(1).endswith(";OK"):
        protocol: str | None = "kitty"
    elif da1 and "4" in da1.group(1).split(";"):
        protocol = "sixel"
    else:
        protocol = None
    typed = DA1_REPLY.sub("", CELL_REPLY.sub("", KITTY_REPLY.sub("", data)))
    return Terminal(protocol, (int(cell.group(2)), int(cell.group(1))) if cell else None, typed)


def probe(timeout: float = 2.0) -> Terminal:
    """Ask the terminal (only when stdin and stdout are one); ``timeout`` bounds the wait for its answer."""
    stdin, stdout = sys.__stdin__, sys.__stdout__
    if not (stdin and stdout and stdin.isatty() and stdout.isatty()):
        return NOT_A_TERMINAL
    try:
        import termios
        import tty
        from select import select
    except ImportError:  # Windows: half blocks
        return NOT_A_TERMINAL
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    data = b""
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # no echo, no line buffering: the answers arrive as they come
        os.write(stdout.fileno(), (KITTY_QUERY + CELL_QUERY + DA1_QUERY).encode())
        deadline = time.monotonic() + timeout
        while not DA1_REPLY.search(data.decode(errors="replace")):
            left = deadline - time.monotonic()
            if left <= 0 or not select([fd], [], [], left)[0]:
                break
            data += os.read(fd, 4096)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    return parse_replies(data.decode(errors="replace"))


def graphics_widget(terminal: Terminal) -> GraphicsWidget | None:
    """textual-image's widget class for the protocol the terminal speaks, else None (half blocks)."""
    if terminal.protocol is None:
        return None
    stdout = sys.__stdout__
    try:
        import textual_image._terminal as answers

        sys.__stdout__ = None  # type: ignore[misc]  # its import-time probe runs only at a terminal
        try:
            import textual_image.renderable  # noqa: F401  (imported here, without probing)
        finally:
            sys.__stdout__ = stdout  # type: ignore[misc]
        cell = terminal.cell or _cell_from_ioctl() or (10, 20)
        answers.get_cell_size._result = answers.CellSize(*cell)  # type: ignore[attr-defined]  # its cache
        from textual_image import widget
    except Exception:  # an old or changed textual-image: half blocks still work
        return None
    return widget.TGPImage if terminal.protocol == "kitty" else widget.SixelImage


def _cell_from_ioctl() -> tuple[int, int] | None:
    try:
        import fcntl
        import struct
        import termios

        assert sys.__stdout__ is not None
        rows, columns, width, height = struct.unpack("HHHH", fcntl.ioctl(sys.__stdout__, termios.TIOCGWINSZ, b"\0" * 8))
    except Exception:
        return None
    return (width // columns, height // rows) if width and height and rows and columns else None
