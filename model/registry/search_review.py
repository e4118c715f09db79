"""A configuration search in plain words: the Compare page's verdict, its score tables.

The search (:mod:`model.jobs.search`) scores configurations of the served kind beside the
champion's own configuration, the physics alone and the old system's network, all on the
same held-out test recipes. This module says what that means for a reader: which predicts
better, by how much, and what to do (keep the served model, or train the best configuration
as a challenger and compare on the same folds through the one door to the champion). Each
function takes a :class:`model.jobs.search_result.SearchResult` (read through its ``row``,
``top``, ``references``, ``meta``, ``best`` and ``has_champion``).

Scales: ΔE00 in CIEDE2000 units (Sharma, Wu & Dalal 2005); spectral errors on the
reflectance factor (0–1); times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from model.evaluation.search_space import BASELINE, CHAMPION, PHYSICS
from model.registry import registry

__all__ = [
    "describe_configuration",
    "SearchVerdict",
    "search_verdict",
    "search_scores",
    "search_top_configurations",
    "search_matches_champion",
    "former_champion",
]


def describe_configuration(row: Mapping, *, short: bool = False) -> str:
    """A search row's model in words.

    A hybrid (``kind`` ``"HybridModel"``): ``"physics + 2 sets of networks, each with one layer of 32 neurons"``;
    a network: ``"2 networks, each with layers of 128 and 64 neurons"``; the physics row:
    ``"the Kubelka–Munk physics model"``. ``row`` is a row of
    :class:`model.jobs.search_result.SearchResult` (``layers`` as ``"128-64"``, ``n_ensemble``, ``kind``).
    ``short`` gives the same in a table cell's width: ``"physics + 2 nets of 32 neurons"``,
    ``"1 net of 128-64 neurons"``.
    """
    layers = [part for part in str(row.get("layers", "") or "").split("-") if part and part != "nan"]
    if not layers:
        return "the Kubelka–Munk physics model" if row.get("candidate") == PHYSICS else "a network"
    ensemble = row.get("n_ensemble")
    count = int(ensemble) if ensemble is not None and not (isinstance(ensemble, float) and math.isnan(ensemble)) else 1
    if short:
        nets = f"{count} net{'s' if count > 1 else ''} of {'-'.join(layers)} neurons"
        return f"physics + {nets}" if row.get("kind") == "HybridModel" else nets
    size = f"one layer of {layers[0]} neurons" if len(layers) == 1 else f"layers of {', '.join(layers[:-1])} and {layers[-1]} neurons"
    if row.get("kind") == "HybridModel":
        return f"physics + {count} sets of networks, each with {size}" if count > 1 else f"physics + one set of networks with {size}"
    return f"{count} networks, each with {size}" if count > 1 else f"one network with {size}"


def _relative(value: float, reference: float) -> str:
    """``"36 % lower than"`` / ``"12 % higher than"`` / ``"the same as"`` (errors: lower is better)."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference == 0:
        return "not comparable with"
    change = 100.0 * (value - reference) / abs(reference)
    if abs(change) < 0.5:
        return "the same as"
    return f"{abs(change):.0f} % {'lower' if change < 0 else 'higher'} than"


def _closer(winner_error: float, loser_error: float) -> float:
    """How much closer the winner predicts, in % of the loser's mean error."""
    return 100.0 * (loser_error - winner_error) / loser_error if loser_error else 0.0


