"""Tables for display: result tables with the headers a reader understands.

The numbers are not changed, only chosen and named; units are in the headers (ΔE00 in
CIEDE2000 units, spectral errors in reflectance factor 0–1, times in seconds).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["SEARCH_SCORE_COLUMNS", "SEARCH_DETAIL_COLUMNS", "SEARCH_TOP_COLUMNS", "search_top_table"]

#: The scores of the top-10 table, first, with plain headers (what a reader compares).
SEARCH_SCORE_COLUMNS = {
    "rank": "rank",
    "candidate": "trial",
    "test_delta_e00_mean_headline": "test mean ΔE00",
    "test_delta_e00_p95_headline": "test p95 ΔE00",
    "cv_delta_e00_mean_headline": "CV mean ΔE00",
    "test_spectral_mae": "test spectral MAE",
    "test_spectral_r2": "test spectral R²",
    "fit_seconds": "fit time (s)",
}
#: The engineering details of each configuration (solver, regularisation…), for an expander.
SEARCH_DETAIL_COLUMNS = {
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
}
#: Every column the full table shows: the scores, then the details.
SEARCH_TOP_COLUMNS = {**SEARCH_SCORE_COLUMNS, **SEARCH_DETAIL_COLUMNS}


def search_top_table(top: pd.DataFrame, *, details: bool = True) -> pd.DataFrame:
    """The top configurations of a search, scores first, with display headers.

    Parameters
    ----------
    top : DataFrame
        :meth:`model.jobs.search.SearchResult.top`; other columns are dropped.
    details : bool
        Add the engineering details (:data:`SEARCH_DETAIL_COLUMNS`) after the scores;
        without them the table is narrow enough to read at 800 px.

    Returns
    -------
    DataFrame, a new table in :data:`SEARCH_SCORE_COLUMNS` (then detail) order.
    """
    columns = SEARCH_TOP_COLUMNS if details else SEARCH_SCORE_COLUMNS
    return top[list(columns)].rename(columns=columns)
