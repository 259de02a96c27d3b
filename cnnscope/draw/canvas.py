"""A tiny vector canvas: rectangles, polygons, lines and text, written out as clean SVG.

Text stays text (``<text>``), so every size in a figure can be searched and edited. Widths
of text are estimated from the advance widths of DejaVu Sans (the font the figures name
first, and the one the PNG renderer finds on most Linux systems): an honest approximation
that errs on the wide side, good enough to keep labels apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from xml.sax.saxutils import escape, quoteattr

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
OUTPUT = "#a0202a"  # the tag of what a model returns, in either style

# Advance widths of DejaVu Sans in em (its units per em are 2048), for the characters labels use.
_WIDTHS = {
    **dict.fromkeys("0123456789", 0.636),
    **dict.fromkeys(" .,:;|!'", 0.318),
    **dict.fromkeys("ijl", 0.278),
    **dict.fromkeys("ft", 0.39),
    **dict.fromkeys("r", 0.411),
    **dict.fromkeys("sz", 0.525),
    **dict.fromkeys("ckvxy", 0.592),
    **dict.fromkeys("abdeghnopqu", 0.634),
    **dict.fromkeys("w", 0.818),
    **dict.fromkeys("m", 0.974),
    **dict.fromkeys("I", 0.295),
    **dict.fromkeys("JFL", 0.575),
    **dict.fromkeys("EPTZ", 0.632),
    **dict.fromkeys("ABKRSVXY", 0.695),
    **dict.fromkeys("CDGHNOQU", 0.77),
    **dict.fromkeys("MW", 0.99),
    **dict.fromkeys("-/()[]", 0.39),
    **dict.fromkeys("_", 0.5),
    **dict.fromkeys("+=<>\u00d7\u2192", 0.838),  # times and arrow too
    "·": 0.318,
}
_DEFAULT_WIDTH = 0.7  # anything else: wider than most letters
_BOLD = 1.1  # DejaVu Sans Bold is about a tenth wider
ASCENT, DESCENT = 0.76, 0.24  # of the font size, above and below the baseline


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated width of ``text`` set at ``size`` pixels."""
    return _ems(text) * size * (_BOLD if bold else 1.0)


@lru_cache(maxsize=8192)
def _ems(text: str) -> float:
    """Width in em (fitting a figure lays the same labels out several times)."""
    return sum(_WIDTHS.get(char, _DEFAULT_WIDTH) for char in text)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 12
    anchor: str = "middle"  # start | middle | end
    bold: bool = False
    fill: str = "#222"
    role: str = "label"  # what the text says: name, size, kernel, legend, title, ...

    @cached_property
    def bbox(self) -> Box:
        width = text_width(self.text, self.size, self.bold)
        x0 = self.x - {"start": 0.0, "middle": width / 2, "end": width}[self.anchor]
        return (x0, self.y - ASCENT * self.size, x0 + width, self.y + DESCENT * self.size)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = "none"
    stroke: str = "#333"
    dash: bool = False
    radius: float = 0

    @property
    def bbox(self) -> Box:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str = "none"
    stroke: str = "#333"

    @property
    def bbox(self) -> Box:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass(frozen=True)
class Line:
    """A polyline; ``arrow`` puts an arrowhead at its end."""

    points: tuple[tuple[float, float], ...]
    stroke: str = "#555"
    arrow: bool = False
    dash: bool = False
    width: float = 1.0

    @property
    def bbox(self) -> Box:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))


Element = Text | Rect | Polygon | Line


@dataclass
class Group:
    """Elements that draw one thing (a layer, an edge, the legend): one ``<g>`` in the SVG, with
    ``data`` as ``data-*`` attributes, ``tip`` as its ``<title>`` (what a browser shows on hover)
    and ``children``, the groups it holds (a frame holds its boxes)."""

    kind: str
    name: str = ""
    elements: list[Element] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    tip: str = ""
    children: list[Group] = field(default_factory=list)

    def walk(self) -> Iterator[Group]:
        yield self
        for child in self.children:
            yield from child.walk()


SLIDE = (1920, 1080)  # the 16:9 slide a figure fits by default
LEGIBLE = 9.0  # the smallest text, in pixels, once the figure is scaled to the slide