@dataclass(frozen=True)
class SearchVerdict:
    """The one-sentence answer of a configuration search, and the numbers in it.

    Attributes
    ----------
    best : str, the rank-1 trial (ranked on cross-validation of the training recipes).
    best_description : str, its model in words.
    best_error, baseline_error, physics_error : float
        Mean ΔE00 (CIEDE2000) on the held-out test recipes, which no model saw: the best
        configuration, the old system's configuration and the Kubelka–Munk physics model.
    sentence : str, which is better and by how much, in words, and what to do.
    tone : str, the box it belongs in: ``"success"`` (green) only when the best configuration
        beats the served model (or, for a search saved before the champion's row, both
        references): there is something to try. ``"info"`` when the served model is at
        least as good (keep it); ``"warning"`` when a reference row beats every configuration.
    champion_error : float or None, the served model's configuration on the same test
        recipes; None for a search saved before that row existed.
    """

    best: str
    best_description: str
    best_error: float
    baseline_error: float
    physics_error: float
    sentence: str
    tone: str = "success"
    champion_error: float | None = None


def search_verdict(result, *, serving_version: str | None = None) -> SearchVerdict:
    """Which configuration a search found best, its error on unseen recipes, and how that compares with what serves.

    Parameters
    ----------
    result : :class:`model.jobs.search_result.SearchResult`
    serving_version : str, optional
        The champion serving now. When the search scored another one (a model was promoted
        since it ran), the verdict says so in a warning and claims nothing about the model in
        use; None trusts the search's champion row to be the one serving.

    Returns
    -------
    SearchVerdict
        With the champion's row (searches since issue 23), ``sentence`` reads, for example:
        "The served model's configuration predicts recipes it never saw 12 % closer than the best configuration
        found, trial-031 (physics + one set of networks with one layer of 16 neurons): 1.10
        against 1.25 ΔE00 on average over 9 test recipes. Keep it." (an ``info`` box), or
        "The best configuration found, trial-031 (…), predicts recipes it never saw 12 % closer
        than the served model's configuration: 1.10 against 1.25 ΔE00 on average over 9 test recipes. Train it
        as a challenger below to compare the two on the same folds before it serves." (a
        ``success`` box). Older searches compare with the physics model and the old system's
        configuration, as they were written.
    """
    best_row, baseline_row, physics_row = (result.row(name) for name in (result.best, BASELINE, PHYSICS))
    best_error, baseline_error, physics_error = (float(row["test_delta_e00_mean_headline"]) for row in (best_row, baseline_row, physics_row))
    description = describe_configuration(best_row)
    if getattr(result, "has_champion", False):
        searched = former_champion(result, serving_version)
        if searched is not None:
            return _verdict_against_former_champion(result, searched, serving_version, description, best_error, baseline_error, physics_error)
        return _verdict_against_champion(result, description, best_error, baseline_error, physics_error)
    references = sorted([(physics_error, "the physics model alone"), (baseline_error, "the old system's configuration")])
    (winner_error, winner), (other_error, other) = references
    if not winner_error < best_error:
        sentence = (
            f"The best configuration, {result.best} ({description}), missed recipes it had never seen by "
            f"{best_error:.2f} ΔE00 on average: {_relative(best_error, baseline_error)} the old system's configuration "
            f"({baseline_error:.2f}) and {_relative(best_error, physics_error)} the physics model alone ({physics_error:.2f})."
        )
        return SearchVerdict(result.best, description, best_error, baseline_error, physics_error, sentence)
    sentence = (
        f"{winner[:1].upper()}{winner[1:]} predicted recipes it had never seen {_closer(winner_error, best_error):.0f} % closer than the best configuration "
        f"of this search, {result.best} ({description}): {winner_error:.2f} against {best_error:.2f} ΔE00 on average. "
        f"No configuration here beats it; {other} missed by {other_error:.2f}."
    )
    return SearchVerdict(result.best, description, best_error, baseline_error, physics_error, sentence, tone="warning")


def former_champion(result, serving_version: str | None) -> str | None:
    """The version a search scored as the champion when another one (``serving_version``) serves now; else None."""
    searched = ((result.meta or {}).get("champion") or {}).get("version")
    if serving_version is None or not searched or searched == serving_version:
        return None
    return str(searched)


