"""The one job queue: a search, a promotion or a challenger training, one at a time, in a worker process.

Training or a search takes every core for minutes, so it runs in a separate **process**
(``multiprocessing`` with the ``spawn`` start method), never in a Streamlit script
thread: niceness is per process, so the dashboard's predictions stay quick, and a
process can be killed without leaving a half-written result behind (results are staged
and renamed into place, see :mod:`model.core.files`).

Layout of the jobs folder (``<data dir>/jobs/`` from :mod:`model.core.settings`)::

    queue.lock              flock-ed by the running job's worker; holds that job's id
    <job id>/status.json    where the job is (replaced atomically: a reader in another
                            process never sees half a status)
    <job id>/traceback.txt  when the worker raised

Why one lock, and why ``flock``
-------------------------------
The machine has two cores, and the SQLite store has one writer: every kind of job
shares one queue, so a search cannot start while a challenger trains, nor the other way
round. Starting a job takes ``flock(LOCK_EX | LOCK_NB)`` on ``queue.lock``: one system
call, so of two sessions (threads or processes) starting at once exactly one wins, and
the other gets :class:`JobBusy`. The starter hands its locked descriptor to the worker
(the same open file description, passed as multiprocessing passes a pipe to a spawned
child), so the worker holds the lock for its whole life. The kernel releases an
``flock`` when the last descriptor closes, which happens on *any* exit (a finished
job, an exception, ``SIGKILL``, the machine's OOM killer), so a dead worker never
leaves the queue stuck and no stale lock needs clearing.

Whether a job is alive is read from the same lock, not from process ids: a job is
running when ``queue.lock`` is held and names it. A job whose status says "running"
but that no longer holds the lock died unfinished, and is reported as failed.

``flock`` is advisory and per open file description, on Linux and macOS. On a network
file system it may be emulated or missing; keep the data directory on a local disk.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing import reduction
from pathlib import Path

from model.auth.access import User, require_admin
from model.core import settings
from model.core.files import atomic_write_json

__all__ = [
    "JOBS_FOLDER",
    "LOCK_FILE",
    "STATUS_FILE",
    "DEFAULT_NICENESS",
    "JobStatus",
    "JobBusy",
    "jobs_root",
    "start_job",
    "job_status",
    "active_job",
    "wait_for_job",
    "cancel_job",
]

JOBS_FOLDER = "jobs"
LOCK_FILE = "queue.lock"
STATUS_FILE = "status.json"
TRACEBACK_FILE = "traceback.txt"
#: The worker's niceness increment: predictions in the dashboard's process go first.
DEFAULT_NICENESS = 10
# Fits report progress many times a second; rewriting the status that often only costs I/O.
_PROGRESS_INTERVAL_S = 0.25
# A reader checking liveness holds the lock (shared) for microseconds; a start that
# meets such a reader tries again for this long before it reports the queue busy.
_START_RETRY_S = 0.25
# How long a cancel or a status check waits for a dying worker to be gone.
_EXIT_WAIT_S = 10.0

# Workers started by this interpreter, so their exit is reaped and its code reported.
_PROCESSES: dict[str, multiprocessing.Process] = {}


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
    details : dict, what the starter recorded about the job (JSON values); ``description``
        names it in words and ``follow_on`` says where a person can follow it.
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


class JobBusy(RuntimeError):
    """A job (search, promotion or training) is already running: the queue runs one at a time.

    ``job_id`` names the running job (None while one is only starting), for a caller that
    says how to follow it (the API: ``GET /api/v1/jobs/<job_id>``).
    """

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id

    def __reduce__(self):
        return (type(self), (str(self), self.job_id))


def jobs_root(jobs_dir=None) -> Path:
    """The jobs folder: ``jobs_dir`` when given (tests), else ``<data dir>/jobs``."""
    return Path(jobs_dir) if jobs_dir is not None else settings.data_dir() / JOBS_FOLDER


# --------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------


def _take_queue_lock(root: Path) -> int | None:
    """``queue.lock`` opened and locked exclusively, or None when another job holds it."""
    root.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + _START_RETRY_S
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
    except BaseException:
        os.close(descriptor)
        raise
    os.close(descriptor)
    return None


def _lock_holder(root: Path) -> str | None:
    """The id of the job holding ``queue.lock``; ``""`` while a starter has not named it yet; None when free."""
    try:
        descriptor = os.open(root / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(descriptor, 256, 0).decode("utf-8", "replace").strip()
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


class _InheritedLock:
    """The starter's locked descriptor, pickled so the spawned worker gets a copy of it.

    ``reduction.DupFd`` is how multiprocessing hands a pipe to a spawned child: the
    descriptor is passed through the exec, so the worker shares the starter's open file
    description, and with it the flock. The worker unpickles it as a plain ``int``.
    """

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor

    def __reduce__(self):
        return _adopt_descriptor, (reduction.DupFd(self.descriptor),)


def _adopt_descriptor(duplicate) -> int:
    return duplicate.detach()


# --------------------------------------------------------------------------------------
# Status files
# --------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _job_dir(root: Path, job_id: str) -> Path:
    if not job_id or Path(job_id).name != job_id or job_id.startswith("."):
        raise FileNotFoundError(f"{job_id!r} is not a job id in {root}.")
    return root / job_id


def _read(job_dir: Path) -> JobStatus:
    return JobStatus(**json.loads((job_dir / STATUS_FILE).read_text(encoding="utf-8")))


def _update(job_dir: Path, **changes) -> JobStatus:
    status = JobStatus(**{**asdict(_read(job_dir)), **changes, "updated_at": _now()})
    atomic_write_json(job_dir / STATUS_FILE, asdict(status))
    return status


def _busy_error(root: Path) -> JobBusy:
    holder = _lock_holder(root)
    try:
        running = _read(_job_dir(root, holder)) if holder else None
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        running = None
    if running is None:
        return JobBusy("Another job is starting right now; only one search, promotion or training runs at a time. Wait a moment and start again.")
    follow_on = running.details.get("follow_on") or "its page"
    what = running.details.get("description") or f"a {running.kind} job"
    return JobBusy(
        f"{what[:1].upper()}{what[1:]} is already running (job {running.job_id}, started by {running.started_by} at {running.started_at}; "
        f"{running.fraction:.0%} done: {running.message}). Only one search, promotion or training runs at a time: "
        f"wait for it to finish or cancel it (follow it on {follow_on}), then start again.",
        job_id=running.job_id,
    )


# --------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------


def _run_worker(job_dir: str, niceness: int, lock_descriptor: int, target: Callable, args: tuple) -> None:
    """The worker process: run ``target`` and record how it ended in the status file.

    ``lock_descriptor`` is this worker's copy of the locked ``queue.lock``. It is closed
    once the final status is written, so the next job may start as soon as this one
    reads as finished; on any other exit the kernel closes it.
    """
    job_dir = Path(job_dir)
    os.set_inheritable(lock_descriptor, False)  # a program this worker runs must not keep the queue busy
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
        try:
            message, output = target(job_dir, progress, *args)
        finally:
            # Before the final status: a job reads as finished (and the next may start) only once its
            # workers' memory is free.
            _stop_pool_workers()
        _update(job_dir, state="done", fraction=1.0, message=message, output=output)
    except BaseException as error:  # the status file is the only way to tell the page
        kind = _read(job_dir).kind
        _update(job_dir, state="failed", message=f"{kind.capitalize()} failed: {type(error).__name__}: {error}. Nothing was promoted.")
        (job_dir / TRACEBACK_FILE).write_text(traceback.format_exc(), encoding="utf-8")
        raise
    finally:
        os.close(lock_descriptor)


def _stop_pool_workers() -> None:
    """Stop the worker processes joblib keeps for reuse, if this job started any.

    loky's reusable executor keeps its workers (about 700 MB for a search) for 300 s after
    their last task, for a next ``Parallel`` call that a finished job never makes. A
    multiprocessing child leaves through ``os._exit``, which runs no ``atexit`` hook, so
    loky's own clean-up at exit never ran and they outlived the job, and the server (issue 26).
    """
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    # Its one executor, if any (get_reusable_executor() would make one of this machine's size to stop it).
    executor = getattr(loky, "_executor", None) if loky is not None else None
    if executor is not None:
        executor.shutdown(wait=True)


def _spawn_worker(job_dir: Path, kind: str, lock_descriptor: int, target: Callable, args: tuple, niceness: int) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(
        target=_run_worker,
        args=(str(job_dir), int(niceness), _InheritedLock(lock_descriptor), target, tuple(args)),
        name=f"huecast-{kind}-{job_dir.name}",
    )
    try:
        process.start()
    except BaseException as error:
        _update(job_dir, state="failed", message=f"The {kind} worker could not start: {type(error).__name__}: {error}")
        raise
    return process


# --------------------------------------------------------------------------------------
# The queue's public functions
# --------------------------------------------------------------------------------------


def start_job(
    kind: str,
    target: Callable,
    args: tuple = (),
    *,
    user: User,
    jobs_dir=None,
    niceness: int = DEFAULT_NICENESS,
    details: dict | None = None,
) -> str:
    """Run ``target`` in a new worker process, if no other job runs; return the job id.

    Parameters
    ----------
    kind : str, what the job does, in a word; it names the job in messages.
    target : module-level callable ``target(job_dir, progress, *args) -> (message, output)``
        Runs in the worker. ``progress(fraction 0–1, message)`` updates the status (at
        most four times a second). It returns the final message and what it made (a
        str or None); if it raises, the job is marked failed and the traceback kept.
    args : tuple, picklable (the worker is spawned, not forked).
    user : User, must be an admin; recorded as ``started_by``. No default: a caller
        that forgets to say who acts must not pass as an admin.
    jobs_dir : path, default ``<data dir>/jobs``; created if needed.
    niceness : int, added to the worker's niceness.
    details : dict, optional, recorded in the status (JSON values). The busy message of
        a later start names the job by ``description`` (``"a configuration search"``)
        and says where to follow it by ``follow_on`` (``"the Compare page"``).

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    JobBusy
        Another job (of any kind) is running in this jobs folder.
    """
    require_admin(user, f"start a {kind} job")
    root = jobs_root(jobs_dir)
    lock_descriptor = _take_queue_lock(root)
    if lock_descriptor is None:
        raise _busy_error(root)
    try:
        job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        # Named in the lock before the status exists, so whoever reads a status can check it against the lock.
        os.ftruncate(lock_descriptor, 0)
        os.pwrite(lock_descriptor, job_id.encode("utf-8"), 0)
        job_dir = root / job_id
        job_dir.mkdir()
        status = JobStatus(job_id, kind, "running", 0.0, "starting the worker", user.name, _now(), _now(), details=dict(details or {}))
        atomic_write_json(job_dir / STATUS_FILE, asdict(status))
        process = _spawn_worker(job_dir, kind, lock_descriptor, target, args, niceness)
        _PROCESSES[job_id] = process
        _update(job_dir, pid=process.pid)
    finally:
        os.close(lock_descriptor)  # the worker holds its own copy of the lock from here on
    return job_id


def job_status(job_id: str, *, jobs_dir=None) -> JobStatus:
    """The status of a job; one whose worker died without finishing is reported as failed.

    Raises
    ------
    FileNotFoundError
        No such job in the jobs folder.
    """
    root = jobs_root(jobs_dir)
    job_dir = _job_dir(root, job_id)
    status = _read(job_dir)
    if status.state != "running" or _lock_holder(root) == job_id:
        return status
    process = _PROCESSES.get(job_id)
    if process is not None:
        process.join(timeout=_EXIT_WAIT_S)  # the lock is gone, so it is exiting: reap it for its exit code
    status = _read(job_dir)  # it may have finished between the first read and the lock check
    if status.state != "running":
        return status
    code = process.exitcode if process is not None else None
    how = f" (exit code {code})" if code is not None else ""
    return _update(job_dir, state="failed", message=f"The {status.kind} worker stopped before finishing{how}. Nothing was promoted; start it again.")


def active_job(*, kinds=None, jobs_dir=None) -> JobStatus | None:
    """The running job, if any, read from the lock; ``kinds`` (e.g. ``("training",)``) limits which count."""
    root = jobs_root(jobs_dir)
    holder = _lock_holder(root)
    if not holder:
        return None
    try:
        status = job_status(holder, jobs_dir=root)
    except FileNotFoundError:  # the starter has named the job but not yet written its status
        return None
    if status.finished or (kinds is not None and status.kind not in kinds):
        return None
    return status


def wait_for_job(job_id: str, *, jobs_dir=None, timeout: float = 600.0, poll_seconds: float = 0.2) -> JobStatus:
    """Block until the job finishes or ``timeout`` seconds pass; returns the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = job_status(job_id, jobs_dir=jobs_dir)
        if status.finished or time.monotonic() > deadline:
            return status
        time.sleep(poll_seconds)


def cancel_job(job_id: str, *, user: User, jobs_dir=None) -> JobStatus:
    """Stop a running job's worker (SIGTERM) and mark the job cancelled; nothing it was writing is ever used.

    Returns once the worker is gone (at most about 10 s), so a new job can start at once.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    FileNotFoundError
        No such job.
    """
    require_admin(user, "cancel a job")
    root = jobs_root(jobs_dir)
    status = job_status(job_id, jobs_dir=root)
    if status.state != "running":
        return status
    process = _PROCESSES.get(job_id)
    if process is not None:
        process.terminate()
        process.join(timeout=_EXIT_WAIT_S)
    elif status.pid is not None:
        try:
            os.kill(status.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + _EXIT_WAIT_S
        while _lock_holder(root) == job_id and time.monotonic() < deadline:
            time.sleep(0.05)
    return _update(_job_dir(root, job_id), state="cancelled", message=f"Cancelled by {user.name}; nothing was promoted.")
