"""The search on a Dask cluster (joblib's dask backend) ranks exactly as the local run does.

The cluster is a ``LocalCluster`` of 2 worker processes on loopback, started by the test:
the same scheduler protocol a real cluster speaks (``python -m model search --cluster ADDRESS``).
"""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from sklearn.base import clone

from model.jobs import search
from model.models.hybrid import HybridModel

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("dask.distributed", reason="dask.distributed is not installed (pip install -r requirements.txt)")

TINY_SPACE = {
    **search.SEARCH_SPACE,
    "hidden_layer_sizes": ((4,), (6,)),
    "n_ensemble": (1,),
    "max_iter": (10, 20),
    "physics_ridge": (1e-3,),
    "physics_smoothness": (1e-2,),
}
TINY_CHAMPION = HybridModel(hidden_layer_sizes=(5,), max_iter=15, n_ensemble=1)
RANKING_COLUMNS = ["rank", "candidate", "config_json", "cv_delta_e00_mean_headline", "test_delta_e00_mean_headline"]


@pytest.fixture(scope="module")
def local_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster


def test_a_search_on_a_local_cluster_of_two_workers_ranks_as_the_local_run(tiny_dataset, quick_model, local_cluster, monkeypatch):
    monkeypatch.setattr(search, "baseline_model", lambda: clone(quick_model))
    options = dict(n_trials=3, seed=5, n_folds=2, n_finalists=2, space=TINY_SPACE, champion=TINY_CHAMPION)
    local = search.run_search(tiny_dataset, n_jobs=1, **options)
    on_cluster = search.run_search(tiny_dataset, cluster=local_cluster.scheduler_address, **options)

    assert on_cluster.meta["cluster"] == local_cluster.scheduler_address and on_cluster.meta["cluster_workers"] == 2
    assert "cluster" not in local.meta
    pd.testing.assert_frame_equal(on_cluster.trials[RANKING_COLUMNS], local.trials[RANKING_COLUMNS])
    pd.testing.assert_frame_equal(
        on_cluster.references[["candidate", "cv_delta_e00_mean_headline"]], local.references[["candidate", "cv_delta_e00_mean_headline"]]
    )
    assert list(on_cluster.references["candidate"]) == [search.CHAMPION, search.PHYSICS, search.BASELINE]
    # The trials really ran in the workers' processes, not here.
    assert len(local_cluster.scheduler_info["workers"]) == 2
    logs = local_cluster.get_logs()
    assert logs  # the workers are alive after the run


def test_the_cli_takes_a_cluster_address():
    from model.__main__ import build_parser

    args = build_parser().parse_args(["search", "--data", "data/demo", "--cluster", "tcp://10.1.2.3:8786"])
    assert args.cluster == "tcp://10.1.2.3:8786"
    assert build_parser().parse_args(["search", "--data", "data/demo"]).cluster is None


def _mapped_afresh() -> bool:
    """True if glibc serves an 8 MB array with its own mmap (as under dask's MALLOC_TRIM_THRESHOLD_).

    Nested imports, so that it travels to a worker by value. It reads glibc's own count of mapped
    bytes (mallinfo2(3)) while the array lives, which page-fault counts (huge pages, the worker's
    other threads) only approximate.
    """
    import ctypes
    import ctypes.util

    import numpy as np

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    mapped = []
    for _ in range(3):  # the first array may grow the heap; the dynamic threshold settles after one free
        before = libc.mallinfo2().hblkhd
        array = np.ones(1_000_000)
        mapped.append(libc.mallinfo2().hblkhd - before >= array.nbytes)
        del array
    return mapped[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and mallinfo2 are glibc's (Linux)")
def test_the_cluster_backend_lets_workers_reuse_memory_as_a_plain_process_does():
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which maps and unmaps every large array afresh
    # (a hybrid fit 1.7x slower); joblib_backend sets the thresholds back on every worker it connects to.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0") as cluster:
        with distributed.Client(cluster.scheduler_address) as client:
            before = client.run(_mapped_afresh)
        with search.joblib_backend(cluster.scheduler_address), distributed.Client(cluster.scheduler_address) as client:
            after = client.run(_mapped_afresh)
    assert set(before) == set(after) and len(before) == 1
    assert list(before.values()) == [True]  # dask's own setting: each 8 MB array mapped afresh
    assert list(after.values()) == [False]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and mallinfo2 are glibc's (Linux)")
def test_a_worker_started_with_the_preload_is_ready_before_its_first_task():
    # `dask worker ADDRESS --preload model.jobs.dask_worker`: the fit's imports done and the allocator set at start,
    # even for a worker that no joblib_backend ever connected to.
    def state() -> tuple[bool, bool]:
        import sys

        return "sklearn.neural_network" in sys.modules, _mapped_afresh()

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0", preload=["model.jobs.dask_worker"],
    ) as cluster, distributed.Client(cluster.scheduler_address) as client:
        (imported, mapped_afresh), = client.run(state).values()
    assert imported
    assert not mapped_afresh  # not an 8 MB array mapped afresh each time (as dask's own setting does)
