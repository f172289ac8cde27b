"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, readable when printed.

Pure functions returning SVG markup; every label is XML-escaped here."""

from __future__ import annotations

from html import escape

# Twelve distinguishable colours: the rule engine has eleven rules, one colour each.
PALETTE = ["#0b5cad", "#b54708", "#067647", "#b42318", "#6941c6", "#0e9384", "#c11574",
           "#475467", "#ca8504", "#3e1c96", "#4e5ba6", "#7a2e0e"]


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


def _ticks(peak: int) -> list[int]:
    """Whole-number y-axis ticks from 0 to at least `peak`, a step of 1, 2 or 5 times a
    power of ten: the smallest step that needs at most five intervals."""
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            intervals = -(-peak // step)  # ceiling
            if intervals <= 5:
                return list(range(0, intervals * step + 1, step))
        power *= 10


def stacked_columns(
    series: dict[str, list[int]],
    *,
    labels: list[str],
    title: str,
    width: int = 860,
    height: int = 260,
) -> str:
    """One column per x label, stacked by series (a colour each), over a y axis with
    whole-number ticks; a legend with each series' total; every segment titled with its
    series, label and count (a tooltip, and read out by screen readers)."""
    left, right, top, bottom = 40, 170, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values() if i < len(values))
              for i in range(len(labels))]
    ticks = _ticks(max(totals, default=0) or 1)
    scale = plot_h / ticks[-1]
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, min(36.0, slot * 0.7))
    parts = _svg_open(width, height, title)
    for tick in ticks:
        y = top + plot_h - tick * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="{"#98a2b3" if tick == 0 else "#e4e7ec"}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6675">{tick}</text>'
        )
    every = max(1, -(-len(labels) // 14))
    for index, label in enumerate(labels):
        if index % every == 0 or index == len(labels) - 1:
            x = left + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle" fill="#5b6675">{escape(label)}</text>'
            )
    if not any(totals):
        parts.append(
            f'<text x="{left + 10}" y="{top + plot_h / 2:.0f}" font-size="13" '
            'fill="#5b6675">No alerts in this period</text>'
        )
    base = [0] * len(labels)
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        for day, value in enumerate(values[: len(labels)]):
            if not value:
                continue
            y = top + plot_h - (base[day] + value) * scale
            x = left + slot * (day + 0.5) - bar_w / 2
            noun = "alert" if value == 1 else "alerts"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{value * scale:.1f}" fill="{colour}" stroke="#ffffff" '
                f'stroke-width="1"><title>{escape(name)}, {escape(labels[day])}: '
                f"{value} {noun}</title></rect>"
            )
            base[day] += value
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
