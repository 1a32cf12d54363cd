"""The offline backend: deterministic extraction by field mapping, no enhancement.

Each canonical field is read from the item by the source's mapping (a dot path, or a list of
dot paths tried in order), then parsed: both Grants.gov date formats and ISO dates, amounts
given as strings, HTML to text, lists of codes to their labels.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from fundkit.fetch import dot_get
from fundkit.llm.base import Enhancement, ExtractFailure, LLMCall
from fundkit.model import Opportunity
from fundkit.pipeline.parse import (
    html_to_text,
    normalize_status,
    parse_amount,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_int,
    parse_list,
)
from fundkit.sources.config import GRANTS_GOV_MAPPING, SIMPLER_MAPPING

DEFAULT_MAPPINGS = {
    "grants_gov": GRANTS_GOV_MAPPING,
    "sample": GRANTS_GOV_MAPPING,
    "simpler_grants": SIMPLER_MAPPING,
}
URLS = {
    "grants_gov": "https://www.grants.gov/search-results-detail/{id}",
    "sample": "https://www.grants.gov/search-results-detail/{id}",
    "simpler_grants": "https://simpler.grants.gov/opportunity/{id}",
}
PARSERS = {
    "description": html_to_text,
    "status": normalize_status,
    "open_date": parse_date,
    "close_date": parse_date,
    "award_floor": parse_amount,
    "award_ceiling": parse_amount,
    "total_funding": parse_amount,
    "expected_awards": parse_int,
    "cost_sharing": parse_bool,
    "applicant_types": parse_list,
    "funding_instruments": parse_list,
    "categories": parse_list,
    "assistance_listings": parse_list,
    "api_updated_at": parse_datetime,
}


def lookup(item: Any, paths: str | list[str] | None) -> Any:
    """The first non-empty value among the mapping's dot paths."""
    for path in [paths] if isinstance(paths, str) else paths or []:
        value = dot_get(item, path)
        if value not in (None, "", []):
            return value
    return None


def record_from_item(item: dict[str, Any], config: dict[str, Any]) -> Opportunity:
    """One raw item → one canonical record; raises ValueError with the reason."""
    source_type = config.get("source_type", "")
    mapping = {**DEFAULT_MAPPINGS.get(source_type, {}), **(config.get("mapping") or {})}
    external_id = lookup(item, mapping.get("external_id", "id"))
    if external_id is None:
        raise ValueError("no id")
    title = html_to_text(lookup(item, mapping.get("title")))
    if not title:
        raise ValueError("no title")
    fields: dict[str, Any] = {}
    for name, parse in PARSERS.items():
        value = lookup(item, mapping.get(name))
        fields[name] = parse(value) if value is not None else None
    fields["description"] = fields["description"] or ""
    for name in ("applicant_types", "funding_instruments", "categories", "assistance_listings"):
        fields[name] = fields[name] or []
    url = lookup(item, mapping.get("url"))
    if url is None and source_type in URLS:
        url = URLS[source_type].format(id=external_id)
    number = lookup(item, mapping.get("opportunity_number"))
    return Opportunity(
        source_id=str(config.get("source_id") or "unknown"),
        external_id=str(external_id),
        opportunity_number=str(number) if number is not None else None,
        title=title,
        agency_code=_text(lookup(item, mapping.get("agency_code"))),
        agency_name=_text(lookup(item, mapping.get("agency_name"))),
        url=str(url) if url else None,
        **fields,
    )


def _text(value: Any) -> str | None:
    return html_to_text(value) or None if value is not None else None


class RulesBackend:
    """Deterministic and offline: the default when no API key is set."""

    name = "rules"

    def extract(
        self, items: list[dict[str, Any]], config: dict[str, Any], calls: list[LLMCall]
    ) -> tuple[list[Opportunity], list[ExtractFailure]]:
        records: list[Opportunity] = []
        failures: list[ExtractFailure] = []
        for index, item in enumerate(items):
            try:
                records.append(record_from_item(item, config))
            except (ValueError, ValidationError) as exc:
                item_id = (
                    str(dot_get(item, "id") or f"#{index}")
                    if isinstance(item, dict)
                    else f"#{index}"
                )
                failures.append(
                    ExtractFailure(item_id, f"{type(exc).__name__}: {exc}".splitlines()[0])
                )
        return records, failures

    def enhance(self, records: list[Opportunity], calls: list[LLMCall]) -> dict[str, Enhancement]:
        return {}
