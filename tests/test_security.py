"""A spec is untrusted input: its text never runs, never names a file outside the cache, never
reaches a terminal, an SVG or a table unescaped; `--out` never replaces what is not a regular file;
`import` keeps the target's prints and exits apart from its own output."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
from pathlib import Path
from xml.etree import ElementTree

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnscope.errors import SpecError
from cnnscope.runtime.build import build
from cnnscope.runtime.home import trained_checkpoint
from cnnscope.spec import parse
from cnnscope.spec.parse import NAME
from cnnscope.zoo import load_target, zoo_names

CNNSCOPE = [sys.executable, "-m", "cnnscope"]


def marker_payloads(marker: Path) -> list[str]:
    """Texts that would create ``marker`` if any of them ran as Python, shell, or markup did anything."""
    touch = f"__import__('os').system('touch {marker}')"
    return [
        f"x\n    {touch}\n#",
        f"x\r    {touch}\r#",
        f"x\u2028{touch}",
        f'"""\n{touch}\n"""',
        f"'; {touch}; '",
        f"\\\n{touch}",
        f"{{{touch}}}",
        f'<svg onload="{touch}"/>]]><x>&amp;',
        f"[bold]{touch}[/bold] :smile: \x1b[2J",
        f"$( touch {marker} ) `touch {marker}` # {{index}}",
    ]


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (any code point; a surrogate makes TOML that tomllib refuses)."""
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text) + '"'


def spec_with(**fields: str) -> str:
    """A small spec of a repeated block, with ``fields`` (TOML-escaped) in the places they name."""
    quoted = {key: toml_string(value) for key, value in fields.items()}
    return f"""
name = {quoted.get("name", '"inj"')}
title = {quoted.get("title", '"a title"')}
paper = {quoted.get("paper", '"a paper"')}
input = [1, 8, 8]
layers = [
  {{name = {quoted.get("layer", '"b"')}, block = "blk", repeat = 2, instance = {quoted.get("instance", '"{index}"')}}},
  {{name = "flat", type = "flatten"}},
  {{name = "fc", type = "linear", out = 10, from = {quoted.get("from", '"flat"')}, act = {quoted.get("act", '"relu"')}}},
]
[blocks.blk]
layers = [{{name = "r", type = "conv2d", out = 2, kernel = 1, padding = {quoted.get("expression", '"0"')}}}]
"""


def test_the_published_injection_is_refused_before_anything_runs(tmp_path: Path, cli) -> None:
    marker = tmp_path / "MARK"
    text = spec_with(instance=f"x\n    __import__('os').system('touch {marker}')\n#{{index}}")
    path = tmp_path / "inj.toml"
    path.write_text(text)
    for command in ("inspect", "check", "build", "verify", "draw"):
        args = [command, str(path)] + (["--out", str(tmp_path / "f.svg")] if command == "draw" else [])
        result = cli(*args)
        assert result.exit_code == 2, (command, result.output)
        message = result.output.strip()
        assert "\n" not in message and "instance template" in message and "inj.toml:" in message, message
        assert "\\n" in message  # the result is shown, its line breaks written as escapes
    assert not marker.exists()
    assert not (tmp_path / "f.svg").exists()


def test_every_free_text_field_is_shown_literally_or_refused(tmp_path: Path, cli) -> None:
    """Each payload in each field: through parse, analysis, tables, JSON, CSV, Markdown, SVG and a
    built model's forward, no marker; a refusal is one line; accepted text comes back whole."""
    marker = tmp_path / "MARK"
    for payload in marker_payloads(marker):
        for field in ("name", "title", "paper", "layer", "instance", "from", "act", "expression"):
            text = spec_with(**{field: payload})
            try:
                spec = parse(text, path="hostile.toml")
            except SpecError as exc:
                assert "\n" not in str(exc) and str(exc).isprintable(), (field, str(exc))
                continue
            assert field in ("name", "title", "paper"), f"{field} accepted {payload!r}"
            assert getattr(spec, field) == payload  # shown literally: the text as written
            for node in spec.nodes:
                assert NAME.fullmatch(node.name)
            path = tmp_path / "ok.toml"
            path.write_text(text)
            for args in (["--json"], ["--csv"], ["--markdown"], []):
                result = cli("inspect", str(path), *args)
                assert result.exit_code == 0, result.output
                assert "\x1b" not in result.output and "\u2028" not in result.output
                if args == ["--json"]:
                    assert json.loads(result.stdout)["name"] == spec.name
                if args == ["--markdown"]:  # one row per layer: no text adds a column or a line
                    rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
                    assert len({line.replace("\\|", "").count("|") for line in rows}) == 1
            svg = tmp_path / "f.svg"
            assert cli("draw", str(path), "--out", str(svg)).exit_code == 0
            ElementTree.parse(svg)  # XML parsers accept it
            model = build(spec).eval()
            model(torch.zeros(1, 1, 8, 8))
    assert not marker.exists()