def _verdict_against_former_champion(
    result, searched: str, serving_version: str, description: str, best_error: float, baseline_error: float, physics_error: float
) -> SearchVerdict:
    champion_error = float(result.row(CHAMPION)["test_delta_e00_mean_headline"])
    n_test = len(result.meta.get("test_recipes", []))
    over = f" over {n_test} test recipes" if n_test else ""
    sentence = (
        f"This search was scored against {searched}, the model that served when it ran; {serving_version} serves now, so it says "
        f"nothing about the model in use. Against {searched}, the best configuration found, {result.best} ({description}), missed "
        f"recipes it never saw by {best_error:.2f} ΔE00 on average{over}, and {searched} by {champion_error:.2f}. "
        "Run a new search to compare configurations with the model in use."
    )
    return SearchVerdict(
        result.best, description, best_error, baseline_error, physics_error, sentence, tone="warning", champion_error=champion_error,
    )


def _verdict_against_champion(result, description: str, best_error: float, baseline_error: float, physics_error: float) -> SearchVerdict:
    champion_error = float(result.row(CHAMPION)["test_delta_e00_mean_headline"])
    n_test = len(result.meta.get("test_recipes", []))
    over = f" over {n_test} test recipes" if n_test else ""
    best = f"the best configuration found, {result.best} ({description})"
    numbers = dict(best_error=best_error, baseline_error=baseline_error, physics_error=physics_error, champion_error=champion_error)
    if best_error < champion_error and round(_closer(best_error, champion_error)) >= 1:
        sentence = (
            f"{best[:1].upper()}{best[1:]}, predicts recipes it never saw {_closer(best_error, champion_error):.0f} % closer than the "
            f"served model's configuration: {best_error:.2f} against {champion_error:.2f} ΔE00 on average{over}. Train it as a challenger below "
            "to compare the two on the same folds before it serves."
        )
        return SearchVerdict(result.best, description, sentence=sentence, tone="success", **numbers)
    if round(_closer(champion_error, best_error)) < 1:
        lead = f"The served model's configuration predicts recipes it never saw as well as {best}"
    else:
        lead = f"The served model's configuration predicts recipes it never saw {_closer(champion_error, best_error):.0f} % closer than {best}"
    sentence = f"{lead}: {champion_error:.2f} against {best_error:.2f} ΔE00 on average{over}. Keep it."
    return SearchVerdict(result.best, description, sentence=sentence, tone="info", **numbers)


#: The score columns of :func:`search_scores`, from a trials row, with plain headers.
_SCORE_COLUMNS = {
    "test_delta_e00_mean_headline": "mean error (ΔE00)",
    "test_delta_e00_p95_headline": "95 % below (ΔE00)",
    "test_spectral_mae": "spectral error",
    "test_fit_seconds": "training (s)",
}


def search_scores(result, *, serving_version: str | None = None) -> pd.DataFrame:
    """The best configuration, the served model's, the physics model and the old system's, scored on the test recipes.

    With ``serving_version`` other than the champion the search scored, that row is named
    "served when searched (<version>)", not "served model", and the comparison column
    ``vs served when searched``.

    Returns
    -------
    DataFrame
        One row each (``configuration``, in words; the served model's row only for searches
        that scored it), the columns of :data:`_SCORE_COLUMNS` (mean and 95th-percentile
        ΔE00, spectral MAE on reflectance 0–1, training seconds) and a comparison with the
        served model (``vs served model``: "12 % lower error"), or, for older searches,
        with the old configuration (``vs old configuration``). All figures are on recipes
        no model saw (the search's held-out test recipes).
    """
    has_champion = getattr(result, "has_champion", False)
    former = former_champion(result, serving_version) if has_champion else None
    labels = [(result.best, f"best found ({result.best})")]
    labels += [(CHAMPION, f"served when searched ({former})" if former else "served model (champion)")] if has_champion else []
    labels += [(PHYSICS, "physics alone (Kubelka–Munk)"), (BASELINE, "old system's network")]
    if has_champion:
        anchor, against = CHAMPION, "vs served when searched" if former else "vs served model"
    else:
        anchor, against = BASELINE, "vs old configuration"
    anchor_error = float(result.row(anchor)["test_delta_e00_mean_headline"])
    rows = []
    for name, label in labels:
        row = result.row(name)
        error = float(row["test_delta_e00_mean_headline"])
        rows.append(
            {
                "configuration": label,
                **{header: float(row[key]) if key in row else float("nan") for key, header in _SCORE_COLUMNS.items()},
                against: "—" if name == anchor else f"{_relative(error, anchor_error).removesuffix(' than')} error",
            }
        )
    return pd.DataFrame(rows)


