"""The champion, loaded once per process for every page and the API, and the sidebar that names it.

Pages import from here (``from dashboard import champion``) and never load a model
themselves, so the model is loaded once per process and every user shares it. Sign-in
and roles are :mod:`dashboard.auth`.

One champion, two forms that predict the same numbers (the fitted model predicts through its
serving form, :mod:`model.models.serving_form`): its serving snapshot (``serving.npz``: plain
numpy, no scikit-learn, nothing unpickled), which is all that predicting needs, and the full
model (unpickled, scikit-learn loaded), which pages that look inside it (Compare, Overview,
Plan) need. Pages call :func:`predictor` or :func:`full_model`, which show an error on the
page; code outside a page (the API, the warm start) calls :func:`served`, which shows
nothing and raises. Importing this module imports neither scikit-learn nor SciPy
(tests/test_import_weight.py), so the Predict page can run while the warm start
(:mod:`dashboard.warm_start`) still loads them.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import readiness
from dashboard.auth import current_user, render_account
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.registry.training_data import data_name, find_training_data
from model.serving import explore

__all__ = [
    "predictor",
    "full_model",
    "served",
    "serving_snapshot",
    "serving_status",
    "clear_champion_cache",
    "render_sidebar",
    "training_data",
    "training_samples",
    "NoChampion",
]

_SERVING_LOG = logging.getLogger("huecast.serving")


class NoChampion(RuntimeError):
    """No model in the models directory could be loaded."""


def _champion_pointer() -> tuple[str, str | None]:
    """The models folder (as a string: it keys the caches below) and its champion pointer, read afresh."""
    models = ModelRegistry()
    return str(models.root), models.champion_version()


@st.cache_resource(show_spinner="Loading the champion model…", max_entries=4)
def _load_champion(pointer: str, models_dir: str):
    # Keyed on the pointer (and folder): a promotion by another session changes the pointer,
    # so the next rerun asks for a new key and loads the new champion. Never mutate the result.
    return ModelRegistry(models_dir).load_champion_or_fallback()


@st.cache_resource(show_spinner="Loading the champion model…", max_entries=4)
def _load_serving_snapshot(pointer: str, models_dir: str):
    # Keyed like _load_champion. A snapshot that fails its check is logged once (this result
    # is cached) and the full model, checked on its own, serves instead.
    try:
        return ModelRegistry(models_dir).load_serving(pointer)
    except (FileNotFoundError, registry.IntegrityError, ValueError) as error:
        _SERVING_LOG.warning("The serving snapshot of champion %s cannot be used (%s); the full model serves instead.", pointer, error)
        return None, None


def serving_snapshot():
    """The champion's serving snapshot and card, ``(snapshot, card)``; ``(None, None)`` when it has none.

    Never waits for scikit-learn (the warm start's first phase asks before it is imported);
    a model kind without a snapshot is served by its full model (:func:`served`).
    """
    models_dir, pointer = _champion_pointer()
    if pointer is None:
        return None, None
    return _load_serving_snapshot(pointer, models_dir)


def predictor():
    """What a page predicts with, ``(predictor, card)``: the champion's serving snapshot, else the full champion.

    Both have ``predict(recipes) -> Prediction`` with the same numbers, ``colorants_``,
    ``training_range_``, ``input_columns`` and ``fluorescent_colorants``. Raises
    :class:`NoChampion` as :func:`full_model` does.
    """
    snapshot, card = serving_snapshot()
    return (snapshot, card) if snapshot is not None else full_model()


def served(full: bool = False):
    """The champion for code outside a page (the API, the warm start): ``(predictor, card)``.

    What predicts (its serving snapshot, else the full model), or with ``full`` the
    full model; both predict the same numbers. The same caches as :func:`predictor` and
    :func:`full_model`, so the API and the pages serve one model. Raises what
    :meth:`model.registry.registry.ModelRegistry.load_champion` raises; shows nothing.
    """
    if not full:
        snapshot, card = serving_snapshot()
        if snapshot is not None:
            return snapshot, card
    readiness.wait_for_heavy_imports()
    models_dir, pointer = _champion_pointer()
    model, card, _ = _load_champion(pointer, models_dir)
    return model, card


def serving_status() -> tuple[str, str | None]:
    """Whether the champion serves as promoted: ``("ok", None)``, or ``("degraded", why)``.

    Degraded while a fallback serves: the champion failed its check and the last good one
    serves (:meth:`model.registry.registry.ModelRegistry.load_champion`'s fallback), or the champion's serving
    snapshot failed its check and its full model serves. Reads the caches that
    :func:`served` fills (call that first); loads nothing else.
    """
    models_dir, pointer = _champion_pointer()
    if pointer is None:
        return "ok", None
    snapshot, snapshot_card = _load_serving_snapshot(pointer, models_dir)
    if snapshot is not None:
        return "ok", None
    readiness.wait_for_heavy_imports()
    _, card, fallback_reason = _load_champion(pointer, models_dir)
    if fallback_reason is not None:
        return "degraded", f"Champion {pointer} failed its check: {fallback_reason} An admin can roll back or promote another version."
    if snapshot_card is None:  # load_serving raised (logged once): not a model kind without a snapshot
        return "degraded", (f"The serving snapshot of champion {pointer} failed its check (the server log says why); "
                            "its full model serves the same numbers, with more memory and a slower start.")
    return "ok", None


def full_model():
    """The served model and its card, loaded once per champion for all users.

    Reads the champion pointer on every call (one small file), so a promotion made in
    another session is picked up on the next rerun. When the champion fails its
    integrity check, :meth:`model.registry.registry.ModelRegistry.load_champion` serves the last good one;
    the page then shows why, and that an admin can roll back.

    Returns
    -------
    (model, ModelCard)

    Raises
    ------
    NoChampion
        No version in the models directory loads; the page has already shown an error.
    """
    readiness.wait_for_heavy_imports()
    models_dir, pointer = _champion_pointer()
    try:
        model, card, fallback_reason = _load_champion(pointer, models_dir)
    except (registry.IntegrityError, registry.StorageError, ValueError) as error:  # a damaged, unreadable or wrongly signed champion
        st.error(f"The champion model {pointer} cannot be used: {error}")
    except FileNotFoundError:
        pass  # nothing promoted yet: said below
    else:
        if fallback_reason is not None:
            st.error(f"The champion model {pointer} cannot be used: {fallback_reason}")
            st.warning(
                f"Showing the last good champion, {card.version}, because champion {pointer} failed its check. "
                "An admin can roll back or promote another model on the Retrain page."
            )
        return model, card
    st.error(
        f"No champion model in {models_dir} can be loaded. Train and promote one with "
        "`python -m model train --data data/demo --promote`, then reload this page."
    )
    raise NoChampion(models_dir)


def clear_champion_cache() -> None:
    """Forget every loaded model; call after a promotion or rollback."""
    _load_champion.clear()
    _load_serving_snapshot.clear()


def render_sidebar(model, card) -> None:
    """Name the champion in the sidebar: version, training set size, leave-recipe-out ΔE00."""
    n_recipes = card.dataset.get("n_recipes", getattr(model, "n_recipes_", None))
    n_samples = card.dataset.get("n_samples", getattr(model, "n_samples_", None))
    delta_e00_mean = card.metrics.get("delta_e00_mean_headline")
    with st.sidebar:
        st.markdown("**Champion model**")
        st.caption(f"Version `{card.version}`")
        st.caption(
            f"Trained on {n_recipes} recipes ({n_samples} measurements) from "
            f"“{data_name(card.dataset)}”."
        )
        if delta_e00_mean is not None:
            st.metric(
                "Leave-recipe-out mean ΔE00 per film",
                f"{delta_e00_mean:.2f}",
                help="Mean CIEDE2000 colour difference over the films of recipes the model never saw in training "
                "(Overview averages each recipe's films first, so its figure differs a little). "
                "Below about 1 most people cannot see a difference; below 2 is close enough for most commercial work.",
            )
        render_account(current_user())


@st.cache_resource(show_spinner="Loading the training measurements…", max_entries=4)
def _training_data(version: str, _card):
    # Keyed on the version; the card itself is not hashed (leading underscore).
    return find_training_data(_card)


def training_data(card):
    """Where the champion's training measurements were found (:class:`model.registry.training_data.TrainingData`:
    ``dataset`` None when they cannot be), loaded once per model version for every page."""
    return _training_data(card.version, card)


@st.cache_resource(max_entries=4)
def _training_samples(version: str, _card):
    dataset = training_data(_card).dataset
    return None if dataset is None else explore.TrainingSamples(dataset)


def training_samples(card):
    """The champion's training measurements ready for nearest-recipe look-ups
    (:class:`model.serving.explore.TrainingSamples`), or None when they cannot be found."""
    return _training_samples(card.version, card)
