"""Background jobs: a worker process at lower priority, and a status file any session can read.

Training or a search takes every core for minutes, so it runs in a separate **process**
(``multiprocessing`` with the ``spawn`` start method), never in a Streamlit script
thread: niceness is per process, so the dashboard's predictions stay quick, and a
process can be killed without leaving a half-written result behind (results are staged
and renamed into place, see :mod:`model.core.files`).

Each job has a folder ``<jobs dir>/<job id>/`` holding ``status.json`` (replaced
atomically, so a reader in another process never sees half a status) and, when the
worker raised, ``traceback.txt``. A jobs folder runs one job at a time: the machine has
two cores.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from model.core.files import atomic_write_json

__all__ = ["STATUS_FILE", "DEFAULT_NICENESS", "JobStatus", "JobBusy", "start_job", "job_status", "active_job", "wait_for_job", "cancel_job"]

STATUS_FILE = "status.json"
TRACEBACK_FILE = "traceback.txt"
#: The worker's niceness increment: predictions in the dashboard's process go first.
DEFAULT_NICENESS = 10
# Fits report progress many times a second; rewriting the status that often only costs I/O.
_PROGRESS_INTERVAL_S = 0.25
# A worker that has not recorded its pid by then never started (its starter died first).
_START_GRACE_S = 60.0

# Processes started by this interpreter, so their exit is reaped and its code reported.
_PROCESSES: dict[str, multiprocessing.Process] = {}


class JobBusy(RuntimeError):
    """A job is already running in this jobs folder."""


@dataclass(frozen=True)
class JobStatus:
    """Where a background job is.

    Attributes
    ----------
    job_id : str, the job folder's name (UTC start time and a random suffix).
    kind : str, what the job does (``"training"``, ``"search"``, ``"promote"``).
    state : ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
    fraction : float, 0–1.
    message : str, what the worker is doing (or why it failed).
    started_by : str, the admin who started it.
    started_at, updated_at : str, ISO 8601 UTC.
    pid : int or None, the worker process.
    output : str or None, what a finished job made (a model version, a folder).
    details : dict, what the starter recorded about the job (JSON values).
    """

    job_id: str
    kind: str
    state: str
    fraction: float
    message: str
    started_by: str
    started_at: str
    updated_at: str
    pid: int | None = None
    output: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state != "running"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read(job_dir: Path) -> JobStatus:
    return JobStatus(**json.loads((job_dir / STATUS_FILE).read_text(encoding="utf-8")))


def _update(job_dir: Path, **changes) -> JobStatus:
    status = JobStatus(**{**asdict(_read(job_dir)), **changes, "updated_at": _now()})
    atomic_write_json(job_dir / STATUS_FILE, asdict(status))
    return status


def _worker_alive(status: JobStatus) -> bool:
    process = _PROCESSES.get(status.job_id)
    if process is not None:
        return process.is_alive()  # also reaps a dead child, so its exit code is known
    if status.pid is None:  # the starting session has not recorded the pid yet
        return (datetime.now(timezone.utc) - datetime.fromisoformat(status.updated_at)).total_seconds() < _START_GRACE_S
    try:
        os.kill(status.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child of another process stays a zombie until that process reaps it
        return Path(f"/proc/{status.pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _run_worker(job_dir: str, niceness: int, target: Callable, args: tuple) -> None:
    """The worker process: run ``target`` and record how it ended in the status file."""
    job_dir = Path(job_dir)
    try:
        os.nice(niceness)  # joblib's workers inherit it
    except OSError:
        pass
    last_write = float("-inf")

    def progress(fraction: float, message: str) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write >= _PROGRESS_INTERVAL_S or fraction >= 1.0:
            last_write = now
            _update(job_dir, fraction=round(float(fraction), 4), message=message)

    try:
        message, output = target(job_dir, progress, *args)
        _update(job_dir, state="done", fraction=1.0, message=message, output=output)
    except BaseException as error:  # the status file is the only way to tell the page
        kind = _read(job_dir).kind
        _update(job_dir, state="failed", message=f"{kind.capitalize()} failed: {type(error).__name__}: {error}. Nothing was promoted.")
        (job_dir / TRACEBACK_FILE).write_text(traceback.format_exc(), encoding="utf-8")
        raise


def start_job(kind: str, target: Callable, args: tuple = (), *, jobs_dir, started_by: str, niceness: int = DEFAULT_NICENESS, details: dict | None = None) -> str:
    """Run ``target`` in a new worker process; return the job id.

    Parameters
    ----------
    kind : str, what the job does, in a word; it names the job in messages.
    target : module-level callable ``target(job_dir, progress, *args) -> (message, output)``
        Runs in the worker. ``progress(fraction 0–1, message)`` updates the status (at
        most four times a second). It returns the final message and what it made (a
        str or None); if it raises, the job is marked failed and the traceback kept.
    args : tuple, picklable (the worker is spawned, not forked).
    jobs_dir : path, the jobs folder; created if needed.
    started_by : str, the admin's name.
    niceness : int, added to the worker's niceness.
    details : dict, optional, recorded in the status (JSON values).

    Raises
    ------
    JobBusy
        Another job in ``jobs_dir`` is still running.
    """
    busy = active_job(jobs_dir)
    if busy is not None:
        raise JobBusy(f"A {busy.kind} job is already running (job {busy.job_id}, started by {busy.started_by} at {busy.started_at}); wait for it to finish.")
    job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    job_dir = Path(jobs_dir) / job_id
    job_dir.mkdir(parents=True)
    atomic_write_json(job_dir / STATUS_FILE, asdict(JobStatus(job_id, kind, "running", 0.0, "starting the worker", started_by, _now(), _now(), details=dict(details or {}))))
    process = multiprocessing.get_context("spawn").Process(target=_run_worker, args=(str(job_dir), int(niceness), target, tuple(args)), name=f"huecast-{kind}-{job_id}")
    try:
        process.start()
    except BaseException as error:
        _update(job_dir, state="failed", message=f"The {kind} worker could not start: {type(error).__name__}: {error}")
        raise
    _PROCESSES[job_id] = process
    _update(job_dir, pid=process.pid)
    return job_id


def job_status(job_id: str, jobs_dir) -> JobStatus:
    """The status of a job; a worker that died without finishing is reported as failed.

    Raises
    ------
    FileNotFoundError
        No such job.
    """
    job_dir = Path(jobs_dir) / job_id
    status = _read(job_dir)
    if status.state == "running" and not _worker_alive(status):
        status = _read(job_dir)  # it may have finished between the read and the check
        if status.state == "running":
            process = _PROCESSES.get(job_id)
            code = process.exitcode if process is not None else None
            how = f" (exit code {code})" if code is not None else ""
            status = _update(job_dir, state="failed", message=f"The {status.kind} worker stopped before finishing{how}. Nothing was promoted; start it again.")
    return status


def active_job(jobs_dir) -> JobStatus | None:
    """The running job in ``jobs_dir``, if any (the newest one)."""
    root = Path(jobs_dir)
    if not root.is_dir():
        return None
    for job_dir in sorted(root.iterdir(), reverse=True):
        if (job_dir / STATUS_FILE).is_file():
            status = job_status(job_dir.name, root)
            if status.state == "running":
                return status
    return None


def wait_for_job(job_id: str, jobs_dir, *, timeout: float = 600.0, poll_seconds: float = 0.2) -> JobStatus:
    """Block until the job finishes or ``timeout`` seconds pass; returns the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = job_status(job_id, jobs_dir)
        if status.finished or time.monotonic() > deadline:
            return status
        time.sleep(poll_seconds)


def cancel_job(job_id: str, jobs_dir, *, cancelled_by: str) -> JobStatus:
    """Kill a running job's worker (SIGTERM) and mark the job cancelled. Nothing it was writing is ever used."""
    status = job_status(job_id, jobs_dir)
    if status.state != "running":
        return status
    process = _PROCESSES.get(job_id)
    if process is not None:
        process.terminate()
        process.join(timeout=10)
    elif status.pid is not None:
        try:
            os.kill(status.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return _update(Path(jobs_dir) / job_id, state="cancelled", message=f"Cancelled by {cancelled_by}; nothing was promoted.")
