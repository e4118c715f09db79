"""model.core.threads: one BLAS thread inside the context, the previous setting restored after."""

from threadpoolctl import threadpool_info, threadpool_limits

from model.core.threads import one_blas_thread


def _blas_threads() -> set[int]:
    return {library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"}


def test_one_blas_thread_limits_every_blas_library_and_restores_the_setting():
    import scipy.linalg  # noqa: F401  (scipy's own BLAS, as the physics fit loads it)

    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        with one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == {2}
        with one_blas_thread():  # the second use asks the same controller
            assert _blas_threads() == {1}
        assert _blas_threads() == {2}
