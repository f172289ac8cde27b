"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, readable when printed.

Pure functions returning SVG markup; every label is XML-escaped here."""

from __future__ import annotations

from html import escape

PALETTE = ["#0b5cad", "#b54708", "#067647", "#b42318", "#6941c6", "#0e9384", "#c11574", "#475467"]


def _svg_open(width: int, height: int, title: str) -> list[str]:
    """An accessible SVG root with its title drawn at the top left."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="600" fill="#1b2430">'
        f"{escape(title)}</text>",
    ]


def bar_chart(
    items: list[tuple[str, int]], *, title: str, width: int = 420, bar_height: int = 22
) -> str:
    """Horizontal bars, one per (label, value), value printed at the bar's end."""
    label_width, gap, top = 150, 6, 28
    height = top + len(items) * (bar_height + gap) + 8
    peak = max((v for _, v in items), default=0) or 1
    span = width - label_width - 50
    parts = _svg_open(width, height, title)
    for index, (label, value) in enumerate(items):
        y = top + index * (bar_height + gap)
        length = round(span * value / peak)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" '
            f'font-size="12" text-anchor="end" fill="#1b2430">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{max(length, 1)}" '
            f'height="{bar_height}" rx="3" fill="{PALETTE[index % len(PALETTE)]}"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 6}" y="{y + bar_height * 0.7:.1f}" '
            f'font-size="12" fill="#1b2430">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: dict[str, list[int]],
    *,
    labels: list[str],
    title: str,
    width: int = 860,
    height: int = 260,
) -> str:
    """One polyline per series over shared x labels, with a legend and a y axis."""
    left, right, top, bottom = 40, 160, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((max(values, default=0) for values in series.values()), default=0) or 1
    steps = max(len(labels) - 1, 1)
    parts = [
        *_svg_open(width, height, title),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#98a2b3"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#98a2b3"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="11" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    for index, label in enumerate(labels):
        if index % max(1, len(labels) // 7) == 0 or index == len(labels) - 1:
            x = left + plot_w * index / steps
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="#5b6675">{escape(label)}</text>'
            )
    if not series:
        parts.append(
            f'<text x="{left + 10}" y="{top + plot_h / 2:.0f}" font-size="13" '
            'fill="#5b6675">No alerts in this period</text>'
        )
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{left + plot_w * i / steps:.1f},{top + plot_h * (1 - v / peak):.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        y = top + 14 + index * 18
        parts.append(
            f'<rect x="{width - right + 12}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{width - right + 28}" y="{y}" font-size="12" '
            f'fill="#1b2430">{escape(name)} ({sum(values)})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
