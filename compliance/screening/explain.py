"""The reasons of a screening decision in words, for the operator who decides its case.

A decision stores its reasons as data (``ScreeningDecision.reasons``, copied to its case); a name
hit carries the matcher's explanation (``Hit.explain``: the name score, what each piece of
evidence was found to be and how much it moved the score). What the list says about the entry
(its dates of birth, countries, gender) is read from the list version the hit names, which is
kept (``compliance.selectors.listed_entry_evidence``), not copied into every decision. This
module turns each reason into a few lines an operator reads without decoding JSON: what was
screened, what it matched, and how the score is made (name, then each piece of evidence with its
sign).
"""

from collections.abc import Callable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# What the matcher found for one piece of evidence, in words.
FOUND = {
    "exact": "same date",
    "month": "same month and year",
    "year": "same year, or within the listed years",
    "near": "one year off the listed years",
    "match": "matches",
    "mismatch": "contradicts the list",
    "absent": "not given, or not listed",
}
EVIDENCE_LABELS = {"date_of_birth": "date of birth", "country": "country", "gender": "gender"}


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "\u2212")


def _evidence_part(field: str, reason: dict, entry: dict) -> str:
    found = (reason.get("fields") or {}).get(field, "absent")
    adjustment = float((reason.get("adjustments") or {}).get(field, 0.0))
    listed = entry.get(field)
    if isinstance(listed, list):
        listed = ", ".join(str(value) for value in listed)
    detail = FOUND.get(str(found), str(found))
    if listed:
        detail += f"; listed {listed}"
    return f"{EVIDENCE_LABELS[field]} {_signed(adjustment)} ({detail})"


def name_hit_lines(reason: dict, entry: dict | None = None) -> list[str]:
    """A name hit (rule ``sanctioned-name`` or ``whitelisted-name``) in words; ``entry``: what
    the list says of the entry ({date_of_birth: [...], country: [...], gender}), if known."""
    entry = entry or {}
    kind = reason.get("entry_type") or "entry"
    trigger = " found by a list change" if reason.get("trigger") == "list-change" else ""
    cleared = ""
    if reason.get("rule") == "whitelisted-name":
        cleared = " (cleared by a whitelist: recorded only)"
    thresholds = reason.get("thresholds") or {}
    score = float(reason.get("score", 0.0))
    name_score = float(reason.get("name_score", score))
    parts = [f"name {name_score:.2f}"] + [_evidence_part(field, reason, entry)
                                          for field in EVIDENCE_LABELS]
    unclamped = name_score + sum(float(value) for value in
                                 (reason.get("adjustments") or {}).values())
    capped = " (kept between 0 and 1)" if abs(unclamped - score) > 0.0001 else ""
    lines = [
        f"Name hit{trigger}{cleared}: {reason.get('screened_name', '?')!r} matched "
        f"{reason.get('matched_name', '?')!r}, {reason.get('list', '?')} {kind} "
        f"{reason.get('entry_id', '?')}: {str(reason.get('decision', '')).upper() or '?'}",
        f"Score {score:.2f} = " + ", ".join(parts) + capped,
    ]
    words = (reason.get("fields") or {}).get("name") or []
    if words:
        lines.append("Words (screened~listed similarity): " + ", ".join(map(str, words)))
    rarity = reason.get("rarity") or {}
    if rarity:
        lines.append("Word rarity: " + ", ".join(f"{key} {value}"
                                                  for key, value in sorted(rarity.items())))
    if thresholds:
        lines.append(f"Thresholds: review from {thresholds.get('review')}, block from "
                     f"{thresholds.get('block')}")
    return lines


EntryLookup = Callable[[dict], dict]  # a name hit's reason -> what the list says of its entry


def reason_lines(reason: dict, entry_lookup: EntryLookup | None = None) -> list[str]:
    """One reason of a decision in words; a rule this module does not know is listed as is."""
    if not isinstance(reason, dict):
        return [str(reason)]
    rule = reason.get("rule") or reason.get("kind") or "?"
    if rule in ("sanctioned-name", "whitelisted-name") and "matched_name" in reason:
        return name_hit_lines(reason, entry_lookup(reason) if entry_lookup else None)
    if rule == "sanctioned-address":
        return [f"Paying or refund address {reason.get('address')} is on {reason.get('list')} "
                f"(entry {reason.get('entry_id') or '-'}, {reason.get('ticker') or '-'})"]
    if rule == "amount-review":
        return [f"Amount {reason.get('amount_in')} reaches the corridor's review amount "
                f"{reason.get('threshold')}"]
    if rule == "lists-missing":
        return ["No sanctions list was loaded: nothing could be cleared"]
    if rule == "operator":
        return [f"Operator {reason.get('operator')}: {reason.get('note')}"]
    details = ", ".join(f"{key} {value}" for key, value in reason.items() if key != "rule")
    return [f"{rule}: {details}" if details else str(rule)]


ActionLink = Callable[[dict], tuple[str, str] | None]  # a reason -> (label, URL) or None


def reasons_html(reasons: list, entry_lookup: EntryLookup | None = None,
                 action_link: ActionLink | None = None) -> SafeString:
    """The reasons as an HTML list for the admin: one item per reason, one line per part, and
    the action ``action_link`` offers for it (clearing a false positive), if any."""
    if not reasons:
        return format_html("{}", "-")
    line_break = format_html("<br>")

    def item(reason) -> SafeString:
        lines = format_html_join(line_break, "{}",
                                 ((line,) for line in reason_lines(reason, entry_lookup)))
        link = action_link(reason) if action_link and isinstance(reason, dict) else None
        if link is None:
            return lines
        return format_html('{}<br><a href="{}">{}</a>', lines, link[1], link[0])

    items = format_html_join("", "<li>{}</li>", ((item(reason),) for reason in reasons))
    return format_html('<ul class="screening-reasons">{}</ul>', items)
