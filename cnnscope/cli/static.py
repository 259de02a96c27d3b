"""The static commands: inspect, list, compare, check, types (torch is never imported).

Renderers are imported where a command draws them: ``inspect --json`` pays for no table.
"""

from __future__ import annotations

import sys
from typing import Annotated, TypedDict

import typer

from cnnscope.analysis import Analysis, unmet_expectations
from cnnscope.cli.app import InputOption, JsonOption, Target, analyze_target, app, emit_json, err, fail, out
from cnnscope.errors import CnnscopeError, did_you_mean
from cnnscope.layers import LAYER_TYPES, activation_types, fmt_shape
from cnnscope.peers import PEERS, UNITS, PeerCount, count_as
from cnnscope.report.export import to_csv, to_json, to_markdown
from cnnscope.report.numbers import count, si, size_bytes
from cnnscope.report.rows import rows
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
        emit_json(to_json(analysis))
    elif as_csv:
        sys.stdout.write(to_csv(rows(analysis, depth)))
    elif as_markdown:
        sys.stdout.write(to_markdown(analysis, rows(analysis, depth)))
    else:
        from cnnscope.report.table import layer_table, summary

        out.print(layer_table(analysis, rows(analysis, depth), compact=out.width < 120))
        out.print(summary(analysis))


def show_peer_count(analysis: Analysis, counted: PeerCount, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "name": analysis.spec.name,
                "peer": counted.peer,
                "unit": UNITS[counted.peer],
                "total": counted.total,
                "macs": analysis.total.macs,
                "by_type": counted.by_type,
                "layers": counted.by_layer,
            }
        )
        return
    from rich.table import Table

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
    table.add_row("[b]total[/b]", f"[b]{count(counted.total)}[/b]", f"[b]{count(analysis.total.macs)}[/b]")
    out.print(table)
    difference = counted.total - analysis.total.macs
    out.print(
        f"{counted.peer} reports {count(counted.total)} ({si(counted.total)});"
        f" cnnscope's conv/linear MACs are {count(analysis.total.macs)} (difference {difference:+,})."
        " docs/conventions.md explains each peer's rules."
    )


class ZooEntry(TypedDict):
    """One model of ``cnnscope list --json``."""

    name: str
    title: str
    input_shape: list[int]
    output_shape: list[int]
    params: int
    macs: int
    paper: str
    path: str | None


@app.command("list", rich_help_panel=PANEL)
def list_zoo(as_json: JsonOption = False) -> None:
    """The model zoo: one line per model with input, params, MACs and source paper."""
    entries: list[ZooEntry] = []
    for name in zoo_names():
        try:
            analysis = analyze_target(name)
        except CnnscopeError as exc:
            fail(exc)
        spec = analysis.spec
        entries.append(
            {
                "name": name,
                "title": spec.title,
                "input_shape": list(spec.input.shape),
                "output_shape": list(analysis.output_shape),
                "params": analysis.total.params,
                "macs": analysis.total.macs,
                "paper": spec.paper,
                "path": spec.path,
            }
        )
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
    first: Annotated[str, typer.Argument(help="Zoo name or spec path.")],
    second: Annotated[str, typer.Argument(help="Zoo name or spec path.")],
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
    ratios = {key: (x / y if y else None) for key, x, y, _ in metrics}
    if as_json:
        emit_json(
            {
                "first": a.spec.name,
                "second": b.spec.name,
                "metrics": {key: {"first": x, "second": y, "ratio": ratios[key]} for key, x, y, _ in metrics},
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"{a.spec.name} vs {b.spec.name}", header_style="bold")
    table.add_column("")
    table.add_column(a.spec.name, justify="right")
    table.add_column(b.spec.name, justify="right")
    table.add_column(f"{a.spec.name} / {b.spec.name}", justify="right", style="bold")
    table.add_row("input", fmt_shape(a.spec.input.shape), fmt_shape(b.spec.input.shape), "")
    table.add_row("output", fmt_shape(a.output_shape), fmt_shape(b.output_shape), "")
    for key, x, y, show in metrics:
        ratio = ratios[key]
        table.add_row(key, show(x), show(y), f"{ratio:.2f}x" if ratio is not None else "-")
    out.print(table)
    if ratios["macs"]:
        out.print(f"{a.spec.name} needs {ratios['macs']:.2f}x the multiply-adds of {b.spec.name}.")


@app.command(rich_help_panel=PANEL)
def check(
    paths: Annotated[list[str] | None, typer.Argument(help="Spec files or zoo names; default: the whole zoo.")] = None,
) -> None:
    """Validate specs and their \\[expect] figures. Exit 0 all hold, 1 an expectation fails, 2 a spec is invalid."""
    status = 0
    for target in paths or zoo_names():
        try:
            analysis = analyze_target(target)
        except CnnscopeError as exc:
            err.print(f"INVALID {exc}", style="red", markup=False, soft_wrap=True)
            status = 2
            continue
        where = analysis.spec.path or target
        mismatches = unmet_expectations(analysis)
        for m in mismatches:
            out.print(f"FAIL {where}: {m.what}: expected {m.expected}, got {m.actual}", style="red", markup=False)
        if mismatches:
            status = max(status, 1)
            continue
        checked = "no [expect] section" if analysis.spec.expect.empty else "expectations hold"
        out.print(f"ok   {where}: {checked}", markup=False)
    raise typer.Exit(status)


@app.command(rich_help_panel=PANEL)
def types() -> None:
    """The layer types a spec can use, with their keys and defaults."""
    from rich.markup import escape

    for name, cls in LAYER_TYPES.items():
        out.print(f"[bold cyan]{name}[/]  {escape(cls.summary)}")
        for key_name, default, doc in cls.keys_doc():
            out.print(f"    {key_name} = {escape(default)}  [dim]{escape(doc)}[/]")
        out.print(f"    [dim]e.g.[/] {escape(cls.example_line())}", highlight=False)
    out.print(
        "\nEvery layer also takes: name, from (input layers), act (a fused activation: "
        + ", ".join(activation_types())
        + "), when (a condition), functional (true: the reference model calls it as a function)."
    )
