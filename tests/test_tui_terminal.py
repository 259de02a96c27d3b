"""The TUI in a real terminal (tmux): what a user typing at once sees, not what a test harness sees."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cnnscope.tui.terminal import parse_replies

ROOT = Path(__file__).resolve().parent.parent


def test_answers_are_taken_out_and_typing_is_kept():
    """What the probe reads mixes the terminal's answers with keys typed meanwhile."""
    read = "ne\x1b_Gi=31;EINVAL:unsupported\x1b\\t\x1b[6;17;8t5\x1b[?62;4;22c"
    terminal = parse_replies(read)
    assert terminal.typed == "net5" and terminal.protocol == "sixel" and terminal.cell == (8, 17)
    assert parse_replies("\x1b_Gi=31;OK\x1b\\\x1b[?1;2c").protocol == "kitty"
    assert parse_replies("\x1b[?1;2c").protocol is None


@pytest.fixture
def tmux(tmp_path) -> Iterator[Callable[..., list[str]]]:
    """``tmux(*args)`` on a private tmux server (its own socket), killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"cnnscope-test-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> list[str]:
        done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll until ``condition`` holds (generous: the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_keys_typed_right_after_start_up_reach_the_search_box(tmux, tmp_path):
    """The terminal is asked what it can draw while the user already types: no key is lost,
    no answer of the terminal turns into text, and the screen is drawn unbroken."""
    env = f"CNNSCOPE_HOME={shlex.quote(str(tmp_path / 'home'))}"
    command = f"cd {shlex.quote(str(ROOT))} && {env} {shlex.quote(sys.executable)} -m cnnscope tui"
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
    tmux("send-keys", "-t", "app", "net5")  # at once: python is still starting, or asking the terminal

    def pane() -> list[str]:
        return tmux("capture-pane", "-p", "-t", "app")

    def filtered() -> bool:
        text = "\n".join(pane())
        return "lenet5  (zoo)" in text and "alexnet" not in text

    assert wait_for(filtered), "\n".join(pane())
    screen = pane()
    row = next(i for i, line in enumerate(screen) if "net5" in line and "(zoo)" not in line)
    assert screen[row].split() == ["▊", "net5", "▎"], screen  # nothing lost, nothing added
    assert not any("[?" in line or "\x1b" in line for line in screen), screen
    assert screen[1].startswith("  cnnscope  pick a model"), screen  # every row where it belongs: none wrapped
    for line in screen[row - 1 : row + 2]:  # the search box: its frame spans the pane, one row each
        assert line.startswith("  ▊") and line.rstrip().endswith("▎") and len(line) <= 120, screen
