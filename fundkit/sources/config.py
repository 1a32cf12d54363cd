"""The source model: what to call, how to page through it and where the items are.

Sources come from three layers, each on top of the one before: the defaults of the source's
*type* (``grants_gov``, ``simpler_grants``, ``json_api``, ``file``, ``sample``), fundkit's
built-in sources, and the ``[sources.NAME]`` tables of the workspace's ``sources.toml``. A
table whose NAME is a built-in source overrides only the fields it sets. Every source is
validated when loaded; an error names the source, the field and the file.

Secrets are never part of a source: ``api_key_env`` names the environment variable that holds
the key, and the key is read only when a request is sent.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fundkit.errors import ConfigError

SourceType = Literal["grants_gov", "simpler_grants", "json_api", "file", "sample"]
SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "apikey", "x-auth-token", "cookie")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Pagination(_Model):
    """How to ask for the next page. Parameter names are dot paths when ``in = "body"``."""

    style: Literal["offset", "page", "cursor", "none"] = "none"
    location: Literal["query", "body"] = Field("query", alias="in")
    offset_param: str = "offset"
    page_param: str = "page"
    size_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str | None = None  # where the response gives the next cursor
    start: int = Field(0, ge=0)  # the first offset or page number
    page_size: int = Field(100, gt=0, le=10_000)
    max_pages: int = Field(100, gt=0)


class Detail(_Model):
    """A second call per item (list-then-detail APIs); its data is merged as ``item["detail"]``."""

    enabled: bool = True
    path: str
    method: Literal["GET", "POST"] = "POST"
    id_field: str = "id"  # dot path in the list item
    id_param: str = "id"  # body key, or query parameter; unused when path has {id}
    id_type: Literal["str", "int"] = "str"
    data_path: str = ""
    concurrency: int = Field(6, ge=1, le=32)


class Source(_Model):
    """One source of funding opportunities."""

    id: str
    type: SourceType
    description: str = ""
    defined_in: str = "built-in"
    base_url: str | None = None
    path: str = ""
    method: Literal["GET", "POST"] = "GET"
    query: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    api_key_env: str | None = None
    api_key_header: str = "X-API-Key"
    api_key_required: bool = False
    data_path: str = ""
    total_path: str | None = None
    error_path: str | None = None  # a response field that is non-zero/true on an API error
    id_path: str = "id"
    pagination: Pagination = Field(default_factory=Pagination)
    detail: Detail | None = None
    mapping: dict[str, str | list[str]] = Field(default_factory=dict)
    instructions: str = ""
    chunk_size: int = Field(5, gt=0, le=1000)
    max_items: int = Field(1_000_000, gt=0)
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    backoff: float = Field(1.0, gt=0)  # first retry wait in seconds; doubles, with jitter
    file: str | None = None  # type "file": a JSON or JSONL file, relative to the workspace

    @model_validator(mode="after")
    def _check(self) -> Source:
        if self.type == "file":
            if not self.file:
                raise ValueError("file: required for a source of type file")
        elif self.type != "sample":
            if not self.base_url:
                raise ValueError(f"base_url: required for a source of type {self.type}")
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(
                    f"base_url: must start with http:// or https://, got {self.base_url!r}"
                )
        for name, value in self.headers.items():
            if name.lower() in SECRET_HEADERS and value:
                raise ValueError(
                    f"headers.{name}: secrets do not go in sources.toml; "
                    "set api_key_env to the name of an environment variable instead"
                )
        if self.pagination.style == "cursor" and not self.pagination.cursor_path:
            raise ValueError("pagination.cursor_path: required when pagination.style is cursor")
        return self

    def public(self) -> dict[str, Any]:
        """The source as plain data, safe to store in runs and jobs (it never holds a key)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"headers"})


GRANTS_GOV_MAPPING: dict[str, str | list[str]] = {
    "external_id": "id",
    "opportunity_number": ["number", "detail.opportunityNumber"],
    "title": ["title", "detail.opportunityTitle"],
    "agency_code": ["agencyCode", "detail.owningAgencyCode"],
    "agency_name": ["agencyName", "detail.synopsis.agencyName"],
    "status": "oppStatus",
    "open_date": ["openDate", "detail.synopsis.postingDate"],
    "close_date": ["closeDate", "detail.synopsis.responseDate"],
    "description": "detail.synopsis.synopsisDesc",
    "award_floor": "detail.synopsis.awardFloor",
    "award_ceiling": "detail.synopsis.awardCeiling",
    "total_funding": "detail.synopsis.estimatedFunding",
    "expected_awards": "detail.synopsis.expectedNumberOfAwards",
    "cost_sharing": "detail.synopsis.costSharing",
    "applicant_types": "detail.synopsis.applicantTypes",
    "funding_instruments": "detail.synopsis.fundingInstruments",
    "categories": "detail.synopsis.fundingActivityCategories",
    "assistance_listings": "alnist",
    "api_updated_at": "detail.synopsis.lastUpdatedDate",
}

SIMPLER_MAPPING: dict[str, str | list[str]] = {
    "external_id": "opportunity_id",
    "opportunity_number": "opportunity_number",
    "title": "opportunity_title",
    "agency_code": "agency_code",
    "agency_name": "agency_name",
    "status": "opportunity_status",
    "open_date": "summary.post_date",
    "close_date": "summary.close_date",
    "description": "summary.summary_description",
    "award_floor": "summary.award_floor",
    "award_ceiling": "summary.award_ceiling",
    "total_funding": "summary.estimated_total_program_funding",
    "expected_awards": "summary.expected_number_of_awards",
    "cost_sharing": "summary.is_cost_sharing",
    "applicant_types": "summary.applicant_types",
    "funding_instruments": "summary.funding_instruments",
    "categories": "summary.funding_categories",
    "assistance_listings": "opportunity_assistance_listings",
    "api_updated_at": "updated_at",
}

