from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fundkit.cli import main
from fundkit.jobs import Job
from fundkit.queue import Queue

from conftest import cli_env, run_cli

COMMANDS = ["init", "status", "enqueue", "work", "reap", "requeue"]


def handler_module(tmp_path: Path, module: str, kind: str, returns: str) -> Path:
    """Write a module that registers a handler of ``kind`` returning ``returns``; its folder."""
    folder = tmp_path / f"mods-{module}"
    folder.mkdir()
    (folder / f"{module}.py").write_text(
        f"from fundkit.handlers import register\n@register({kind!r})\n"
        f"def handler(job, ctx):\n    return {returns}\n"
    )
    return folder


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: fundkit" in capsys.readouterr().out


def test_init_creates_the_workspace(home: Path):
    result = run_cli(home, "init", "--json")
    assert result.returncode == 0, result.stderr
    for sub in ("pending", "processing", "done", "failed", "corrupt"):
        assert (home / "queue" / sub).is_dir()
    assert (home / "runs").is_dir() and (home / "sources.toml").is_file()
    tables = (
        sqlite3.connect(home / "fundkit.db").execute("SELECT name FROM sqlite_master").fetchall()
    )
    assert ("job_events",) in tables
    again = run_cli(home, "init")
    assert "already set up" in again.stdout


def test_home_comes_from_the_environment(tmp_path: Path):
    import subprocess
    import sys

    env = cli_env(FUNDKIT_HOME=str(tmp_path / "envhome"))
    result = subprocess.run(
        [sys.executable, "-m", "fundkit", "init"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "envhome" / "queue" / "pending").is_dir()


def test_status_json_has_the_queue_counts(home: Path):
    run_cli(home, "enqueue", "noop", "--count", "3", "--run-id", "r1")
    result = run_cli(home, "status", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["queue"] == {"pending": 3, "processing": 0, "done": 0, "failed": 0}
    assert data["runs"] == {"r1": {"pending": 3}}


def test_a_run_through_the_cli(home: Path):
    assert run_cli(home, "enqueue", "noop", "--count", "4", "--data", "[1,2]").returncode == 0
    assert run_cli(home, "enqueue", "fail", "--max-retries", "0").returncode == 0
    work = run_cli(home, "work", "--workers", "2", "--json")
    assert work.returncode == 0, work.stderr
    assert json.loads(work.stdout)["done"] == 4
    status = run_cli(home, "status")
    assert "done 4" in status.stdout and "failed 1" in status.stdout
    assert "HandlerError: this job always fails" in status.stdout
    requeue = run_cli(home, "requeue", "--failed", "--json")
    assert len(json.loads(requeue.stdout)["requeued"]) == 1
    assert json.loads(run_cli(home, "status", "--json").stdout)["queue"]["pending"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["requeue"], "give either --failed or one or more JOB_IDs"),
        (["enqueue", "noop", "--data", "{oops"], "not valid JSON"),
        (["enqueue", "noop", "--run-id", "bad id!"], "run_id must be"),
        (["work", "--workers", "0"], "must be at least 1"),
        (["work", "--import", "no_such_module_here"], "--import no_such_module_here"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(home: Path, args, message):
    result = run_cli(home, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_failures_are_one_line_and_exit_1(home: Path, tmp_path: Path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run_cli(not_a_dir, "status")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "is not a folder" in result.stderr
    run_cli(home, "init")
    missing = run_cli(home, "requeue", "deadbeef")
    assert missing.returncode == 1 and "no job deadbeef in failed/" in missing.stderr


def test_secret_in_config_is_refused_and_not_written(home: Path):
    key = "fake-key-test-secret-123456"
    result = run_cli(
        home,
        "enqueue",
        "noop",
        "--config",
        json.dumps({"note": key}),
        env=cli_env(ANTHROPIC_API_KEY=key),
    )
    assert result.returncode == 1 and "looks like a secret" in result.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_import_registers_user_handlers_in_every_worker(home: Path, tmp_path: Path):
    pkg = handler_module(tmp_path, "my_handlers", "double", "{'value': job.raw_data * 2}")
    q = Queue(home / "queue", durable=False)
    q.enqueue_batch([Job(kind="double", raw_data=i) for i in range(6)])
    result = run_cli(
        home,
        "work",
        "--workers",
        "2",
        "--import",
        "my_handlers",
        "--json",
        env=cli_env(PYTHONPATH=str(pkg)),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(j.result["value"] for j in q.jobs("done")) == [0, 2, 4, 6, 8, 10]


def test_unknown_kind_fails_at_once_with_a_clear_error(home: Path):
    q = Queue(home / "queue", durable=False)
    q.enqueue(Job(kind="nosuch", max_retries=5))
    result = run_cli(home, "work", "--json")
    assert result.returncode == 0, result.stderr
    [failed] = q.jobs("failed")
    assert failed.retry_count == 1
    assert "no handler for job kind 'nosuch'" in failed.error_details["message"]


def test_reap_reports_what_it_recovered(home: Path):
    owner = Queue(home / "queue", durable=False)
    owner.enqueue(Job(kind="noop"))
    job = owner.claim()
    owner.close()
    result = run_cli(home, "reap", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["recovered"] == [job.id] and data["crashed_workers"] == [owner.worker_id]


def test_many_processes_can_set_up_one_new_workspace_at_once(home: Path):
    from conftest import spawn_cli

    # The same race as eight workers starting on a new workspace; it once found SQLite
    # answering "locked" to a WAL switch (fixed in Store._use_wal).
    procs = [spawn_cli(home / "new", "init") for _ in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert (home / "new" / "queue" / "pending").is_dir() and (
        home / "new" / "sources.toml"
    ).is_file()


def test_a_result_that_is_not_json_fails_the_job_once_and_clearly(home: Path, tmp_path: Path):
    pkg = handler_module(tmp_path, "bad_result", "setty", "{'ids': {1, 2}}")
    q = Queue(home / "queue", durable=False)
    q.enqueue(Job(kind="setty", max_retries=3))
    result = run_cli(
        home, "work", "--import", "bad_result", "--json", env=cli_env(PYTHONPATH=str(pkg))
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failed"] == 1
    [failed] = q.jobs("failed")
    assert "returned a result that is not JSON" in failed.error_details["message"]
    assert failed.retry_count == 1  # not retried: it would only fail the same way
