"""Dedupe: decide NEW, UPDATE or SKIP for each record against what the store already holds.

The original's rules, on one snake_case model:

1. Match by (source, external id), but only if the titles are similar (equal, one contains
   the other, or Jaccard ≥ 0.7 on words longer than 3 letters); else by the normalised title
   (titles under 10 characters are not matched by title). No match: **NEW**. An id that
   matches with a dissimilar title and no title match is the same record renamed: it is
   compared like any match (the title shows as changed).
2. If both sides have ``api_updated_at`` and the incoming one is not newer: **SKIP**
   (``api_timestamp_not_newer``).
3. Compare the critical fields (title, award floor and ceiling, total funding, open and close
   dates, status): an amount that moves more than 5 %, null ↔ value or 0 ↔ non-zero; a date
   that differs at day level; a string that differs ignoring case and spacing. Any change:
   **UPDATE** naming the fields; none: **SKIP** (``no_critical_changes``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from fundkit.model import CRITICAL_FIELDS, Opportunity

PathType = Literal["NEW", "UPDATE", "SKIP"]
AMOUNTS = ("award_floor", "award_ceiling", "total_funding")
DATES = ("open_date", "close_date")


def normalize_title(title: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", title.casefold())).strip()


def _words(title: str) -> set[str]:
    return {w for w in normalize_title(title).split() if len(w) > 3}


def titles_similar(a: str, b: str) -> bool:
    na, nb = normalize_title(a), normalize_title(b)
    if na == nb or (na and nb and (na in nb or nb in na)):
        return True
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.7


def _amount_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    before, after = float(old), float(new)
    if before == 0 or after == 0:
        return (before == 0) != (after == 0)
    return abs(after - before) / abs(before) > 0.05


def _text_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return " ".join(str(old).casefold().split()) != " ".join(str(new).casefold().split())


def _date_changed(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return str(old)[:10] != str(new)[:10]


def changed_fields(record: Opportunity, row: dict[str, Any]) -> list[str]:
    """The critical fields whose incoming value differs from the stored one."""
    changed = []
    for name in CRITICAL_FIELDS:
        new, old = getattr(record, name), row.get(name)
        if name in AMOUNTS:
            differs = _amount_changed(old, new)
        elif name in DATES:
            differs = _date_changed(old, new.isoformat() if new is not None else None)
        else:
            differs = _text_changed(old, new)
        if differs:
            changed.append(name)
    return changed


@dataclass
class Decision:
    """What dedupe decided for one record, and why."""

    record: Opportunity
    path_type: PathType
    reason: str
    method: str | None = None  # id | title
    changed: list[str] = field(default_factory=list)
    existing: dict[str, Any] | None = None


def decide(
    record: Opportunity, by_id: dict[str, dict[str, Any]], by_title: dict[str, dict[str, Any]]
) -> Decision:
    """One record against the stored rows of its source (looked up by id and by title)."""
    row = by_id.get(record.external_id)
    method = None
    if row is not None and titles_similar(record.title, row["title"]):
        method = "id"
    else:
        titled = by_title.get(normalize_title(record.title)) if len(record.title) >= 10 else None
        if titled is not None:
            row, method = titled, "title"
        elif row is not None:
            method = "id"  # the same record, renamed
    if row is None:
        return Decision(record, "NEW", "no_duplicate_found")
    stored = row.get("api_updated_at")
    if (
        record.api_updated_at is not None
        and stored
        and record.api_updated_at <= datetime.fromisoformat(stored)
    ):
        return Decision(record, "SKIP", "api_timestamp_not_newer", method, existing=row)
    changed = changed_fields(record, row)
    if changed:
        return Decision(record, "UPDATE", "critical_fields_changed", method, changed, row)
    return Decision(record, "SKIP", "no_critical_changes", method, existing=row)
