"""Tables for display: result tables with the headers a reader understands.

The numbers are not changed, only chosen and named; units are in the headers (ΔE00 in
CIEDE2000 units, spectral errors in reflectance factor 0–1, times in seconds).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["SEARCH_TOP_COLUMNS", "search_top_table"]

#: The search's trial columns the top-10 table shows, and their headers.
SEARCH_TOP_COLUMNS = {
    "rank": "rank",
    "candidate": "trial",
    "layers": "layers",
    "activation": "activation",
    "solver": "solver",
    "alpha": "alpha (L2)",
    "learning_rate_init": "learning rate",
    "batch_size": "batch",
    "n_ensemble": "ensemble size",
    "input_transform": "inputs",
    "spectral_target": "spectral target",
    "max_iter": "max iterations",
    "n_parameters": "parameters",
    "cv_delta_e00_mean_headline": "CV mean ΔE00",
    "test_delta_e00_mean_headline": "test mean ΔE00",
    "test_delta_e00_p95_headline": "test p95 ΔE00",
    "test_spectral_mae": "test spectral MAE",
    "test_spectral_r2": "test spectral R²",
    "fit_seconds": "fit time (s)",
}


def search_top_table(top: pd.DataFrame) -> pd.DataFrame:
    """The top configurations of a search, with display headers (:data:`SEARCH_TOP_COLUMNS`).

    Parameters
    ----------
    top : DataFrame
        :meth:`model.ops.search.SearchResult.top`; other columns are dropped.

    Returns
    -------
    DataFrame, a new table in :data:`SEARCH_TOP_COLUMNS` order.
    """
    return top[list(SEARCH_TOP_COLUMNS)].rename(columns=SEARCH_TOP_COLUMNS)