def search_top_configurations(result, *, details: bool = False, serving_version: str | None = None) -> pd.DataFrame:
    """The top configurations of a search and the served model's, as a reader compares them.

    Columns, in the order a reader needs them: ``rank``, ``configuration`` (in short words, see
    :func:`describe_configuration`), ``test mean ΔE00`` (held-out recipes, scored once after
    ranking), ``CV mean ΔE00`` (the ranking score: cross-validation on the training recipes),
    ``95 % below (ΔE00)`` and ``training (s)`` (one CV fit, wall clock). With ``details``,
    the settings follow, named in words (``trial``, ``members``, ``L2 penalty (plain heads)`` …).

    The served model's configuration is the last row (rank blank) when the search scored it
    ("served then: …" when ``serving_version`` is another champion). ΔE00 is CIEDE2000.
    """
    served = "served then" if getattr(result, "has_champion", False) and former_champion(result, serving_version) else "served"
    top = result.top()
    rows = [top]
    if getattr(result, "has_champion", False):
        rows.append(result.references[result.references["candidate"] == CHAMPION])
    frame = pd.concat(rows, ignore_index=True)
    words = [
        f"{served}: {describe_configuration(row, short=True)}" if row.get("candidate") == CHAMPION else describe_configuration(row, short=True)
        for row in frame.to_dict("records")
    ]
    table = pd.DataFrame({
        "rank": frame["rank"].astype("Int64"),
        "configuration": words,
        "test mean ΔE00": frame["test_delta_e00_mean_headline"].astype(float),
        "CV mean ΔE00": frame["cv_delta_e00_mean_headline"].astype(float),
        "95 % below (ΔE00)": frame["test_delta_e00_p95_headline"].astype(float),
        "training (s)": frame["fit_seconds"].astype(float),
    })
    if not details:
        return table
    for column, header in _DETAIL_COLUMNS.items():
        if column in frame and frame[column].notna().any():
            table[header] = frame[column].to_numpy()
    return table


#: The settings of :func:`search_top_configurations` with ``details``, named in words.
_DETAIL_COLUMNS = {
    "candidate": "trial",
    "layers": "neurons per layer",
    "activation": "activation",
    "n_ensemble": "members",
    "max_iter": "max iterations",
    "input_transform": "inputs",
    "alpha": "L2 penalty (plain heads)",
    "residual_alpha": "L2 penalty (residual heads)",
    "physics_ridge": "physics ridge",
    "physics_smoothness": "physics smoothness",
    "blend_step": "blend step",
    "solver": "solver",
    "learning_rate_init": "learning rate",
    "batch_size": "batch",
    "spectral_target": "spectral target",
    "headline": "CIELAB path",
    "n_parameters": "parameters",
}


def search_matches_champion(search_meta: Mapping, card: registry.ModelCard) -> bool:
    """True when the search ran on the same data (dataset fingerprint) as the champion was trained on.

    A search of other data (the synthetic demo, after a model of real data was promoted)
    is stale: its ranking says nothing certain about the model in use.
    """
    fingerprint = (search_meta.get("dataset") or {}).get("fingerprint")
    return bool(fingerprint) and fingerprint == card.dataset.get("fingerprint")
