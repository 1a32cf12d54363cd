"""Where things live: the workspace folder and the paths inside it.

A workspace is one folder::

    HOME/
      queue/pending/  queue/processing/  queue/done/  queue/failed/   job files by state
      queue/corrupt/                      job files set aside, each with a .reason file
      queue/tmp/  queue/locks/            staging area and worker liveness locks
      runs/                               one folder per run (raw pages, records)
      fundkit.db                          the SQLite store (job events and, later, results)
      sources.toml                        the user's sources
      profile.toml                        the interest profile that scores opportunities

HOME is ``--home DIR``, else ``$FUNDKIT_HOME``, else the current directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fundkit.errors import ConfigError

HOME_ENV = "FUNDKIT_HOME"
DB_NAME = "fundkit.db"
SOURCES_NAME = "sources.toml"
PROFILE_NAME = "profile.toml"

SOURCES_TEMPLATE = """\
# fundkit sources: each [sources.NAME] table adds a source or overrides a built-in one.
# See docs/cli.md. Secrets never go here: name an environment variable instead.
"""


@dataclass(frozen=True)
class Workspace:
    """The folder that holds a queue, runs, the store and the sources file."""

    home: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Workspace:
        """Pick the workspace: the argument, else ``$FUNDKIT_HOME``, else the current directory."""
        chosen = home if home is not None else os.environ.get(HOME_ENV) or Path.cwd()
        path = Path(chosen).expanduser()
        if path.exists() and not path.is_dir():
            raise ConfigError("is not a folder", field="home", path=path)
        return cls(path.resolve())

    @property
    def queue_dir(self) -> Path:
        return self.home / "queue"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def db_path(self) -> Path:
        return self.home / DB_NAME

    @property
    def sources_path(self) -> Path:
        return self.home / SOURCES_NAME

    @property
    def profile_path(self) -> Path:
        return self.home / PROFILE_NAME

    def init(self) -> list[Path]:
        """Create the workspace's folders and files; return what was created."""
        from fundkit.queue import Queue
        from fundkit.store import Store

        created = []
        for path in (self.home, self.runs_dir):
            try:
                path.mkdir(parents=True)
                created.append(path)
            except FileExistsError:
                if not path.is_dir():
                    raise ConfigError("is not a folder", path=path) from None
        created += Queue.create_dirs(self.queue_dir)
        from fundkit.pipeline.analyze import DEFAULT_PROFILE

        for path, text in (
            (self.sources_path, SOURCES_TEMPLATE),
            (self.profile_path, DEFAULT_PROFILE),
        ):
            try:
                # Exclusive create: several workers may start at once on a new workspace.
                with path.open("x", encoding="utf-8") as f:
                    f.write(text)
                created.append(path)
            except FileExistsError:
                pass
        if not self.db_path.exists():
            created.append(self.db_path)
        Store(self.db_path).close()
        return created