def generated_tokens(code: str) -> set[str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.string for t in tokens if t.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT)}


def leading_literal(text: str) -> str:
    """The string literal a comment starts with (``'layer1.0.add', in place`` -> ``'layer1.0.add'``)."""
    first = next(tokenize.generate_tokens(io.StringIO(text).readline))
    assert first.type == tokenize.STRING and first.start == (1, 0), text
    return first.string


GENERATED_WORDS = {"def", "forward", "m", "x", "del", "return", "torch", "cat", "dim", "add_", "dtype", "if", "else"}


@pytest.mark.parametrize("zoo_name", zoo_names())
def test_the_forward_of_every_zoo_spec_holds_no_spec_text(zoo_name: str) -> None:
    spec = load_target(zoo_name)
    with torch.device("meta"):  # no memory for the weights: only the code is looked at
        generated = build(spec)._generated
    words = generated_tokens(generated.code)
    assert all(w in GENERATED_WORDS or (w[0] == "x" and w[1:].isdigit()) for w in words), words - GENERATED_WORDS
    # the copy shown to readers parses to the same code, and its comments give back the layer names
    assert ast.dump(ast.parse(generated.source)) == ast.dump(ast.parse(generated.code))
    comments = [
        t.string for t in tokenize.generate_tokens(io.StringIO(generated.source).readline) if t.type == tokenize.COMMENT
    ]
    named = [ast.literal_eval(leading_literal(comment.removeprefix("# "))) for comment in comments]
    assert named == [node.name for node in spec.nodes]


def test_generated_code_outside_the_grammar_is_refused() -> None:
    from cnnscope.runtime.forward import _check_generated

    _check_generated("def forward(m, x):\n    x1 = m[0](x)\n    return torch.cat((x1, x), dim=1)\n")
    for evil in (
        "def forward(m, x):\n    return __import__('os')\n",
        "def forward(m, x):\n    return m[0]('a')\n",
        "def forward(m, x):\n    return x.__class__\n",
        "import os\ndef forward(m, x):\n    return x\n",
        "def forward(m, x):\n    y = 1\n    return x\n",
    ):
        with pytest.raises(ValueError):
            _check_generated(evil)


names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=names, instance=names)
def test_any_name_or_template_is_a_valid_name_or_one_line_refusal(layer: str, instance: str) -> None:
    try:
        spec = parse(spec_with(layer=layer, instance=instance + "{index}"), path="p.toml")
        assert all(NAME.fullmatch(node.name) for node in spec.nodes)
        with torch.device("meta"):
            build(spec)  # compiles: the names never reach the code
    except SpecError as exc:  # a name torch modules already use ("eval") is refused at build
        message = str(exc)
        assert "\n" not in message and message.isprintable()


@settings(max_examples=100, deadline=None)
@given(title=st.text(st.characters(codec="utf-8"), max_size=20))
def test_every_title_draws_an_svg_that_parses_or_is_refused(title: str) -> None:
    from cnnscope.analysis import analyze
    from cnnscope.draw import draw

    try:
        spec = parse(spec_with(title=title), path="p.toml")
    except SpecError:
        assert not title.isprintable()
        return
    ElementTree.fromstring(draw(analyze(spec)).to_svg())


def test_a_name_with_a_final_newline_is_refused() -> None:
    with pytest.raises(SpecError, match="not a usable layer name"):
        parse('input = [1, 4, 4]\nlayers = [{name = "conv\\n", type = "relu"}]')


def test_trained_weights_stay_in_the_cache_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))
    home = tmp_path / "home"
    for name in ("../victim", "/etc/x", "a/../../b", "..", ".", "x\x00y", "ünï cødé", "a" * 300, ".hidden"):
        path = trained_checkpoint(name)
        assert path.parent == home and path.name not in (".safetensors",) and not path.name.startswith(".")
        assert len(path.name) < 120 and "\x00" not in path.name
    assert trained_checkpoint("lenet5") == home / "lenet5.safetensors"
    assert trained_checkpoint("../victim") != trained_checkpoint("victim")  # distinct names, distinct files
    assert trained_checkpoint("a/b") != trained_checkpoint("a_b")


