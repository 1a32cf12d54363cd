"""Shared helpers: workspaces in tmp_path, the real CLI in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fundkit.jobs import RetryPolicy
from fundkit.queue import Queue

FAST_RETRY = RetryPolicy(base=0.05, cap=0.2)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def queue(home: Path):
    q = Queue(home / "queue", durable=False, retry=FAST_RETRY)
    yield q
    q.close()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDKIT_")}
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None):
    """Run `fundkit --home HOME ARGS` in a new process; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "fundkit", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
    )


def spawn_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fundkit", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
    )


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())
