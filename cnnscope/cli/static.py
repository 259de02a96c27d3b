"""The static commands: inspect, list, compare, check, types (torch is never imported).

Renderers are imported where a command draws them: ``inspect --json`` pays for no table.
"""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cnnscope.analysis import Analysis, unmet_expectations
from cnnscope.cli.app import InputOption, JsonOption, Target, analyze_target, app, emit_json, err, fail, out
from cnnscope.errors import CnnscopeError, did_you_mean, zoo_label
from cnnscope.layers import LAYER_TYPES, activation_types, fmt_shape
from cnnscope.peers import PEERS, UNITS, PeerCount, count_as
from cnnscope.report.documents import compare_document, inspect_document, peer_count_document, zoo_entry
from cnnscope.report.export import to_csv, to_markdown
from cnnscope.report.numbers import count, si, size_bytes
from cnnscope.report.rows import rows
from cnnscope.rules import (
    DEFAULT,
    EXPECT_MISMATCH,
    INVALID_SPEC,
    RULES,
    UNREADABLE,
    Selection,
    enabled_rules,
    project_config,
)
from cnnscope.text import visible
from cnnscope.zoo import zoo_names

PANEL = "Static analysis (no torch)"


@app.command(rich_help_panel=PANEL)
def inspect(
    target: Target,
    input_size: InputOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the layer table as CSV.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print the layer table as Markdown.")] = False,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", min=1, help="Fold blocks nested deeper than N into one row each.")
    ] = None,
    layer: Annotated[
        str | None, typer.Option("--explain", "-e", help="Show the arithmetic of one layer, numbers filled in.")
    ] = None,
    peer: Annotated[
        str | None,
        typer.Option(
            "--count-as",
            help=f"Count as a peer tool does ({', '.join(PEERS)}): its total, and which layers make it.",
        ),
    ] = None,
) -> None:
    """Layer table: filters, kernel, stride, padding, output size, params, MACs, receptive field."""
    try:
        chosen = [flag for flag, on in (("--json", as_json), ("--csv", as_csv), ("--markdown", as_markdown)) if on]
        if len(chosen) > 1:
            raise CnnscopeError(f"{' and '.join(chosen)} each print the whole output: choose one")
        analysis = analyze_target(target, input_size)
        if layer:
            from cnnscope.report.explain import explain

            for line in explain(analysis, layer):
                out.print(line, markup=False)
            return
        if peer is not None and peer not in PEERS:
            raise CnnscopeError(
                f"unknown peer '{peer}'", hint=did_you_mean(peer, PEERS) or f"one of {', '.join(PEERS)}"
            )
    except CnnscopeError as exc:
        fail(exc)
    if peer:
        show_peer_count(analysis, count_as(analysis, peer), as_json)
    elif as_json:
        emit_json(inspect_document(analysis))
    elif as_csv:
        sys.stdout.write(to_csv(rows(analysis, depth)))
    elif as_markdown:
        sys.stdout.write(to_markdown(analysis, rows(analysis, depth)))
    else:
        from cnnscope.report.table import layer_table, summary

        out.print(layer_table(analysis, rows(analysis, depth), width=out.width))
        out.print(summary(analysis))
        if input_size:
            resized_note(analyze_target(target), analysis)


def resized_note(spec_size: Analysis, resized: Analysis) -> None:
    """--input changed the size: say what stays (channels) and which parameters follow the size."""
    before, after = spec_size.spec.input.shape, resized.spec.input.shape
    grown = [
        report.name
        for report in resized.layers
        if report.name in spec_size.by_name and report.cost.params != spec_size.by_name[report.name].cost.params
    ]
    if before == after or not grown:
        return
    kept = " (channels kept)" if len(before) == 3 and before[0] == after[0] and len(after) == 3 else ""
    out.print(
        f"note: --input makes the input {fmt_shape(after)} instead of the spec's {fmt_shape(before)}{kept};"
        f" params change from {count(spec_size.total.params)} to {count(resized.total.params)} because the size of"
        f" {', '.join(grown[:3])}{' ...' if len(grown) > 3 else ''} follows the input",
        style="yellow",
        soft_wrap=True,
    )


