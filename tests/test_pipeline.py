"""The chunk pipeline's stages with a real SQLite store."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fundkit.errors import HandlerError
from fundkit.jobs import Job
from fundkit.llm.rules import RulesBackend
from fundkit.model import Opportunity
from fundkit.pipeline.analyze import Profile, score
from fundkit.pipeline.dedupe import decide, normalize_title, titles_similar
from fundkit.pipeline.parse import (
    html_to_text,
    normalize_status,
    parse_amount,
    parse_date,
    parse_datetime,
)
from fundkit.pipeline.run import process_chunk
from fundkit.sources.sample_data import build_sample
from fundkit.store import Store

CONFIG = {"source_id": "sample", "source_type": "sample", "mapping": {}, "instructions": ""}


def sample_items() -> list[dict]:
    hits, details = build_sample()
    seen, items = set(), []
    for hit in hits:
        if hit["id"] not in seen:
            seen.add(hit["id"])
            items.append({**hit, "detail": details[hit["id"]]})
    return items


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/11/2023", date(2023, 10, 11)),
        ("Oct 11, 2023 12:00:00 AM EDT", date(2023, 10, 11)),
        ("Jan 07, 2027 11:59:00 PM EST", date(2027, 1, 7)),
        ("2024-06-30", date(2024, 6, 30)),
        ("", None),
        ("soon", None),
    ],
)
def test_dates_in_every_format(text, expected):
    assert parse_date(text) == expected


def test_timestamps_carry_their_zone():
    assert parse_datetime("Oct 11, 2023 05:17:55 PM EDT") == datetime(
        2023, 10, 11, 21, 17, 55, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2500000", 2.5e6),
        ("2,500,000", 2.5e6),
        ("$1.5M", 1.5e6),
        (100000, 1e5),
        ("", None),
        ("none", None),
        (None, None),
        ("call us", None),
    ],
)
def test_amounts(value, expected):
    assert parse_amount(value) == expected


def test_html_becomes_plain_text():
    text = html_to_text(
        "<p>Funds <strong>solar</strong> &amp; storage.</p><ul><li>one</li><li>two</li></ul>&nbsp;Hawaiʻi"
    )
    assert "<" not in text and "&amp;" not in text and "solar & storage." in text
    assert "- one" in text and "Hawaiʻi" in text


def test_statuses():
    assert [
        normalize_status(s) for s in ("posted", "forecasted", "closed", "archived", "weird")
    ] == ["open", "upcoming", "closed", "closed", None]


def test_rules_extract_every_sample_record():
    items = sample_items()
    records, failures = RulesBackend().extract(items, CONFIG, [])
    assert failures == [] and len(records) == len(items) == 340
    by_id = {r.external_id: r for r in records}
    first = items[0]
    rec = by_id[first["id"]]
    assert rec.title == html_to_text(first["title"]) and rec.source_id == "sample"
    synopsis = first["detail"]["synopsis"]
    if synopsis.get("awardCeiling") not in (None, "", "none"):
        assert rec.award_ceiling == parse_amount(synopsis["awardCeiling"])
    assert rec.url == f"https://www.grants.gov/search-results-detail/{first['id']}"
    assert {r.status for r in records} == {"open", "upcoming", "closed"}
    assert any(r.award_ceiling is None for r in records) and any(
        r.close_date is None for r in records
    )
    assert all("<" not in r.description for r in records)


def test_an_item_without_a_title_fails_with_a_reason_not_silently():
    records, failures = RulesBackend().extract(
        [{"id": "1"}, {"id": "2", "title": "Real title here"}], CONFIG, []
    )
    assert [r.external_id for r in records] == ["2"] and failures[0].item_id == "1"
    assert "no title" in failures[0].reason


# -- dedupe, one rule at a time ------------------------------------------------------------


def opp(**kw) -> Opportunity:
    base = dict(
        source_id="s",
        external_id="1",
        title="Rural Energy Savings Program",
        status="open",
        award_ceiling=1_000_000.0,
        close_date=date(2027, 1, 15),
    )
    return Opportunity(**{**base, **kw})


def row(**kw) -> dict:
    base = {
        "id": 7,
        "external_id": "1",
        "title": "Rural Energy Savings Program",
        "status": "open",
        "award_floor": None,
        "award_ceiling": 1_000_000.0,
        "total_funding": None,
        "open_date": None,
        "close_date": "2027-01-15",
        "api_updated_at": None,
    }
    return {**base, **kw}


def run_decide(record, rows):
    by_id = {r["external_id"]: r for r in rows}
    by_title = {normalize_title(r["title"]): r for r in rows}
    return decide(record, by_id, by_title)


CASES = [
    ("nothing stored", opp(), [], "NEW", "no_duplicate_found", None, []),
    ("same id, same fields", opp(), [row()], "SKIP", "no_critical_changes", "id", []),
    (
        "same id, title case and spacing",
        opp(title="RURAL  energy savings program"),
        [row()],
        "SKIP",
        "no_critical_changes",
        "id",
        [],
    ),
    (
        "other id, same title",
        opp(external_id="9"),
        [row()],
        "SKIP",
        "no_critical_changes",
        "title",
        [],
    ),
    (
        "short titles are not matched by title",
        opp(external_id="9", title="Grants"),
        [row(title="Grants")],
        "NEW",
        "no_duplicate_found",
        None,
        [],
    ),
    (
        "amount within 5%",
        opp(award_ceiling=1_040_000.0),
        [row()],
        "SKIP",
        "no_critical_changes",
        "id",
        [],
    ),
    (
        "amount beyond 5%",
        opp(award_ceiling=1_060_000.0),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["award_ceiling"],
    ),
    (
        "null to value",
        opp(award_floor=10_000.0),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["award_floor"],
    ),
    (
        "value to null",
        opp(award_ceiling=None),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["award_ceiling"],
    ),
    (
        "zero to non-zero",
        opp(award_ceiling=5.0),
        [row(award_ceiling=0.0)],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["award_ceiling"],
    ),
    (
        "close date moved",
        opp(close_date=date(2027, 2, 1)),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["close_date"],
    ),
    (
        "status changed",
        opp(status="closed"),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["status"],
    ),
    (
        "timestamp not newer",
        opp(status="closed", api_updated_at=datetime(2026, 1, 1, tzinfo=UTC)),
        [row(api_updated_at="2026-02-01T00:00:00+00:00")],
        "SKIP",
        "api_timestamp_not_newer",
        "id",
        [],
    ),
    (
        "timestamp newer",
        opp(status="closed", api_updated_at=datetime(2026, 3, 1, tzinfo=UTC)),
        [row(api_updated_at="2026-02-01T00:00:00+00:00")],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["status"],
    ),
    (
        "id reused for another title",
        opp(title="Tribal Broadband Connectivity Program"),
        [row()],
        "UPDATE",
        "critical_fields_changed",
        "id",
        ["title"],
    ),
]


@pytest.mark.parametrize(
    ("name", "record", "rows", "path", "reason", "method", "changed"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_dedupe_rules(name, record, rows, path, reason, method, changed):
    d = run_decide(record, rows)
    assert (d.path_type, d.reason, d.method, d.changed) == (path, reason, method, changed)


def test_title_similarity():
    assert titles_similar(
        "Rural Energy Savings Program", "Rural Energy Savings Program (Modification 1)"
    )
    assert titles_similar(  # Jaccard 6/8 on words longer than 3 letters
        "Energy Efficiency Conservation Block Grants Program 2026",
        "Energy Efficiency Conservation Block Grants Program 2027",
    )
    assert not titles_similar(
        "Clean School Bus Rebates 2026", "Clean School Bus Rebates 2027 round"
    )  # 3/6
    assert not titles_similar("Clean School Bus Rebates", "Tribal Broadband Connectivity")


# -- scoring -------------------------------------------------------------------------------


def test_score_follows_the_profile():
    profile = Profile.load(None)
    hot = opp(
        applicant_types=["County governments"],
        funding_instruments=["Grant"],
        total_funding=60e6,
        description="HVAC retrofit for schools",
    )
    value, breakdown, _ = score(hot, profile)
    assert value == 10.0 and breakdown["client_relevance"] == 3.0
    closed = hot.model_copy(update={"status": "closed"})
    assert score(closed, profile)[0] == 1.5  # 10 × 0.15
    cold = opp(
        title="Arts fellowships",
        applicant_types=["Individuals"],
        funding_instruments=["Other"],
        award_ceiling=None,
        total_funding=None,
    )
    assert score(cold, profile)[0] < profile.min_score


# -- the handler's work with a store -------------------------------------------------------


def chunk_jobs(items, size=5, run_id="r1"):
    return [
        Job(
            kind="chunk",
            raw_data=items[i : i + size],
            processing_config=CONFIG,
            run_id=run_id,
            source_id="sample",
            chunk_index=i // size,
        )
        for i in range(0, len(items), size)
    ]


def process_all(store, jobs):
    return [process_chunk(j, store, RulesBackend(), Profile.load(None)) for j in jobs]


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def test_a_second_run_over_the_same_data_is_all_skips(tmp_path: Path):
    items = sample_items()[:60]
    with Store(tmp_path / "f.db") as store:
        first = process_all(store, chunk_jobs(items, run_id="r1"))
        second = process_all(store, chunk_jobs(items, run_id="r2"))
    db = tmp_path / "f.db"
    assert sum(r.get("stored", 0) + r.get("filtered_out", 0) for r in first) == count(
        db, "SELECT COUNT(*) FROM opportunities"
    )
    assert (
        count(
            db,
            "SELECT COUNT(*) FROM flow_paths WHERE run_id='r2' AND path_type IN ('NEW','UPDATE')",
        )
        == 0
    )
    assert count(db, "SELECT COUNT(*) FROM flow_paths WHERE run_id='r2' AND path_type='SKIP'") == 60
    assert all(r.get("skipped") == 5 for r in second)


def test_one_changed_close_date_is_exactly_one_update_naming_it(tmp_path: Path):
    items = sample_items()[:20]
    with Store(tmp_path / "f.db") as store:
        process_all(store, chunk_jobs(items, run_id="r1"))
        changed = json.loads(json.dumps(items))
        target = next(i for i in changed if i["closeDate"])
        target["closeDate"] = "12/31/2027"
        target["detail"]["synopsis"].pop("lastUpdatedDate", None)
        process_all(store, chunk_jobs(changed, run_id="r2"))
    db = tmp_path / "f.db"
    with sqlite3.connect(db) as conn:
        updates = conn.execute(
            "SELECT external_id, changed_fields FROM flow_paths WHERE run_id='r2' AND path_type='UPDATE'"
        ).fetchall()
        stored = conn.execute(
            "SELECT close_date FROM opportunities WHERE external_id=?", (target["id"],)
        ).fetchone()
    assert updates == [(target["id"], '["close_date"]')]
    assert stored == ("2027-12-31",)


def test_an_update_never_writes_null_over_a_value(tmp_path: Path):
    items = [
        i
        for i in sample_items()
        if i["detail"]["synopsis"].get("awardCeiling") not in (None, "", "none")
    ][:1]
    with Store(tmp_path / "f.db") as store:
        process_all(store, chunk_jobs(items, run_id="r1"))
        before = store.lookup_opportunities("sample", [items[0]["id"]], [])[0][items[0]["id"]][
            "award_ceiling"
        ]
        changed = json.loads(json.dumps(items))
        changed[0]["detail"]["synopsis"]["awardCeiling"] = ""
        changed[0]["detail"]["synopsis"].pop("lastUpdatedDate", None)
        process_all(store, chunk_jobs(changed, run_id="r2"))
        after = store.lookup_opportunities("sample", [items[0]["id"]], [])[0][items[0]["id"]][
            "award_ceiling"
        ]
    assert before is not None and after == before


def test_filtered_out_records_are_stored_marked_and_known_next_time(tmp_path: Path):
    items = sample_items()[:80]
    with Store(tmp_path / "f.db") as store:
        process_all(store, chunk_jobs(items, run_id="r1"))
        process_all(store, chunk_jobs(items, run_id="r2"))
    db = tmp_path / "f.db"
    excluded = count(db, "SELECT COUNT(*) FROM opportunities WHERE included = 0")
    assert excluded > 0
    assert (
        count(
            db,
            "SELECT COUNT(*) FROM opportunities WHERE included = 0 AND filter_reason LIKE 'score % below 2.0'",
        )
        == excluded
    )
    assert (
        count(
            db, "SELECT COUNT(*) FROM flow_paths WHERE run_id='r1' AND final_outcome='filtered_out'"
        )
        == excluded
    )
    assert count(db, "SELECT COUNT(*) FROM flow_paths WHERE run_id='r2' AND path_type='NEW'") == 0


def test_processing_a_job_twice_changes_nothing(tmp_path: Path):
    items = sample_items()[:5]
    [job] = chunk_jobs(items)
    db = tmp_path / "f.db"
    with Store(db) as store:
        first = process_chunk(job, store, RulesBackend(), Profile.load(None))
        snapshot = [
            count(db, f"SELECT COUNT(*) FROM {t}")
            for t in ("opportunities", "flow_paths", "job_results")
        ]
        again = process_chunk(job, store, RulesBackend(), Profile.load(None))
    assert [
        count(db, f"SELECT COUNT(*) FROM {t}")
        for t in ("opportunities", "flow_paths", "job_results")
    ] == snapshot
    assert again["items"] == first["items"] == 5


def test_a_job_without_its_config_fails_clearly(tmp_path: Path):
    job = Job(kind="chunk", raw_data=[], processing_config={})
    with (
        Store(tmp_path / "f.db") as store,
        pytest.raises(HandlerError, match="processing_config lacks source_id"),
    ):
        process_chunk(job, store, RulesBackend(), Profile.load(None))


def test_every_stage_is_timed_and_counted(tmp_path: Path):
    items = sample_items()[:10]
    with Store(tmp_path / "f.db") as store:
        process_all(store, chunk_jobs(items))
        rows = store._rows(
            "SELECT stage, status, duration_ms, input_count, output_count FROM stage_metrics ORDER BY job_id, stage_order"
        )
    assert [r["stage"] for r in rows[:5]] == ["extract", "dedupe", "analyze", "filter", "store"]
    assert all(
        r["status"] == "completed" and r["duration_ms"] is not None and r["duration_ms"] >= 0
        for r in rows
    )
    assert rows[0]["input_count"] == 5 and rows[0]["output_count"] == 5
