"""A finished job leaves no worker processes behind (issue 26: a search's ~700 MB of joblib workers stayed 5 minutes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from model.auth.access import LOCAL_ADMIN
from model.jobs import job_queue


def _pid_of_a_worker(_: int) -> int:
    return os.getpid()


def _parallel_job(job_dir: Path, progress) -> tuple[str, str]:
    """A job that, like a search, runs its work in joblib's (loky's) reusable worker processes."""
    from joblib import Parallel, delayed

    pids = set(Parallel(n_jobs=2)(delayed(_pid_of_a_worker)(index) for index in range(8)))
    pids.discard(os.getpid())
    return "done", ",".join(str(pid) for pid in sorted(pids))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's bookkeeping is left


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
def test_a_finished_jobs_joblib_workers_exit_with_it(tmp_path):
    job_id = job_queue.start_job("search", _parallel_job, (), user=LOCAL_ADMIN, jobs_dir=tmp_path, niceness=0)
    status = job_queue.wait_for_job(job_id, jobs_dir=tmp_path, timeout=120)
    assert status.state == "done", status.message
    workers = [int(pid) for pid in status.output.split(",") if pid]
    assert workers, "the job ran no worker processes, so this test could not fail"
    deadline = time.monotonic() + 10  # loky would keep them 300 s
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