def show_peer_count(analysis: Analysis, counted: PeerCount, as_json: bool) -> None:
    if as_json:
        emit_json(peer_count_document(analysis, counted, UNITS[counted.peer]))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{analysis.spec.name} counted as {counted.peer}: {UNITS[counted.peer]}", header_style="bold")
    table.add_column("layers")
    table.add_column(counted.peer, justify="right")
    table.add_column("cnnscope MACs", justify="right")
    macs_by_type: dict[str, int] = {}
    for report in analysis.layers:
        macs_by_type[report.type] = macs_by_type.get(report.type, 0) + report.cost.macs
    for kind, value in counted.by_type.items():
        if value or macs_by_type.get(kind):
            table.add_row(kind, count(value), count(macs_by_type.get(kind, 0)))
    table.add_row(*(Text(cell, style="bold") for cell in ("total", count(counted.total), count(analysis.total.macs))))
    out.print(table)
    difference = counted.total - analysis.total.macs
    out.print(
        f"{counted.peer} reports {count(counted.total)} ({si(counted.total)});"
        f" cnnscope's MACs are {count(analysis.total.macs)} (difference {difference:+,})."
        " docs/conventions.md explains each peer's rules."
    )


@app.command("list", rich_help_panel=PANEL)
def list_zoo(as_json: JsonOption = False) -> None:
    """The model zoo: one line per model with input, params, MACs and source paper."""
    entries = []
    for name in zoo_names():
        try:
            entries.append(zoo_entry(name, analyze_target(name)))
        except CnnscopeError as exc:
            fail(exc)
    if as_json:
        emit_json(entries)
        return
    from rich.table import Table

    table = Table(title="cnnscope model zoo", header_style="bold")
    table.add_column("Name")
    table.add_column("Input", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("Source")
    for entry in entries:
        table.add_row(
            entry["name"],
            "x".join(map(str, entry["input_shape"])),
            count(entry["params"]),
            si(entry["macs"]),
            entry["paper"],
        )
    out.print(table)


@app.command(rich_help_panel=PANEL)
def compare(
    first: Annotated[str, typer.Argument(metavar="FIRST", help="Zoo name or spec path.")],
    second: Annotated[str, typer.Argument(metavar="SECOND", help="Zoo name or spec path.")],
    input_size: InputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cost of two models side by side, with the ratio first / second."""
    try:
        a, b = analyze_target(first, input_size), analyze_target(second, input_size)
    except CnnscopeError as exc:
        fail(exc)
    metrics = [
        ("params", a.total.params, b.total.params, count),
        ("macs", a.total.macs, b.total.macs, count),
        ("flops", a.total.flops, b.total.flops, count),
        ("activation_bytes", a.total.activation_bytes, b.total.activation_bytes, size_bytes),
    ]
    document = compare_document(a.spec.name, b.spec.name, [(key, x, y) for key, x, y, _ in metrics])
    if as_json:
        emit_json(document)
        return
    ratios = {key: values["ratio"] for key, values in document["metrics"].items()}
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{a.spec.name} vs {b.spec.name}", header_style="bold")
    table.add_column("")
    table.add_column(a.spec.name, justify="right")
    table.add_column(b.spec.name, justify="right")
    table.add_column(f"{a.spec.name} / {b.spec.name}", justify="right", style="bold")
    table.add_row("input", fmt_shape(a.spec.input.shape), fmt_shape(b.spec.input.shape), "")
    from cnnscope.report.table import returned_shapes

    table.add_row("output", Text(returned_shapes(a)), Text(returned_shapes(b)), "")  # keys are the spec's text
    for key, x, y, show in metrics:
        ratio = ratios[key]
        table.add_row(key, show(x), show(y), f"{ratio:.2f}x" if ratio is not None else "-")
    out.print(table)
    if ratios["macs"]:
        out.print(f"{a.spec.name} needs {ratios['macs']:.2f}x the multiply-adds of {b.spec.name}.")


class OutputFormat(StrEnum):
    text = "text"
    github = "github"


# .toml files in a project folder that are other tools' configuration, never specs (`cnnscope check .`)
TOOL_CONFIGS = frozenset({"pyproject.toml", "ruff.toml", ".ruff.toml", "uv.toml", "Cargo.toml", "pixi.toml"})


def spec_targets(paths: list[str]) -> list[str]:
    """Files and zoo names as given; a folder becomes the .toml files under it, recursively, sorted,
    outside hidden folders (.git, .venv: a virtual environment holds packages' own .toml files) and
    other tools' configuration files."""
    targets: list[str] = []
    for target in paths:
        folder = Path(target)
        if folder.is_dir():
            found = sorted(folder.rglob("*.toml"))
            hidden = [path for path in found if any(p.startswith(".") for p in path.relative_to(folder).parts[:-1])]
            targets.extend(
                str(path) for path in found if path.is_file() and path not in hidden and path.name not in TOOL_CONFIGS
            )
        else:
            targets.append(target)
    return targets


def _annotation(kind: str, path: str, line: int | None, code: str, message: str) -> str:
    """A GitHub Actions workflow command: the message lands on that line of the pull request."""

    def escape(text: str, properties: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if properties else text

    where = f"file={escape(path, True)}" + (f",line={line}" if line else "")
    title = escape(f"cnnscope {code} {RULES[code].name}", True)
    return f"::{kind} {where},title={title}::{escape(message)}"


def _unlocated(error: CnnscopeError) -> str:
    """The error without its file and line, which an annotation carries in its own fields."""
    layer = f"layer '{error.layer}': " if error.layer else ""
    return visible(layer + error.message + (f" ({error.hint})" if error.hint else ""))  # shown, never sent raw


def _located(path: str, line: int | None) -> str:
    path = zoo_label(path) or path
    return f"{path}:{line}" if line else path


def _expect_key_line(source: str | None, what: str) -> int | None:
    """The line of the [expect] key that a mismatch is about (``params``, ``output``, a layer of
    ``shapes``); the ``[expect]`` header where the key is not found on a line of its own."""
    lines = (source or "").splitlines()
    header = next((n for n, text in enumerate(lines) if text.lstrip().startswith("[expect")), None)
    if header is None:
        return None
    key = re.escape(what.removeprefix("shape of "))
    pattern = re.compile(rf"""(^|[{{,\s])["']?{key}["']?\s*=""")
    for number in range(header, len(lines)):
        text = lines[number]
        if number > header and re.match(r"\s*\[(?!expect)", text):  # the next table: [expect] has ended
            break
        if pattern.search(text.split("#", 1)[0]):
            return number + 1
    return header + 1


def _split_codes(values: list[str] | None) -> tuple[str, ...]:
    """``--ignore CS101,CS102`` and ``--ignore CS101 --ignore CS102`` alike."""
    return tuple(code for value in values or [] for code in value.split(",") if code.strip())


class _RuleChoice:
    """The warnings switched on for each checked file: the defaults, then the nearest pyproject.toml's
    ``[tool.cnnscope]``, then the command line (found once per folder)."""

    def __init__(self, command_line: Selection) -> None:
        self.command_line = command_line
        command_line.applied(DEFAULT)  # an unknown code on the command line fails before any file is read
        self.by_folder: dict[Path, frozenset[str]] = {}

    def enabled(self, folder: Path) -> frozenset[str]:
        found = project_config(folder)
        return enabled_rules([found, self.command_line] if found else [self.command_line])

    def for_target(self, target: str) -> frozenset[str]:
        path = Path(target)
        folder = path.resolve().parent if path.is_file() else Path.cwd()  # a zoo name: the working folder's
        if folder not in self.by_folder:
            self.by_folder[folder] = self.enabled(folder)
        return self.by_folder[folder]


def show_rules() -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="cnnscope check rules", header_style="bold", expand=False)
    table.add_column("Code", no_wrap=True)
    table.add_column("Name", no_wrap=True, style="cyan")
    table.add_column("Default", no_wrap=True)
    table.add_column("What it finds, e.g.")
    for rule in RULES.values():
        default = "error" if rule.error else "on" if rule.default else "off"
        table.add_row(rule.code, rule.name, default, Text.assemble(rule.summary, ("\ne.g. " + rule.example, "dim")))
    out.print(table)
    out.print(
        "Errors are always on. Warnings: --select replaces the default set, --extend-select adds, --ignore removes"
        " (codes or names, comma-separated, ALL for every warning); the same keys under [tool.cnnscope] in the"
        " nearest pyproject.toml above the checked files come first."
    )


@app.command(rich_help_panel=PANEL)
def check(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PATH]...", help="Spec files, folders (every .toml under them) or zoo names; default: the zoo."
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) on warnings too.")] = False,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--output-format",
            help="text, or github: GitHub Actions annotations (::error file=...,line=...::) on the spec's line"
            " (not with --json: both print on stdout).",
        ),
    ] = OutputFormat.text,
    as_json: JsonOption = False,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", metavar="CODES", help="Warnings to report instead of the default set (CS101,...)."),
    ] = None,
    extend_select: Annotated[
        list[str] | None,
        typer.Option("--extend-select", metavar="CODES", help="Warnings to report besides the default set."),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", metavar="CODES", help="Warnings not to report.")
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="List every rule: code, name, default, an example.")
    ] = False,
) -> None:
    """Validate specs, their \\[expect] figures and warnings. Exit 0 all hold, 1 an expectation fails (or, with
    --strict, a warning), 2 a spec is invalid. Every independent error of a spec is reported, each with its rule
    code (--list-rules); warnings are chosen with --select/--ignore or \\[tool.cnnscope] in pyproject.toml."""
    from cnnscope.analysis import analyze
    from cnnscope.report.documents import check_document, check_entry
    from cnnscope.zoo import load_target

    if list_rules:
        show_rules()
        return
    try:
        choice = _RuleChoice(
            Selection(_split_codes(select) if select else None, _split_codes(extend_select), _split_codes(ignore))
        )
    except CnnscopeError as exc:
        fail(exc)
    github = output_format is OutputFormat.github
    if github and as_json:  # both are written to stdout: together, neither would parse
        raise typer.BadParameter("github annotations and --json exclude each other", param_hint="'--output-format'")
    status, entries = 0, []
    targets = spec_targets(paths) if paths else zoo_names()
    empty = [p for p in paths or [] if Path(p).is_dir() and not spec_targets([p])]
    for folder in empty:
        err.print(
            f"INVALID {folder}: {UNREADABLE} no .toml specs in this folder", style="red", markup=False, soft_wrap=True
        )
        status = 2
    for target in targets:
        try:
            enabled = choice.for_target(target)
        except CnnscopeError as exc:
            fail(exc)
        try:
            analysis = analyze(load_target(target, all_errors=True))
        except CnnscopeError as exc:
            errors: list[CnnscopeError] = list(getattr(exc, "errors", [exc]))
            status = 2
            entries.append(check_entry(target, exc.path or target, errors))
            for error in errors:
                code = error.code or INVALID_SPEC
                if github:
                    typer.echo(_annotation("error", error.path or target, error.line, code, _unlocated(error)))
                elif not as_json:
                    at = _located(error.path or target, error.line)
                    err.print(f"INVALID {at}: {code} {_unlocated(error)}", style="red", markup=False, soft_wrap=True)
            continue
        where = analysis.spec.path or target
        mismatches = unmet_expectations(analysis)
        entry = check_entry(target, where, [], analysis, mismatches, enabled)
        entries.append(entry)
        warnings = entry["warnings"]
        if mismatches or (strict and warnings):
            status = max(status, 1)
        if as_json:
            continue
        for warning in warnings:
            line, text = warning["line"], f"layer '{warning['layer']}': {warning['message']}"
            if github:
                typer.echo(_annotation("warning", where, line, warning["code"], text))
            else:
                at = _located(where, line)
                out.print(f"warn {at}: {warning['code']} {text}", style="yellow", markup=False, soft_wrap=True)
        for m in mismatches:
            text, line = (
                f"{m.what}: expected {m.expected}, got {m.actual}",
                _expect_key_line(analysis.spec.source, m.what),
            )
            if github:
                typer.echo(_annotation("error", where, line, EXPECT_MISMATCH, text))
            else:
                at = _located(where, line)
                out.print(f"FAIL {at}: {EXPECT_MISMATCH} {text}", style="red", markup=False, soft_wrap=True)
        if github or mismatches:
            continue
        shown = _located(where, None)
        if strict and warnings:
            out.print(f"FAIL {shown}: {len(warnings)} warning(s) (--strict)", style="red", markup=False, soft_wrap=True)
            continue
        checked = "no [expect] section" if analysis.spec.expect.empty else "expectations hold"
        noted = f", {len(warnings)} warning(s)" if warnings else ""
        out.print(f"ok   {shown}: {checked}{noted}", markup=False, soft_wrap=True)
    if as_json:
        emit_json(check_document(entries, strict, status))
    raise typer.Exit(status)


@app.command(rich_help_panel=PANEL)
def types(as_json: JsonOption = False) -> None:
    """The layer types a spec can use, with their keys and defaults."""
    from rich.markup import escape

    if as_json:
        from cnnscope.report.documents import types_document

        emit_json(types_document())
        return

    for name, cls in LAYER_TYPES.items():
        out.print(f"[bold cyan]{name}[/]  {escape(cls.summary)}", markup=True)
        for key_name, default, doc in cls.keys_doc():
            out.print(f"    {key_name} = {escape(default)}  [dim]{escape(doc)}[/]", markup=True)
        out.print(f"    [dim]e.g.[/] {escape(cls.example_line())}", highlight=False, markup=True)
    out.print(
        "\nEvery layer also takes: name, from (input layers), act (a fused activation: "
        + ", ".join(activation_types())
        + "), when (a condition), functional (true: the reference model calls it as a function)."
    )
