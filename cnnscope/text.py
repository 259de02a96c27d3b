"""Text from a spec or a user's file, made safe to show: written out, never obeyed.

A spec is untrusted input. Its text reaches terminals (where ``ESC [ 2 J`` clears the screen),
line-based formats (where a newline starts a new record), XML (which cannot hold most control
characters at all) and Markdown tables (where ``|`` starts a column). :func:`visible` writes
every character that any of them would act on as a Python-style escape (``\\x1b``, ``\\n``,
``\\u2028``), so the reader sees what the text holds and nothing acts on it.
"""

from __future__ import annotations


def visible(text: str) -> str:
    """``text`` with its non-printable characters (controls, line and paragraph separators,
    format characters, surrogates, non-characters) written as escapes; printable text unchanged."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
