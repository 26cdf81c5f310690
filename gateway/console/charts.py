"""Server-rendered SVG charts (no script, no CDN): stacked bars per day and horizontal bars.

Every chart is an ``<svg role="img">`` with a title and a description, each bar carries a
``<title>`` tooltip, and the page shows the same numbers in a table next to it.
"""

from decimal import Decimal

from django.utils.html import escape

from gateway.common.money import (
    CRYPTO_ASSET_EXPONENTS,
    UnknownCurrencyError,
    currency_exponent,
)

# Colour-blind-safe palette (Okabe-Ito), dark enough against white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442"]
TEXT = "#333"


def money_text(amount: Decimal | None, currency: str) -> str:
    """Thousands separators and the currency's own number of places (12,700.00 KES, 1,500 JPY);
    stablecoins to the cent."""
    if amount is None:
        return "—"
    try:
        places = currency_exponent(currency)
    except UnknownCurrencyError:
        places = 2
    if currency in CRYPTO_ASSET_EXPONENTS:
        places = min(places, 2)
    return f"{amount:,.{places}f} {currency}"


def _number(value) -> float:
    return float(value or 0)  # drawing coordinates only; the figures stay Decimal elsewhere


def stacked_bars(*, title: str, categories: list[str], series: list[tuple[str, list]],
                 unit: str = "", width: int = 640, height: int = 220) -> str:
    left, right, top, bottom = 56, 12, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(_number(values[i]) for _, values in series) for i in range(len(categories))]
    peak = max([*totals, 0]) or 1
    slot = plot_w / max(len(categories), 1)
    bar = max(min(slot * 0.7, 40), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height + 18 * ((len(series) + 3) // 4)}" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for step in range(5):
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="{TEXT}">{value:,.0f}</text>')
    for index, category in enumerate(categories):
        x = left + slot * index + (slot - bar) / 2
        base = top + plot_h
        for colour_index, (name, values) in enumerate(series):
            value = _number(values[index])
            if not value:
                continue
            h = plot_h * value / peak
            base -= h
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[colour_index % len(PALETTE)]}"><title>'
                         f'{escape(category)} · {escape(name)}: {values[index]} {escape(unit)}'
                         f'</title></rect>')
        every = max(1, len(categories) // 10)
        if index % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="11" '
                         f'text-anchor="middle" fill="{TEXT}">{escape(category[5:])}</text>')
    for colour_index, (name, _) in enumerate(series):
        lx = left + (colour_index % 4) * 150
        ly = height - 12 + 18 * (colour_index // 4)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" '
                     f'fill="{PALETTE[colour_index % len(PALETTE)]}"/>'
                     f'<text x="{lx + 14}" y="{ly}" font-size="11" fill="{TEXT}">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(*, title: str, rows: list[tuple[str, float, str, float | None]],
                    width: int = 640) -> str:
    """``rows``: (label, value, value text, marker) — the marker is drawn as a vertical line
    (a refill threshold, a p90)."""
    left, right, row_h = 150, 110, 26
    height = row_h * max(len(rows), 1) + 10
    peak = max([_number(value) for _, value, _, _ in rows]
               + [_number(marker) for *_, marker in rows if marker is not None] + [0]) or 1
    plot_w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
             f'<title>{escape(title)}</title>']
    for index, (label, value, text, marker) in enumerate(rows):
        y = 5 + index * row_h
        w = plot_w * max(_number(value), 0) / peak
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="12" '
                     f'fill="{TEXT}">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="16" '
                     f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(text)}</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + 16}" font-size="12" fill="{TEXT}">'
                     f'{escape(text)}</text>')
        if marker is not None:
            mx = left + plot_w * _number(marker) / peak
            parts.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y}" y2="{y + 24}" '
                         f'stroke="{PALETTE[1]}" stroke-width="3"><title>marker '
                         f'{_number(marker):,.2f}</title></line>')
    parts.append("</svg>")
    return "".join(parts)
