"""A rich ``Table`` that prints thousands of rows in linear time, looking exactly as rich's own.

rich lays out every cell of every row through its general machinery (measure, pad, wrap,
justify, crop), about half a millisecond a row of the layer table: 20,000 layers took
minutes. Most cells of a layer table repeat a few shapes: the same length, spans and
style. :class:`FastTable` renders each such shape once through rich (a template of
placeholder characters) and fills in the real characters, so the segments are the ones
rich would yield, byte for byte, colours included. Whatever the fast path does not cover
(a table wider than the terminal, non-ASCII text, options the layer table does not use)
is left to rich unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

_PLAIN = re.compile(r"[!-~]([ -~]*[!-~])?")  # printable ASCII, no spaces at the ends (rich keeps it as it is)
_NON_SPACE = re.compile(r"\S")


class FastTable(Table):
    """A ``rich.table.Table`` whose body rows are rendered from cached cell templates when the table
    fits the width; otherwise (or for options it does not handle) it is rendered by rich itself.

    ``names_on_own_line``: where the table is too wide, the first column takes the width that is left
    and a first cell wider than that is printed whole on a line of its own above its row, never broken
    inside (rich would fold ``layer1.0.conv1`` into ``layer1.0.`` / ``conv1``).
    """

    names_on_own_line = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._fast_widths(console, options.max_width)
        if widths is None:
            yield from super().__rich_console__(console, options)
            return
        table_width = sum(widths) + self._extra_width
        render_options = options.update(width=table_width, highlight=self.highlight, height=None)
        if self.title:
            title = (
                console.render_str(self.title, style=Style.pick_first(self.title_style, "table.title"), highlight=False)
                if isinstance(self.title, str)
                else self.title
            )
            yield from console.render(title, options=render_options.update(justify=self.title_justify))
        yield from self._fast_render(console, render_options, widths)
        if self.caption:
            caption = (
                console.render_str(
                    self.caption, style=Style.pick_first(self.caption_style, "table.caption"), highlight=False
                )
                if isinstance(self.caption, str)
                else self.caption
            )
            yield from console.render(caption, options=render_options.update(justify=self.caption_justify))

    # --- layout ---------------------------------------------------------------------------
    def _simple(self) -> bool:
        """Only the options the fast path reproduces (those of the layer table)."""
        return (
            self.box is not None
            and self.show_edge
            and self.show_header
            and not self.expand
            and not self.show_lines
            and not self.leading
            and not self.row_styles
            and not self.collapse_padding
            and self.width is None
            and self.min_width is None
            and not any(row.style is not None or row.end_section for row in self.rows)
            and all(column.width is None and column.max_width is None and not column.ratio for column in self.columns)
        )

    def _fast_widths(self, console: Console, max_width: int) -> list[int] | None:
        """Each column's natural width (content + padding), as rich measures it, or None to leave the
        table to rich: options the fast path lacks, text it cannot measure, or a table that must shrink."""
        if not self._simple():
            return None
        # a console that reads markup or :emoji: codes in strings: rich alone knows what they print
        literal = not getattr(console, "_markup", True) and not getattr(console, "_emoji", True)
        widths = []
        for index, column in enumerate(self.columns):
            cells: list[Any] = [column.header, *column._cells]
            if self.show_footer:
                cells.append(column.footer)
            widest = 0
            for cell in cells:
                text = cell.plain if isinstance(cell, Text) else cell
                if not isinstance(text, str) or not text.isascii() or not text.replace("\n", "").isprintable():
                    return None  # wide characters, tabs, control codes: rich measures them its own way
                if isinstance(cell, str) and not literal and ("[" in text or ":" in text):
                    return None
                widest = max(widest, max(len(line) for line in text.split("\n")) if "\n" in text else len(text))
            width = widest + self._get_padding_width(index)
            if column.min_width is not None:
                width = max(width, column.min_width + self._get_padding_width(index))
            widths.append(width or 1)
        if sum(widths) + self._extra_width > max_width:
            if not self.names_on_own_line:
                return None
            first = self.columns[0]
            labels = [cell for cell in (first.header, first.footer) if isinstance(cell, str)]
            least = max([len(label) for label in labels] + [first.min_width or 0])
            spare = max_width - self._extra_width - sum(widths[1:])
            if spare < least + self._get_padding_width(0):
                return None
            widths[0] = spare
        return widths

    # --- rendering ------------------------------------------------------------------------
    def _cell_padding(self, column: int, first_row: bool, last_row: bool) -> tuple[int, int, int, int]:
        top, right, bottom, left = self.padding
        if not self.pad_edge:
            left = 0 if column == 0 else left
            right = 0 if column == len(self.columns) - 1 else right
            top = 0 if first_row else top
            bottom = 0 if last_row else bottom
        return top, right, bottom, left

    def _cell_lines(
        self,
        console: Console,
        options: ConsoleOptions,
        index: int,
        renderable: Any,
        style: Style,
        width: int,
        row: str,
    ) -> list[list[Segment]]:
        """One cell rendered as rich's Table._render does: padded, styled, justified, cut to ``width``."""
        column = self.columns[index]
        padding = self._cell_padding(index, row == "header", row == "footer")
        render_options = options.update(
            width=width,
            justify=column.justify,
            no_wrap=column.no_wrap,
            overflow=column.overflow,
            height=None,
            highlight=column.highlight,
        )
        content = Padding(renderable, padding) if any(self.padding) else renderable
        return console.render_lines(content, render_options, style=style)

    def _fast_render(self, console: Console, options: ConsoleOptions, widths: list[int]) -> Iterable[Segment]:
        get_style = console.get_style
        border_style = get_style(self.style or "") + get_style(self.border_style or "")
        assert self.box is not None
        box = self.box.substitute(options, safe=self.safe_box if self.safe_box is not None else console.safe_box)
        new_line = Segment.line()
        null = Style.null()
        header_style = get_style(self.header_style or "")
        footer_style = get_style(self.footer_style or "")
        cell_styles = [get_style(column.style or "") for column in self.columns]
        templates: dict[tuple[Any, ...], tuple[str, list[list[Segment]]]] = {}
        plain = console.color_system is None and not console.record  # styles print nothing

        seen: dict[tuple[int, str], list[list[Segment]]] = {}  # str cells repeat: "-", "relu", "64x56x56"

        def body_cell(index: int, cell: Any) -> list[list[Segment]]:
            if isinstance(cell, str):
                known = seen.get((index, cell))
                if known is None:
                    known = seen[index, cell] = shaped_cell(index, cell)
                return known
            return shaped_cell(index, cell)

        def shaped_cell(index: int, cell: Any) -> list[list[Segment]]:
            """A body cell from the template of its shape; rendered by rich when it has none."""
            text = cell.plain if isinstance(cell, Text) else cell
            style = cell_styles[index] + null
            if not isinstance(text, str) or (text and not _PLAIN.fullmatch(text)):
                return self._cell_lines(console, options, index, cell, style, widths[index], "body")
            if isinstance(cell, Text):
                shape: tuple[Any, ...] = (
                    index,
                    len(text),
                    text.count(" "),
                    repr(cell.style),
                    cell.justify,
                    cell.overflow,
                    cell.no_wrap,
                    cell.end,
                    tuple((span.start, span.end, repr(span.style)) for span in cell.spans),
                )
            else:
                shape = (index, len(text), text.count(" "))
            placeholder = _NON_SPACE.sub("x", text)
            if shape not in templates or templates[shape][0] != placeholder:
                filler: Text | str = placeholder
                if isinstance(cell, Text):
                    filler = cell.copy()
                    filler.plain = placeholder
                lines = self._cell_lines(console, options, index, filler, style, widths[index], "body")
                templates[shape] = (placeholder, lines)
            placeholder, lines = templates[shape]
            if not text or len(lines) != 1:
                return (
                    lines
                    if text == placeholder
                    else self._cell_lines(console, options, index, cell, style, widths[index], "body")
                )
            (line,) = lines
            joined = "".join(segment.text for segment in line)
            at = joined.find(placeholder)
            if at < 0:
                return self._cell_lines(console, options, index, cell, style, widths[index], "body")
            filled = joined[:at] + text + joined[at + len(text) :]
            result, start = [], 0
            for segment in line:
                end = start + len(segment.text)
                result.append(Segment(filled[start:end], segment.style, segment.control))
                start = end
            return [result]

        yield Segment(box.get_top(widths), border_style)
        yield new_line
        body = list(zip(*(column._cells for column in self.columns)))
        rows: list[tuple[str, tuple[Any, ...]]] = [("header", tuple(column.header for column in self.columns))]
        rows += [("body", cells) for cells in body]
        if self.show_footer:
            rows.append(("footer", tuple(column.footer for column in self.columns)))
        divider = Segment(box.head_vertical, border_style)
        first_width = widths[0] - self._get_padding_width(0)
        for number, (kind, cells) in enumerate(rows):
            last = number == len(rows) - 1
            if kind == "footer":
                yield Segment(box.get_row(widths, "foot", edge=True), border_style)
                yield new_line
            name = cells[0].plain if isinstance(cells[0], Text) else cells[0]
            if kind == "body" and isinstance(name, str) and len(name) > first_width:
                whole = cells[0] if isinstance(cells[0], Text) else Text(name)
                whole = Text(box.mid_left) + whole
                whole.stylize_before(cell_styles[0], len(box.mid_left))
                whole.pad_right(sum(widths) + self._extra_width - len(whole))
                yield from whole.render(console)
                yield new_line
                cells = ("", *cells[1:])
            rendered: list[list[list[Segment]]] = []
            styles: list[Style] = []
            for index, cell in enumerate(cells):
                column = self.columns[index]
                if kind == "body":
                    style = cell_styles[index] + null
                    rendered.append(body_cell(index, cell))
                else:
                    style = (header_style if kind == "header" else footer_style) + get_style(
                        column.header_style if kind == "header" else column.footer_style
                    )
                    style = style + null
                    rendered.append(self._cell_lines(console, options, index, cell, style, widths[index], kind))
                styles.append(style)
            height = max(len(lines) for lines in rendered)
            if height > 1 or kind != "body":
                shaped = []
                for index, lines in enumerate(rendered):
                    vertical = {"header": "bottom", "footer": "top"}.get(kind, self.columns[index].vertical)
                    align = {"top": Segment.align_top, "middle": Segment.align_middle}.get(
                        vertical, Segment.align_bottom
                    )
                    shaped.append(
                        Segment.set_shape(align(lines, widths[index], height, styles[index]), widths[index], height)
                    )
                rendered = shaped
            if kind == "header":
                left, right, between = box.head_left, box.head_right, box.head_vertical
            elif last:
                left, right, between = box.foot_left, box.foot_right, box.foot_vertical
            else:
                left, right, between = box.mid_left, box.mid_right, box.mid_vertical
            left_segment, right_segment = Segment(left, border_style), Segment(right, border_style)
            divider = Segment(between, border_style)
            if not between.strip():  # a blank divider takes the row's background, as rich does
                divider = Segment(between, null.background_style + divider.style)
            if plain:  # no colours: one segment a line prints the same characters, with less work
                for line_number in range(height):
                    parts = [left]
                    for index, lines in enumerate(rendered):
                        parts += [segment.text for segment in lines[line_number]]
                        parts.append(between if index < len(rendered) - 1 else right)
                    yield Segment("".join(parts))
                    yield new_line
                if kind == "header":
                    yield Segment(box.get_row(widths, "head", edge=True), border_style)
                    yield new_line
                continue
            for line_number in range(height):
                yield left_segment
                for index, lines in enumerate(rendered):
                    yield from lines[line_number]
                    if index < len(rendered) - 1:
                        yield divider
                yield right_segment
                yield new_line
            if kind == "header":
                yield Segment(box.get_row(widths, "head", edge=True), border_style)
                yield new_line
        yield Segment(box.get_bottom(widths), border_style)
        yield new_line
