"""One door to the champion: whatever starts a model serving passes :func:`promote`.

Retrain's Promote, a configuration from Compare (trained as a challenger first), a
rollback, ``POST /api/v1/model/promote`` and ``python -m model train --promote`` all call
:func:`promote`, and nothing else moves the champion pointer (``ModelRegistry.promote``). The
door

1. finds the **verdict** (:func:`verdict`): the version against the current champion on the
   same data and the same leave-recipe-out folds. That is the comparison the challenger
   job computed (:mod:`model.registry.comparison`, saved beside the challenger, read in either
   direction, so a rollback reuses the comparison made when the newer model was promoted),
   or, for two models trained on the same data with the same folds, the leave-recipe-out
   figures on their cards;
2. is called only after the verdict was shown: it refuses without ``confirm=True``;
3. refuses a version that predicts worse than the champion unless an ``override_reason``
   is written; the reason, the verdict and the user go into the promotions log.

A model is compared only with models scored on the same colorants and data. One trained
on other colorants is "not comparable, trained on the synthetic demo: other colorants";
promoting it over a champion of the lab's own data needs a written reason, and a rollback
never offers it (:func:`rollback_options`), nor a version that never served. The first
promotion (no champion yet) and replacing the synthetic demo's champion by a model of
other colorants need no comparison, and the verdict says so.

Scales: ΔE00 is CIEDE2000 (CIE 142-2001; Sharma et al. 2005), mean over the
comparison's out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from model.auth.access import User, require_admin
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.registry.comparison import COMPARISON_FILE, Comparison, read_comparison
from model.registry.training_data import data_name, trained_on_demo
from model.store.measurements import DEMO_DATA_NAME

__all__ = [
    "SAME_DELTA_E00",
    "Verdict",
    "PromotionRefused",
    "verdict",
    "promote",
    "served_versions",
    "rollback_options",
    "why_not_comparable",
    "same_folds_errors",
]

#: Mean ΔE00 differences below this are "equally good": the two agree to two decimals.
SAME_DELTA_E00 = 0.005
#: What each outcome looks like: the colour of the box a page shows it in.
_TONES = {"better": "success", "worse": "warning", "not comparable": "warning", "refused": "error"}
_VERBS = {"promote": "Promoting", "rollback": "Rolling back to"}
#: The longest override reason kept in the promotions log (characters): a reason, not a document.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class Verdict:
    """Which of a version and the champion predicts better, in plain words, before the door opens.

    Attributes
    ----------
    version : str, the model that would serve.
    champion_version : str or None, the model serving now.
    action : ``"promote"`` or ``"rollback"``.
    outcome : str
        ``"first"`` (no champion yet), ``"better"``, ``"same"``, ``"worse"`` (needs an override
        reason), ``"replaces the demo"``, ``"champion unreadable"``, ``"not comparable"``
        (needs an override reason to promote; never a rollback) or ``"refused"`` (see ``refusal``).
    sentence : str, the verdict in words; shown first, in a box of colour :attr:`tone`.
    version_delta_e00, champion_delta_e00 : float or None, mean ΔE00 on the same recipes and folds.
    basis : str, how the two were scored (the comparison's protocol), or why they were not.
    refusal : str or None, why the door stays shut whatever is confirmed (a rollback to a
        version that never served, the champion itself…).
    """

    version: str
    champion_version: str | None
    action: str
    outcome: str
    sentence: str
    version_delta_e00: float | None = None
    champion_delta_e00: float | None = None
    basis: str = ""
    refusal: str | None = None

    @property
    def tone(self) -> str:
        """``"success"`` only for good news (the version predicts better); ``"warning"``, ``"error"`` or ``"info"`` otherwise."""
        return _TONES.get(self.outcome, "info")

    @property
    def needs_override(self) -> bool:
        """True when serving this version needs a written reason: it predicts worse, or cannot be compared."""
        return self.outcome in ("worse", "not comparable")

    @property
    def compared(self) -> bool:
        """True when the two were scored on the same recipes and folds (so their figures can be set side by side)."""
        return self.outcome in ("better", "same", "worse")

    def to_dict(self) -> dict:
        """The verdict as the API returns it (plain JSON types), with ``tone`` and ``needs_override``."""
        return {**asdict(self), "tone": self.tone, "needs_override": self.needs_override}


class PromotionRefused(ValueError):
    """The door stayed shut: not confirmed, no reason for a worse model, or not allowed at all.

    Attributes
    ----------
    field : str, what the caller must change: ``"confirm"``, ``"override_reason"`` or ``"version"``.
    verdict : Verdict, the verdict the refusal is about (show it).
    status : int, the HTTP status the API answers with: 422 without ``confirm``, 409 otherwise.
    """

    def __init__(self, message: str, *, field: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.field = field
        self.verdict = verdict

    @property
    def status(self) -> int:
        return 422 if self.field == "confirm" else 409


# --------------------------------------------------------------------------------------
# Comparable or said to be not
# --------------------------------------------------------------------------------------


def _colorants(card: registry.ModelCard) -> frozenset | None:
    named = card.dataset.get("colorants")
    return frozenset(named) if named else None


def _data_phrase(card: registry.ModelCard) -> str:
    name = data_name(card.dataset)
    return "the synthetic demo" if name == DEMO_DATA_NAME else f"“{name}”"




def why_not_comparable(card: registry.ModelCard, champion: registry.ModelCard) -> str | None:
    """Why ``card`` cannot be compared with ``champion`` at all (other colorants), in words; None when it can.

    For example ``"trained on the synthetic demo: other colorants (FluoYellow, …)"``. A card
    that names no colorants is judged by its data alone (:func:`same_folds_errors`).
    """
    own, theirs = _colorants(card), _colorants(champion)
    if own is None or theirs is None or own == theirs:
        return None
    return f"trained on {_data_phrase(card)}: other colorants ({', '.join(sorted(own))}; the champion has {', '.join(sorted(theirs))})"


@dataclass(frozen=True)
class _Scored:
    version_error: float
    champion_error: float
    n_recipes: int | None
    basis: str


def _from_comparison(comparison: Comparison, version_is_challenger: bool) -> _Scored:
    summary = comparison.summary.loc["mean ΔE00"]
    challenger, champion = float(summary["challenger"]), float(summary["champion"])
    ours, theirs = (challenger, champion) if version_is_challenger else (champion, challenger)
    return _Scored(ours, theirs, len(comparison.per_recipe), comparison.protocol)


def _saved_comparison(root: Path, version: str, other: str) -> _Scored | None:
    """A same-folds comparison of ``version`` and ``other`` saved beside either of them (the challenger's folder)."""
    for folder, version_is_challenger in ((version, True), (other, False)):
        if not (root / folder / COMPARISON_FILE).is_file():
            continue
        try:
            comparison = read_comparison(root / folder)
        except (OSError, ValueError, KeyError):  # damaged: as if there were none, and said so by the verdict
            continue
        if comparison.champion_version == (other if version_is_challenger else version):
            return _from_comparison(comparison, version_is_challenger)
    return None


def _card_comparison(card: registry.ModelCard, champion: registry.ModelCard) -> _Scored | None:
    """Both cards' leave-recipe-out figures, when they were measured on the same data with the same folds."""
    fingerprint = card.dataset.get("fingerprint")
    same_data = bool(fingerprint) and fingerprint == champion.dataset.get("fingerprint")
    same_folds = card.notes.get("evaluation") == champion.notes.get("evaluation")
    ours, theirs = card.metrics.get("delta_e00_mean_headline"), champion.metrics.get("delta_e00_mean_headline")
    if not (same_data and same_folds) or ours is None or theirs is None:
        return None
    folds = card.notes.get("evaluation") or "leave-recipe-out cross-validation"
    basis = f"Both models' own leave-recipe-out figures: the same data (fingerprint {fingerprint[:12]}) and the same folds ({folds})."
    return _Scored(float(ours), float(theirs), card.dataset.get("n_recipes"), basis)


def same_folds_errors(version: str, other: str, models_dir=None) -> tuple[float, float, int | None, str] | None:
    """Mean ΔE00 of ``version`` and ``other`` scored on the same data and folds, the recipe count and how.

    None when they were never scored that way (other colorants or data, and no saved
    comparison between them): then no figure of one may stand beside the other's.
    """
    models = ModelRegistry(models_dir)
    card, other_card = models.read_card(version), models.read_card(other)
    if why_not_comparable(card, other_card):
        return None
    scored = _saved_comparison(models.root, version, other) or _card_comparison(card, other_card)
    return None if scored is None else (scored.version_error, scored.champion_error, scored.n_recipes, scored.basis)


# --------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------


def served_versions(models_dir=None) -> list[str]:
    """Versions that ever served (the promotions log, and the champion), most recently promoted first."""
    models = ModelRegistry(models_dir)
    promoted = [entry.get("version") for entry in reversed(models.promotion_history())]
    return [version for version in dict.fromkeys([models.champion_version(), *promoted]) if version]


def _scored_sentence(version: str, champion: str, scored: _Scored, action: str) -> tuple[str, str]:
    ours, theirs = scored.version_error, scored.champion_error
    where = f"on the same {scored.n_recipes} recipes and folds" if scored.n_recipes else "on the same recipes and folds"
    verb = _VERBS[action]
    if abs(ours - theirs) < SAME_DELTA_E00:
        return "same", f"{version} and the champion {champion} predict equally well: mean ΔE00 {ours:.2f} and {theirs:.2f} {where}."
    if ours < theirs:
        closer = 100.0 * (theirs - ours) / theirs
        return "better", (
            f"{version} predicts {closer:.0f} % closer than the champion {champion}: mean ΔE00 {ours:.2f} against {theirs:.2f} {where}. "
            f"{verb} it improves the served predictions."
        )
    closer = 100.0 * (ours - theirs) / ours
    return "worse", (
        f"The champion {champion} predicts {closer:.0f} % closer than {version}: mean ΔE00 {theirs:.2f} against {ours:.2f} {where}. "
        f"Keep the champion; {verb.lower()} {version} needs a written reason."
    )


def verdict(version: str, *, action: str = "promote", models_dir=None) -> Verdict:
    """How ``version`` compares with the current champion, in words, before anyone confirms.

    Parameters
    ----------
    version : str, a saved version.
    action : ``"promote"`` or ``"rollback"``; a rollback is refused for a version that never
        served or that cannot be compared with the champion.
    models_dir : path, default :func:`model.core.settings.models_dir`.

    Raises
    ------
    registry.VersionNameError, registry.IntegrityError
        ``version`` is not a version name, or has no readable card.
    ValueError
        ``action`` is neither ``"promote"`` nor ``"rollback"``.
    """
    if action not in _VERBS:
        raise ValueError(f"action={action!r}: use 'promote' or 'rollback'.")
    models = ModelRegistry(models_dir)
    card = models.read_card(version)
    champion = models.champion_version()

    def shut(why: str) -> Verdict:
        return Verdict(version, champion, action, "refused", why, refusal=why)

    if action == "rollback" and version not in served_versions(models.root):
        return shut(f"{version} never served, so there is nothing to roll back to; promote it instead (it is then compared with the champion).")
    if champion is None:
        return Verdict(version, None, action, "first", f"There is no champion yet, so there is nothing to compare with: {version} will be the first model to serve.")
    if champion == version:
        return shut(f"{version} is already the champion.")
    try:
        champion_card = models.read_card(champion)
    except registry.IntegrityError as error:
        return Verdict(version, champion, action, "champion unreadable", f"The champion {champion} cannot be read ({error}), so there is nothing to compare with.")
    other_colorants = why_not_comparable(card, champion_card)
    scored = None if other_colorants else (_saved_comparison(models.root, version, champion) or _card_comparison(card, champion_card))
    if scored is not None:
        outcome, sentence = _scored_sentence(version, champion, scored, action)
        return Verdict(version, champion, action, outcome, sentence, scored.version_error, scored.champion_error, scored.basis)
    if other_colorants and trained_on_demo(champion_card.dataset) and action == "promote":
        sentence = (
            f"The champion {champion} was trained on the synthetic demo, with other colorants than {version}: it cannot predict "
            f"{version}'s data, so the two are not compared. Promoting {version} replaces the demo model with one of your own data."
        )
        return Verdict(version, champion, action, "replaces the demo", sentence, basis=other_colorants)
    why = other_colorants or (
        f"trained on {_data_phrase(card)}, the champion on {_data_phrase(champion_card)}, and never scored on the same folds as the champion"
    )
    if action == "rollback":
        return shut(f"{version} is not comparable with the champion {champion}: {why}.")
    sentence = (
        f"{version} is not comparable with the champion {champion}: {why}. Nobody knows which predicts better; train it as a challenger "
        "on the current data to compare them, or give a written reason to promote it anyway."
    )
    return Verdict(version, champion, action, "not comparable", sentence, basis=why)


def promote(version: str, *, user: User, confirm: bool = False, override_reason: str | None = None, action: str = "promote", models_dir=None) -> Verdict:
    """The one door: make ``version`` the champion after its verdict was shown and confirmed.

    Parameters
    ----------
    version : str
    user : User, must be an admin (checked first, before anything is read).
    confirm : bool
        True only after the admin saw :func:`verdict` (a page's confirm step, the API's
        ``"confirm": true``, the command line's ``--yes``).
    override_reason : str, optional
        Required (not blank) when the verdict :attr:`~Verdict.needs_override`; recorded in
        the promotions log with the user and the verdict.
    action : ``"promote"`` or ``"rollback"``, as the log records it.
    models_dir : path, optional.

    Returns
    -------
    Verdict, the one the promotion passed with.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    PromotionRefused
        Not confirmed (``field="confirm"``), a worse or incomparable model without a reason
        (``"override_reason"``), or a version the door never lets through (``"version"``).
    registry.IntegrityError, registry.StorageError
        As :meth:`model.registry.registry.ModelRegistry.promote`: the pointer and the log stay as they were.
    """
    require_admin(user, f"{action} a model")
    models = ModelRegistry(models_dir)
    models.check_writable()  # a folder that cannot be written is said before anyone confirms
    decided = verdict(version, action=action, models_dir=models.root)
    if decided.refusal:
        raise PromotionRefused(decided.refusal, field="version", verdict=decided)
    if confirm is not True:
        raise PromotionRefused(f"Read the verdict, then confirm: {decided.sentence}", field="confirm", verdict=decided)
    reason = (override_reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise PromotionRefused(f"The override reason has {len(reason):,} characters; write it in at most {MAX_REASON_CHARS:,}.",
                               field="override_reason", verdict=decided)
    if decided.needs_override and not reason:
        raise PromotionRefused(
            f"{decided.sentence} {_VERBS[action]} {version} anyway needs a written reason (override_reason), kept in the promotions log.",
            field="override_reason", verdict=decided,
        )
    record = {"verdict": decided.outcome, "verdict_sentence": decided.sentence, "confirmed": True}
    if reason:
        record["override_reason"] = reason
    models.promote(version, user=user, action=action, record=record)
    return decided


def rollback_options(models_dir=None, newest: int = 10) -> list[Verdict]:
    """Verdicts for rolling back to each of the ``newest`` former champions, most recently promoted first.

    Only versions that served are listed (a challenger that never served is not); a verdict
    whose :attr:`~Verdict.refusal` is set is shown as not offered, with that reason. A card
    that can no longer be read is left out.
    """
    models = ModelRegistry(models_dir)
    champion = models.champion_version()
    options = []
    for version in served_versions(models.root):
        if version == champion:
            continue
        try:
            options.append(verdict(version, action="rollback", models_dir=models.root))
        except (registry.IntegrityError, ValueError):
            continue
        if len(options) == newest:
            break
    return options