@dataclass
class Canvas:
    groups: list[Group] = field(default_factory=list)
    title: str = ""
    note: str = ""  # what was folded or wrapped to fit the slide, for the user

    def group(self, kind: str, name: str = "", parent: Group | None = None) -> Group:
        new = Group(kind, name)
        (parent.children if parent is not None else self.groups).append(new)
        return new

    def walk(self) -> Iterator[Group]:
        for group in self.groups:
            yield from group.walk()

    @property
    def texts(self) -> list[Text]:
        return [e for g in self.walk() for e in g.elements if isinstance(e, Text)]

    def slide_text(self) -> float:
        """The smallest text's height in pixels when the figure is shown on the slide (never enlarged)."""
        width, height = self.size()
        scale = min(1.0, SLIDE[0] / width, SLIDE[1] / height)
        return min((t.size for t in self.texts), default=LEGIBLE) * scale

    @property
    def bbox(self) -> Box:
        boxes = [e.bbox for g in self.walk() for e in g.elements] or [(0.0, 0.0, 1.0, 1.0)]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )

    def size(self, margin: float = 16) -> tuple[int, int]:
        """Width and height of the SVG in pixels (whole pixels, so a PNG's size is exact)."""
        x0, y0, x1, y1 = self.bbox
        return round(x1 - x0 + 2 * margin + 0.5), round(y1 - y0 + 2 * margin + 0.5)

    def to_svg(self, margin: float = 16) -> str:
        x0, y0, _, _ = self.bbox
        width, height = self.size(margin)
        ox, oy = margin - x0, margin - y0
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
            f' viewBox="0 0 {width} {height}" font-family={quoteattr(FONT)}>',
        ]
        if self.title:
            out.append(f"<title>{_escape(self.title)}</title>")
        out += [
            "<defs>",
            '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
            ' orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>',
            "</defs>",
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<g transform="translate({_n(ox)} {_n(oy)})">',
        ]
        for group in self.groups:
            _group(group, out)
        out += ["</g>", "</svg>", ""]
        return "\n".join(out)


# what XML 1.0 cannot hold, even escaped: C0 controls but tab, newline and return; U+FFFE, U+FFFF; lone surrogates
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML cannot hold (a name is text, whatever it contains)."""
    return _NOT_XML.sub("", text)


def _escape(text: str) -> str:
    return escape(xml_safe(text))


def _attr(text: str) -> str:
    return quoteattr(xml_safe(text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _group(group: Group, out: list[str]) -> None:
    attributes = f" data-name={_attr(group.name)}" if group.name else ""
    attributes += "".join(f" data-{key}={_attr(value)}" for key, value in group.data.items())
    out.append(f'<g class="{group.kind}"{attributes}>')
    if group.tip:
        out.append(f"<title>{_escape(group.tip)}</title>")
    out += (_svg(element) for element in group.elements)
    for child in group.children:
        _group(child, out)
    out.append("</g>")


def _n(value: float) -> str:
    """Coordinates to a tenth of a pixel: short text, no visible loss."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _points(points: tuple[tuple[float, float], ...]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def _svg(element: Element) -> str:
    if isinstance(element, Text):
        weight = ' font-weight="bold"' if element.bold else ""
        return (
            f'<text x="{_n(element.x)}" y="{_n(element.y)}" font-size="{_n(element.size)}"'
            f' text-anchor="{element.anchor}" fill="{element.fill}"{weight}>{_escape(element.text)}</text>'
        )
    if isinstance(element, Rect):
        dash = ' stroke-dasharray="5 3"' if element.dash else ""
        radius = f' rx="{_n(element.radius)}"' if element.radius else ""
        return (
            f'<rect x="{_n(element.x)}" y="{_n(element.y)}" width="{_n(element.w)}" height="{_n(element.h)}"'
            f'{radius} fill="{element.fill}" stroke="{element.stroke}"{dash}/>'
        )
    if isinstance(element, Polygon):
        return (
            f'<polygon points="{_points(element.points)}" fill="{element.fill}"'
            f' stroke="{element.stroke}" stroke-linejoin="round"/>'
        )
    arrow = ' marker-end="url(#arrow)"' if element.arrow else ""
    dash = ' stroke-dasharray="4 3"' if element.dash else ""
    return (
        f'<polyline points="{_points(element.points)}" fill="none" stroke="{element.stroke}"'
        f' stroke-width="{_n(element.width)}"{dash}{arrow}/>'
    )


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