_GRANTS_GOV: dict[str, Any] = {
    "base_url": "https://api.grants.gov",
    "path": "/v1/api/search2",
    "method": "POST",
    "body": {"oppStatuses": "forecasted|posted"},
    "data_path": "data.oppHits",
    "total_path": "data.hitCount",
    "error_path": "errorcode",
    "id_path": "id",
    "pagination": {
        "style": "offset",
        "in": "body",
        "offset_param": "startRecordNum",
        "size_param": "rows",
        "page_size": 100,
        "max_pages": 50,
    },
    "detail": {
        "path": "/v1/api/fetchOpportunity",
        "method": "POST",
        "id_field": "id",
        "id_param": "opportunityId",
        "id_type": "int",
        "data_path": "data",
        "concurrency": 6,
    },
    "mapping": GRANTS_GOV_MAPPING,
}

TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "grants_gov": _GRANTS_GOV,
    "sample": {
        **_GRANTS_GOV,
        "base_url": None,
        "body": {"oppStatuses": "forecasted|posted|closed|archived"},
        "pagination": {**_GRANTS_GOV["pagination"], "page_size": 50},
    },
    "simpler_grants": {
        "base_url": "https://api.simpler.grants.gov",
        "path": "/v1/opportunities/search",
        "method": "POST",
        "body": {
            "filters": {"opportunity_status": {"one_of": ["forecasted", "posted"]}},
            "pagination": {
                "sort_order": [{"order_by": "opportunity_id", "sort_direction": "descending"}]
            },
        },
        "data_path": "data",
        "total_path": "pagination_info.total_records",
        "id_path": "opportunity_id",
        "api_key_env": "SIMPLER_GRANTS_API_KEY",
        "api_key_header": "X-API-Key",
        "api_key_required": True,
        "pagination": {
            "style": "page",
            "in": "body",
            "page_param": "pagination.page_offset",
            "size_param": "pagination.page_size",
            "start": 1,
            "page_size": 100,
            "max_pages": 100,
        },
        "mapping": SIMPLER_MAPPING,
    },
    "json_api": {},
    "file": {},
}

BUILT_IN: dict[str, dict[str, Any]] = {
    "sample": {
        "type": "sample",
        "description": "Bundled offline sample in the Grants.gov search2 + fetchOpportunity formats",
    },
    "grants-gov": {
        "type": "grants_gov",
        "description": "Grants.gov search2 with fetchOpportunity details",
    },
    "simpler-grants": {
        "type": "simpler_grants",
        "description": "simpler.grants.gov opportunity search (needs SIMPLER_GRANTS_API_KEY)",
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base`` (tables merge; other values replace)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and key not in ("mapping", "query")
        ):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_source(source_id: str, table: dict[str, Any], defined_in: str) -> Source:
    """Validate one source table (after the built-in layer); raise ConfigError naming the field."""
    kind = table.get("type")
    if kind not in TYPE_DEFAULTS:
        raise ConfigError(
            f"source {source_id!r}: field 'type': must be one of {', '.join(TYPE_DEFAULTS)}, got {kind!r}",
            path=None if defined_in == "built-in" else Path(defined_in),
        )
    data = _merge(TYPE_DEFAULTS[kind], table)
    if data.get("details") is False:  # the documented switch for list-only fetching
        data["detail"] = None
    data.pop("details", None)
    if data.get("detail") is not None and data["detail"].get("enabled") is False:
        data["detail"] = None
    try:
        return Source(id=source_id, defined_in=defined_in, **data)
    except ValidationError as exc:
        raise _config_error(source_id, defined_in, exc) from None
    except TypeError as exc:
        raise ConfigError(f"source {source_id!r}: {exc}", path=Path(defined_in)) from None


def _config_error(source_id: str, defined_in: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
    msg = err["msg"].removeprefix("Value error, ")
    if not loc and ": " in msg:  # raised by the model check as "field: message"
        loc, msg = msg.split(": ", 1)
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    path = None if defined_in == "built-in" else Path(defined_in)
    return ConfigError(f"source {source_id!r}: field {loc!r}: {msg}", path=path)


def load_sources(sources_path: Path | None) -> dict[str, Source]:
    """Built-in sources, with the workspace's sources.toml on top (when it exists)."""
    tables: dict[str, tuple[dict[str, Any], str]] = {
        k: (v, "built-in") for k, v in BUILT_IN.items()
    }
    if sources_path is not None and sources_path.exists():
        try:
            doc = tomllib.loads(sources_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=sources_path) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 (byte {exc.start})", path=sources_path) from None
        user = doc.get("sources", {})
        if not isinstance(user, dict):
            raise ConfigError(
                "'sources' must be a table of [sources.NAME] tables", path=sources_path
            )
        unknown = set(doc) - {"sources"}
        if unknown:
            raise ConfigError(f"unknown top-level key {sorted(unknown)[0]!r}", path=sources_path)
        for name, table in user.items():
            if not isinstance(table, dict):
                raise ConfigError(f"source {name!r}: must be a table", path=sources_path)
            base = tables.get(name, ({}, ""))[0]
            tables[name] = (_merge(base, table), str(sources_path))
    return {name: build_source(name, table, where) for name, (table, where) in tables.items()}


def get_source(sources: dict[str, Source], name: str) -> Source:
    try:
        return sources[name]
    except KeyError:
        raise ConfigError(
            f"no source named {name!r} (known: {', '.join(sorted(sources))})"
        ) from None
