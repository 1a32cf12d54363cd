from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundkit.errors import ConfigError
from fundkit.sources import load_sources

from conftest import run_cli


def load(tmp_path: Path, text: str):
    path = tmp_path / "sources.toml"
    path.write_text(text)
    return load_sources(path)


def test_built_in_sources_load_without_a_file():
    sources = load_sources(None)
    assert {"sample", "grants-gov", "simpler-grants"} <= set(sources)
    gg = sources["grants-gov"]
    assert gg.base_url == "https://api.grants.gov" and gg.path == "/v1/api/search2"
    assert gg.detail is not None and gg.detail.path == "/v1/api/fetchOpportunity"
    assert gg.chunk_size == 5


def test_the_smallest_grants_gov_source_is_complete(tmp_path: Path):
    sources = load(
        tmp_path, '[sources.my-grants]\ntype = "grants_gov"\nbase_url = "http://127.0.0.1:8080"\n'
    )
    src = sources["my-grants"]
    assert (
        src.base_url == "http://127.0.0.1:8080" and src.pagination.offset_param == "startRecordNum"
    )
    assert src.detail is not None and src.defined_in.endswith("sources.toml")


def test_a_user_table_overrides_only_what_it_sets_on_a_built_in(tmp_path: Path):
    sources = load(
        tmp_path, '[sources.grants-gov]\nbase_url = "http://127.0.0.1:9"\ndetails = false\n'
    )
    src = sources["grants-gov"]
    assert src.type == "grants_gov" and src.base_url == "http://127.0.0.1:9"
    assert src.detail is None and src.data_path == "data.oppHits"


def test_sources_never_hold_a_key_and_public_drops_headers(tmp_path: Path):
    sources = load(
        tmp_path,
        '[sources.x]\ntype = "json_api"\nbase_url = "http://h"\nheaders = {Accept = "json"}\n',
    )
    assert "headers" not in sources["x"].public()


TYPES = {
    "grants_gov": 'type = "grants_gov"\n',
    "simpler_grants": 'type = "simpler_grants"\n',
    "json_api": 'type = "json_api"\nbase_url = "http://127.0.0.1:1"\ndata_path = "items"\n',
    "file": 'type = "file"\nfile = "x.jsonl"\n',
    "sample": 'type = "sample"\n',
}
BAD_FIELDS = [
    ('base_url = "ftp://example.org"', "base_url", "http:// or https://"),
    ("chunk_size = 0", "chunk_size", "greater than 0"),
    ("timeout = -1", "timeout", "greater than 0"),
    ("retries = 50", "retries", "less than or equal to 10"),
    ('method = "PUT"', "method", "'GET' or 'POST'"),
    ("colour = 3", "colour", "unknown field"),
    ("data_path = 3", "data_path", "valid string"),
    ('headers = {X-API-Key = "abc"}', "headers.X-API-Key", "api_key_env"),
    ("[sources.s.pagination]\npage_size = 0", "pagination.page_size", "greater than 0"),
    (
        '[sources.s.pagination]\nstyle = "sideways"',
        "pagination.style",
        "'offset', 'page', 'cursor' or 'none'",
    ),
    ('[sources.s.pagination]\nstyle = "cursor"', "pagination.cursor_path", "required"),
    (
        "[sources.s.detail]\npath = '/d'\nconcurrency = 99",
        "detail.concurrency",
        "less than or equal to 32",
    ),
]


CASES = [
    (kind, *bad)
    for kind in sorted(TYPES)
    for bad in BAD_FIELDS
    if not (bad[1] == "base_url" and kind in ("file", "sample"))  # no URL to check there
]


@pytest.mark.parametrize(
    ("kind", "line", "field", "message"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_each_bad_field_of_each_type_names_source_and_field(tmp_path, kind, line, field, message):
    key = line.split(" =")[0]
    base = "".join(t + "\n" for t in TYPES[kind].splitlines() if not t.startswith(key + " ="))
    text = f"[sources.s]\n{base}{line}\n"
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    text = str(info.value)
    assert "source 's'" in text and f"field '{field}'" in text and message in text, text
    assert "sources.toml" in text


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[sources.s]\ntype = "json_api"\ndata_path = "x"\n', "base_url"),
        ('[sources.s]\ntype = "file"\n', "file"),
        ('[sources.s]\ntype = "carrier-pigeon"\n', "type"),
        ("[sources.s]\n", "type"),
    ],
)
def test_missing_or_unknown_required_fields(tmp_path, text, field):
    with pytest.raises(ConfigError, match=f"source 's': field '{field}'"):
        load(tmp_path, text)


def test_toml_syntax_errors_give_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"sources.toml: not valid TOML: .*line 2"):
        load(tmp_path, '[sources.s]\ntype = "json_api\n')


def test_sources_command_lists_where_each_is_defined(home: Path):
    (home / "sources.toml").write_text('[sources.mine]\ntype = "file"\nfile = "a.jsonl"\n')
    result = run_cli(home, "sources")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "built-in" in lines["sample"] and "sources.toml" in lines["mine"]
    data = json.loads(run_cli(home, "sources", "--json").stdout)
    assert data["mine"]["type"] == "file" and data["grants-gov"]["defined_in"] == "built-in"
    bad = home / "sources.toml"
    bad.write_text('[sources.mine]\ntype = "file"\n')
    failed = run_cli(home, "fetch", "mine")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert "source 'mine': field 'file'" in failed.stderr
