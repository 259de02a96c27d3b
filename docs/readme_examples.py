"""README's command examples, regenerated from the commands themselves so that they cannot drift.

A fenced block of README.md that starts with ``$ cnnscope COMMAND ...`` for a static command
(inspect, compare, list, types, check) and holds that one command is an example: its text is the
command line and then exactly what the command prints, at COLUMNS=100, run from a folder outside
the checkout, as an installed cnnscope prints it (a zoo spec is ``zoo:alexnet``, not ``specs/alexnet.toml``).
Blocks of other commands (import, run, train: they need torch, files or minutes) are left alone.

    python docs/readme_examples.py           # exit 1 and a diff when an example has drifted
    python docs/readme_examples.py --write   # rewrite them in place
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STATIC = ("inspect", "compare", "list", "types", "check")
BLOCK = re.compile(r"^```\n(\$ cnnscope (\w+)[^\n]*)\n(.*?)^```$", re.S | re.M)


def output_of(command_line: str) -> str:
    argv = shlex.split(command_line.removeprefix("$ cnnscope "), comments=True)
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])  # this checkout's code
    env.pop("FORCE_COLOR", None)
    with tempfile.TemporaryDirectory() as elsewhere:
        result = subprocess.run(
            [sys.executable, "-m", "cnnscope", *argv],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=env,
            check=False,
        )
    return result.stdout


def regenerated(text: str) -> str:
    """README text with every example block replaced by its command's current output."""

    def fill(match: re.Match[str]) -> str:
        command_line, command, body = match.group(1), match.group(2), match.group(3)
        if command not in STATIC or "\n$ " in "\n" + body:
            return match.group(0)
        return f"```\n{command_line}\n{output_of(command_line)}```"

    return BLOCK.sub(fill, text)


def main() -> int:
    text = README.read_text(encoding="utf-8")
    fresh = regenerated(text)
    if "--write" in sys.argv[1:]:
        README.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != text:
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), "README.md", "now"))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