def test_a_spec_names_a_labels_file_only_beside_itself() -> None:
    for labels in ("/etc/passwd", "../secret.txt", "a/../../b.txt", ""):
        text = f'input = [1, 4, 4]\nlayers = [{{type = "flatten"}}]\n[preprocess]\nlabels = {json.dumps(labels)}\n'
        with pytest.raises(SpecError, match="beside the spec"):
            parse(text)
    parse('input = [1, 4, 4]\nlayers = [{type = "flatten"}]\n[preprocess]\nlabels = "sub/classes.txt"\n')


def test_outputs_never_replace_links_fifos_or_devices(tmp_path: Path, cli) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    link = tmp_path / "out.svg"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.svg"
    os.mkfifo(fifo)
    for destination in (link, fifo, Path("/dev/null")):
        result = cli("draw", "lenet5", "--out", str(destination))
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert link.is_symlink() and target.read_text() == "keep me"
    assert fifo.is_fifo() and Path("/dev/null").is_char_device()
    result = cli("export", "lenet5", "--out", str(tmp_path / "w.safetensors"))
    assert result.exit_code == 0, result.output
    (tmp_path / "w.pth").symlink_to(target)
    result = cli("export", "lenet5", "--out", str(tmp_path / "w.pth"))
    assert result.exit_code == 2 and (tmp_path / "w.pth").is_symlink() and target.read_text() == "keep me"


PRINTING_MODEL = """
import sys
from torch import nn
print("top-level print")
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("init print")
        self.conv = nn.Conv2d(1, 2, 3)
    def forward(self, x):
        print("forward print")
        __import__("os").write(1, b"raw fd print\\n")
        return self.conv(x)
def leaves():
    sys.exit(5)
def interrupts():
    raise KeyboardInterrupt
"""


def test_import_keeps_the_targets_prints_apart_from_the_spec(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PRINTING_MODEL)
    command = [*CNNSCOPE, "import", "p.py:Net", "--input", "1x8x8"]
    written = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    parse(written.stdout)  # stdout is the spec alone: `cnnscope import p.py:Net > net.toml` works
    assert "top-level print" in written.stderr and "raw fd print" in written.stderr


@pytest.mark.parametrize(
    ("target", "code", "says"),
    [
        ("p.py:leaves", 2, "exited (SystemExit: 5)"),
        ("sys:exit", 2, "exited (SystemExit: None)"),
        ("p.py:interrupts", 130, "interrupted while 'p.py:interrupts'"),
    ],
)
def test_an_exit_from_the_target_is_one_line_and_cnnscopes_code(
    tmp_path: Path, monkeypatch, capfd, target: str, code: int, says: str
) -> None:
    from cnnscope.cli.entry import run

    (tmp_path / "p.py").write_text(PRINTING_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run(["import", target, "--input", "1x8x8"]) == code
    captured = capfd.readouterr()
    assert says in captured.err and "Traceback" not in captured.err
    assert "print" not in captured.out  # the target's prints went to stderr


def test_the_commands_that_build_a_model_show_accepted_text_literally(tmp_path: Path, cli) -> None:
    """A title, paper and name that would run if they reached code go through run, run --cam, export,
    maximize and verify as text: the model runs, and no marker appears."""
    from PIL import Image

    marker = tmp_path / "MARK"
    touch = f"__import__('os').system('touch {marker}')"
    text = spec_with(title=f"'; {touch}; '", paper=f'"""{touch}"""', name=f"x'); {touch}; ('")
    text = text.replace("input = [1, 8, 8]", "input = [1, 16, 16]")
    spec_path = tmp_path / "p.toml"
    spec_path.write_text(text)
    image = tmp_path / "digit.png"
    Image.new("L", (16, 16), 0).save(image)
    for args in (
        ["run", str(spec_path), "--image", str(image), "--json"],
        ["run", str(spec_path), "--image", str(image), "--cam", "--json"],
        ["export", str(spec_path), "--out", str(tmp_path / "w.safetensors")],
        ["maximize", str(spec_path), "--layer", "b.0.r", "--save", str(tmp_path / "units")],
        ["verify", str(spec_path)],
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert not marker.exists()
