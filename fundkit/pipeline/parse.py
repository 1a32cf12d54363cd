"""Reading the values funding APIs actually send: two Grants.gov date formats, ISO dates,
amounts as strings or numbers (or "", "none", missing), HTML descriptions, lists of codes."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any

_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_LONG_DATE = re.compile(
    r"^([A-Z][a-z]{2}) (\d{1,2}), (\d{4})(?: (\d{1,2}):(\d{2}):(\d{2}) ([AP]M))?(?: ([A-Z]{2,4}))?$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ZONES = {
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "UTC": 0,
    "GMT": 0,
}
_AMOUNT = re.compile(r"^\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([kKmMbB]?)$")
_NONE = {"", "none", "null", "n/a", "na", "tbd", "-"}


def parse_datetime(value: Any) -> datetime | None:
    """A timestamp from ``Oct 11, 2023 05:17:55 PM EDT``, ``10/11/2023`` or ISO 8601 (UTC)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.lower() in _NONE:
        return None
    if us := _US_DATE.match(text):
        month, day, year = (int(g) for g in us.groups())
        return datetime(year, month, day, tzinfo=UTC)
    if long := _LONG_DATE.match(text):
        mon, dd, yyyy, hour, minute, second, ampm, zone = long.groups()
        h = int(hour or 0) % 12 + (12 if ampm == "PM" else 0)
        tz = timezone(timedelta(hours=_ZONES.get(zone or "UTC", 0)))
        return datetime(
            int(yyyy), _MONTHS[mon], int(dd), h, int(minute or 0), int(second or 0), tzinfo=tz
        ).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    """The calendar date as written (no time-zone shift): what a deadline means."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip() if value is not None else ""
    if m := _LONG_DATE.match(text):
        return date(int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)))
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    parsed = parse_datetime(value)
    return parsed.date() if parsed else None


def parse_amount(value: Any) -> float | None:
    """Dollars from 2500000, "2500000", "2,500,000", "$2.5M"; None for "", "none", junk."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    text = str(value).strip()
    if text.lower() in _NONE:
        return None
    m = _AMOUNT.match(text)
    if not m:
        return None
    number = float(m.group(1).replace(",", ""))
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()]
    return number * scale


def parse_int(value: Any) -> int | None:
    amount = parse_amount(value)
    return int(amount) if amount is not None else None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    return {
        "true": True,
        "yes": True,
        "y": True,
        "1": True,
        "false": False,
        "no": False,
        "n": False,
        "0": False,
    }.get(text)


class _Text(HTMLParser):
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: Any) -> str:
    """Plain text from an HTML fragment: tags dropped, entities decoded, spaces tidied."""
    if value is None:
        return ""
    text = str(value)
    if "<" in text or "&" in text:
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = html.unescape("".join(parser.parts))
    text = text.replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_list(value: Any) -> list[str]:
    """A list of labels from strings, {"description": ...} objects or ALN objects."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            label = (
                item.get("description")
                or item.get("assistance_listing_number")
                or item.get("alnNumber")
                or item.get("label")
                or item.get("name")
                or item.get("id")
            )
        else:
            label = item
        if label is not None and str(label).strip():
            out.append(str(label).strip())
    return out


def normalize_status(value: Any) -> str | None:
    """open | upcoming | closed from Grants.gov and simpler.grants.gov words."""
    text = str(value).strip().lower() if value is not None else ""
    return {
        "posted": "open",
        "open": "open",
        "active": "open",
        "forecasted": "upcoming",
        "forecast": "upcoming",
        "upcoming": "upcoming",
        "closed": "closed",
        "archived": "closed",
        "inactive": "closed",
    }.get(text)
