"""fundkit: track public funding with a file-based job queue, workers and notebooks."""

from fundkit.errors import FundkitError
from fundkit.jobs import Job, JobStatus, RetryPolicy
from fundkit.queue import Queue, QueueStats, ReapReport
from fundkit.worker import Worker, WorkerOptions, WorkerReport, run_workers
from fundkit.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "FundkitError",
    "Job",
    "JobStatus",
    "Queue",
    "QueueStats",
    "ReapReport",
    "RetryPolicy",
    "Worker",
    "WorkerOptions",
    "WorkerReport",
    "Workspace",
    "__version__",
    "run_workers",
]
