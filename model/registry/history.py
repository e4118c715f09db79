"""The model history: every saved version with its status, its data, its figures and whether they compare.

The Retrain page's history table reads it (through :mod:`model.jobs.retrain`, which
re-exports it). Whether a version's figures can stand beside the champion's is the one
door's rule (:func:`model.registry.promotion.why_not_comparable`): the same colorants and
data, scored on the same folds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.registry import promotion, registry, review
from model.registry.registry import ModelRegistry

__all__ = ["model_history"]


def model_history(models_dir=None) -> pd.DataFrame:
    """Every saved version, newest first, with its metrics, data and promotion record.

    ``trained_on`` names the data as people do (:func:`model.registry.review.data_name`: the
    upload's file names and day, or "Synthetic demo"). A version's error figures are its
    own data's: ``comparable`` says whether they can stand beside the champion's ("yes",
    or "no: trained on the synthetic demo: other colorants (…)").

    Columns ``version, status, comparable, created_at, trained_on, n_samples, n_recipes,
    store_version, delta_e00_mean, delta_e00_p95, spectral_mae, last_promoted_at,
    last_promoted_by``. ``status`` is ``champion``, ``former champion`` or ``challenger``.
    """
    models = ModelRegistry(models_dir)
    champion = models.champion_version()
    history = models.promotion_history()
    try:
        champion_card = None if champion is None else models.read_card(champion)
    except registry.IntegrityError:
        champion_card = None  # the champion's own row says what is wrong with it; the others are not compared
    rows = []
    for card in models.list_cards():
        promotions = [entry for entry in history if entry.get("version") == card.version]
        status = "champion" if card.version == champion else ("former champion" if promotions else "challenger")
        rows.append(
            {
                "version": card.version,
                "status": status,
                "comparable": _comparable(card, champion_card, models.root),
                "created_at": card.created_at,
                "trained_on": review.data_name(card.dataset),
                "n_samples": card.dataset.get("n_samples"),
                "n_recipes": card.dataset.get("n_recipes"),
                "store_version": (card.dataset.get("store_version") or "")[:12],
                "delta_e00_mean": card.metrics.get("delta_e00_mean_headline"),
                "delta_e00_p95": card.metrics.get("delta_e00_p95_headline"),
                "spectral_mae": card.metrics.get("spectral_mae"),
                "last_promoted_at": promotions[-1]["at"] if promotions else "",
                "last_promoted_by": promotions[-1].get("user", "") if promotions else "",
            }
        )
    columns = ["version", "status", "comparable", "created_at", "trained_on", "n_samples", "n_recipes", "store_version", "delta_e00_mean", "delta_e00_p95", "spectral_mae", "last_promoted_at", "last_promoted_by"]
    return pd.DataFrame(rows, columns=columns).iloc[::-1].reset_index(drop=True)


def _comparable(card: registry.ModelCard, champion_card: registry.ModelCard | None, root: Path) -> str:
    """"yes", "yes, on the same folds: X against the champion's Y", "no: why", or "" for the champion
    itself (or without a readable champion).

    The table's figures are each model's own cross-validation. Where the two were scored with
    other folds (3 × 1 against 5 × 3, say) those figures do not compare, so the cell gives the
    same-folds figures instead: reading 1.15 beside 1.03 as a 10 % gain would be wrong when both
    score 1.03 on the same folds.
    """
    if champion_card is None or card.version == champion_card.version:
        return ""
    why = promotion.why_not_comparable(card, champion_card)
    if why is not None:
        return f"no: {why}"
    scored = promotion.same_folds_errors(card.version, champion_card.version, root)
    if scored is None:
        return "no: never scored on the same data and folds as the champion"
    if card.notes.get("evaluation") == champion_card.notes.get("evaluation"):
        return "yes"
    ours, theirs, _, _ = scored
    return f"yes, on the same folds: {ours:.2f} against the champion's {theirs:.2f} ΔE00 (the figures here are each model's own folds)"
