"""The notebooks through papermill: fundkit run, report and tick, with real kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from conftest import cli_env, run_cli, spawn_cli

pytestmark = pytest.mark.slow
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_run_executes_the_notebooks_and_keeps_secrets_out(home: Path):
    key = "fake-anthropic-key-8d2f61a0"
    result = run_cli(
        home,
        "run",
        "sample",
        "--llm",
        "rules",
        "--json",
        env=cli_env(ANTHROPIC_API_KEY=key),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (
        data["status"] == "completed"
        and data["total_opportunities"] == 340
        and data["jobs_completed"] == 68
    )
    assert [Path(p).name for p in data["notebooks"]] == [
        "01_fetch_and_chunk.ipynb",
        "02_process_jobs.ipynb",
        "03_metrics.ipynb",
    ]
    assert len(data["charts"]) == 9 and all(Path(p).stat().st_size > 5000 for p in data["charts"])
    for path in data["notebooks"]:
        nb = nbformat.read(path, as_version=4)
        assert not [
            o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        assert set(nb.metadata.papermill.parameters) <= {
            "source",
            "chunk_size",
            "max_pages",
            "run_id",
            "home",
            "workers",
            "llm",
            "target_job_s",
        }
    assert Path(data["report"]).read_text().count("<img") == 9
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"
    report = run_cli(home, "report", data["run_id"], "--json")
    assert report.returncode == 0, report.stderr
    assert len(json.loads(report.stdout)["charts"]) == 9


def test_a_failing_cell_keeps_its_notebook_and_fails_the_run(home: Path, tmp_path: Path):
    copies = tmp_path / "nbs"
    shutil.copytree(NOTEBOOKS, copies)
    nb = nbformat.read(copies / "02_process_jobs.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("boom in a cell")'))
    nbformat.write(nb, copies / "02_process_jobs.ipynb")
    result = run_cli(
        home,
        "run",
        "sample",
        "--llm",
        "rules",
        env=cli_env(FUNDKIT_NOTEBOOKS=str(copies)),
        timeout=300,
    )
    assert result.returncode == 1
    line = [x for x in result.stderr.splitlines() if x.startswith("fundkit:")]
    assert (
        len(line) == 1
        and "02_process_jobs.ipynb: cell" in line[0]
        and "RuntimeError: boom in a cell" in line[0]
    )
    executed = next(home.glob("runs/*/notebooks/02_process_jobs.ipynb"))
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    assert any(o.get("ename") == "RuntimeError" for o in outputs)
    runs = json.loads(run_cli(home, "runs", "--json").stdout)
    assert runs[0]["status"] == "failed" and "boom in a cell" in runs[0]["error"]


def test_ticks_process_within_their_budget_and_never_overlap(home: Path):
    assert run_cli(home, "fetch", "sample").returncode == 0
    held = FileLock(home / "queue" / "locks" / "tick.lock", timeout=0, thread_local=False)
    held.acquire()
    try:
        skipped = run_cli(home, "tick", "--json")
    finally:
        held.release()
    assert skipped.returncode == 0 and json.loads(skipped.stdout)["status"] == "skipped"
    ticks = [
        spawn_cli(home, "tick", "--time-budget", "60", "--llm", "rules", "--json") for _ in range(2)
    ]
    results = []
    for p in ticks:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["status"] for r in results) == ["ran", "skipped"]
    ran = next(r for r in results if r["status"] == "ran")
    assert ran["queue"]["pending"] == 0 and ran["queue"]["done"] == 68
    assert Path(ran["notebook"]).exists()
