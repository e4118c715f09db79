"""Versioned models on disk, each with a JSON card, and an atomically replaced champion pointer.

Layout of the models directory::

    <version>/model.joblib      the fitted model (written by Huecast itself)
    <version>/serving.npz       its serving snapshot, when the model has one (plain arrays, never unpickled)
    <version>/card.json         config, metrics, data fingerprint, versions, SHA-256s
    CHAMPION                    the served version's name, replaced with os.replace
    promotions.jsonl            one line per promotion or rollback, for the history

Only files this module wrote are ever unpickled, and only after their SHA-256 matches
the card. A new model goes into a new folder; nothing being served is overwritten.

With a server secret, cards are signed and a card without this server's signature is
refused (:mod:`model.registry.card_signature`; ``python -m model sign`` signs one). A version
name outside :data:`VERSION_PATTERN` is refused before it reaches a path; a file-system
failure is a :class:`StorageError` that says what to change.

:class:`ModelRegistry` is the folder: made once (``ModelRegistry(models_dir)``) and asked for
its cards, models, champion and promotions, as :class:`~model.store.measurements.MeasurementStore`
is asked for measurements.

Importing this module imports neither scikit-learn nor joblib: a page that only reads cards,
or serves a snapshot (:meth:`ModelRegistry.load_serving`), does not wait for them. They are imported
where a full model is saved or loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from model.auth.access import User, require_admin
from model.core import settings
from model.core.files import StorageError, atomic_write_text, staged_folder, storage_errors
from model.core.files import check_writable as check_folder_writable
from model.core.files import sha256_file as _sha256
from model.models import snapshot as snapshot_file  # light: numpy and pandas, no scikit-learn
from model.registry import card_signature

__all__ = [
    "ModelRegistry",
    "ModelCard",
    "IntegrityError",
    "StorageError",
    "VersionNameError",
    "VERSION_PATTERN",
    "check_version_name",
    "library_versions",
    "load_from_path",
    "load_predictor_from_path",
]

MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
#: The serving snapshot (:class:`model.models.snapshot.ServingSnapshot`), when the model has one.
SERVING_FILE = "serving.npz"
POINTER_FILE = "CHAMPION"
PROMOTIONS_FILE = "promotions.jsonl"
#: Out-of-fold predictions of the model's leave-recipe-out evaluation (one row per
#: measurement and seed), kept so that review pages need not refit anything.
OUT_OF_FOLD_FILE = "out_of_fold.csv"
#: What a version name may be: a folder name of letters, digits, ``.``, ``_`` and ``-``,
#: starting with a letter or digit, at most 128 characters, never containing ``..``.
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
#: The setting that names the models folder, as error messages name it.
MODELS_DIR_SETTING = "HUECAST_MODELS_DIR"


class IntegrityError(RuntimeError):
    """A model file does not match its card, or the card is unreadable or not signed by this server."""


class VersionNameError(IntegrityError, ValueError):
    """A version name outside :data:`VERSION_PATTERN`: a ``ValueError`` for a caller that passes one, an
    :class:`IntegrityError` for a champion pointer that holds one (the server falls back as for any damage)."""


def check_version_name(version) -> str:
    """Return ``version`` when it is a version name, else raise :class:`VersionNameError`. Every function
    that turns a version into a path calls this first: ``..`` or a separator never reaches the file system."""
    if not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version) or ".." in version:
        raise VersionNameError(
            f"{str(version)[:80]!r} is not a model version name: a version name matches {VERSION_PATTERN} "
            "(letters, digits, '.', '_' and '-', starting with a letter or digit) and never contains '..'."
        )
    return version


def _file_system(doing: str, root: Path, *, write: bool = True):
    """A file-system failure inside the block becomes a :class:`StorageError` naming ``HUECAST_MODELS_DIR``."""
    return storage_errors(doing, root, MODELS_DIR_SETTING, write=write)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a saved model depends on (read from package metadata)."""
    versions = {"python": platform.python_version()}
    for distribution in ("numpy", "pandas", "scikit-learn", "joblib", "colour-science"):
        versions[distribution] = metadata.version(distribution)
    return versions


@dataclass(frozen=True)
class ModelCard:
    """Provenance of one saved model.

    Attributes
    ----------
    version : str, the folder name.
    kind : str, the model class (``FormulationModel``, ``KubelkaMunkModel``…), see :func:`model.models.base.model_kinds`.
    config : dict, the model's hyperparameters (``ColourModel.config()``); ``model_from_config(kind, config)`` rebuilds it unfitted.
    metrics : dict, leave-recipe-out metrics (see ``evaluation.summarise``).
    dataset : dict, ``name``, ``fingerprint``, ``n_samples``, ``n_recipes``, ``colorants``, ``store_version``.
    library_versions : dict
    created_at : str, ISO 8601 UTC.
    sha256 : str, of ``model.joblib``.
    notes : dict, anything else (evaluation protocol, headline choice…).
    serving_sha256 : str or None, of ``serving.npz``; None when the version has no serving snapshot
        (a model kind without one, see ``ColourModel.serving_snapshot``).
    signature : str or None, ``hmac-sha256:<hex>`` of :meth:`signed_bytes` under the server
        secret; None when saved without one.
    """

    version: str
    kind: str
    config: dict
    metrics: dict
    dataset: dict
    library_versions: dict
    created_at: str
    sha256: str
    notes: dict = field(default_factory=dict)
    serving_sha256: str | None = None
    signature: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, as canonical JSON (sorted keys, no
        spaces), read back from :meth:`to_json` first so the card saved and the card read give the same bytes."""
        fields = json.loads(self.to_json())
        fields.pop("signature", None)
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _signed(card: ModelCard, key: bytes | None) -> ModelCard:
    """``card`` signed with ``key`` (:mod:`model.registry.card_signature`); unchanged without a key."""
    return card if key is None else replace(card, signature=card_signature.signature(card.signed_bytes(), key))


def _check_file(path: Path, expected_sha256: str, what: str, remedy: str) -> None:
    """Raise :class:`IntegrityError` when ``path`` is missing or does not match the SHA-256 its card records.

    ``what`` names the file in the message ("Model 'v'", "The serving snapshot of model 'v'");
    ``remedy`` says what to do instead.
    """
    if not path.is_file():
        raise IntegrityError(f"{what} has a card but no {path.name}; {remedy}.")
    with _file_system(f"read {path.name} of model {path.parent.name}", path.parent.parent, write=False):
        actual = _sha256(path)
    if actual != expected_sha256:
        raise IntegrityError(
            f"{what} was modified after it was saved (SHA-256 {actual[:12]}… does not match the card's "
            f"{expected_sha256[:12]}…). It will not be loaded; {remedy}."
        )


def _check_model_file(model_path: Path, card: ModelCard) -> None:
    """Raise :class:`IntegrityError` when ``model.joblib`` is missing or does not match the card's SHA-256."""
    _check_file(model_path, card.sha256, f"Model {card.version!r}", "roll back to another version or retrain")


def _check_files(root: Path, card: ModelCard) -> None:
    """Check every file ``card`` names (``model.joblib``, and ``serving.npz`` when it has one) against its SHA-256."""
    _check_model_file(root / card.version / MODEL_FILE, card)
    if card.serving_sha256 is not None:
        path = root / card.version / SERVING_FILE
        _check_file(path, card.serving_sha256, f"The serving snapshot of model {card.version!r}", "load the full model, roll back or retrain")


class ModelRegistry:
    """The models folder: its versions, their cards, the champion pointer and the promotions log.

    Made once per folder and passed around, like :class:`~model.store.measurements.MeasurementStore`:
    the folder is resolved once (``models_dir``, default :func:`model.core.settings.models_dir`:
    ``HUECAST_MODELS_DIR``, else ``trained_models/``), and every method works in it.

    Examples
    --------
    >>> import tempfile
    >>> registry = ModelRegistry(tempfile.mkdtemp())
    >>> registry.champion_version() is None, registry.list_cards(), registry.promotion_history()
    (True, [], [])
    """

    def __init__(self, models_dir=None) -> None:
        self.root = settings.models_dir(models_dir)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    def check_writable(self) -> Path:
        """Check that the models folder can be written before work that ends in saving starts: it fails in
        milliseconds, not after minutes of training (:func:`model.core.files.check_writable`; :class:`StorageError`)."""
        return check_folder_writable(self.root, MODELS_DIR_SETTING)

    def save_model(
        self,
        model,
        *,
        metrics: dict,
        dataset_info: dict,
        notes: dict | None = None,
        version: str | None = None,
        tables: dict | None = None,
    ) -> ModelCard:
        """Save a fitted model as a new version and return its card. Does not promote it.

        Parameters
        ----------
        model : fitted ColourModel
            Any model that follows the contract (FormulationModel, KubelkaMunkModel…); its
            ``kind`` and ``config()`` go on the card.
        metrics : dict, leave-recipe-out metrics to record.
        dataset_info : dict, at least ``fingerprint``; see :class:`ModelCard`.
        version : str, optional; default is the UTC time plus a short hash.
        tables : dict of file name → DataFrame, optional
            CSV tables to keep beside the model (e.g. :data:`OUT_OF_FOLD_FILE`); written in
            the same atomic step, so a version never appears without them.
        """
        import joblib

        from model.models.base import ColourModel

        if not isinstance(model, ColourModel):
            raise TypeError(f"save_model takes a fitted colour model (model.models.base.ColourModel); got {type(model).__name__}.")
        model.check_fitted()
        # The version name ends in the model file's hash, so the file is made in memory first.
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
        snapshot = model.serving_snapshot()  # the model's own serving form (None for a kind without one)
        serving = None if snapshot is None else snapshot_file.to_bytes(snapshot)
        created_at = datetime.now(timezone.utc)
        version = version or f"{created_at:%Y%m%d-%H%M%S}-{sha256[:8]}"
        card = ModelCard(
            version=version,
            kind=model.kind,
            config=model.config(),
            metrics=dict(metrics),
            dataset=dict(dataset_info),
            library_versions=library_versions(),
            created_at=created_at.isoformat(timespec="seconds"),
            sha256=sha256,
            notes=dict(notes or {}),
            serving_sha256=None if serving is None else hashlib.sha256(serving).hexdigest(),
        )
        for name in tables or {}:
            if Path(name).name != name or not name.endswith(".csv"):
                raise ValueError(f"Table name {name!r}: use a plain file name ending in .csv.")
        card = _signed(card, card_signature.card_key())
        root = self.root
        with _file_system(f"save model {version}", root), staged_folder(root, check_version_name(version)) as staging:
            (staging / MODEL_FILE).write_bytes(buffer.getvalue())
            if serving is not None:
                (staging / SERVING_FILE).write_bytes(serving)
            (staging / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
            for name, table in (tables or {}).items():
                table.to_csv(staging / name, index=False)
        return card

    def read_card(self, version: str) -> ModelCard:
        """The card of ``version``, its signature checked when a server secret is configured.

        Raises
        ------
        VersionNameError
            ``version`` is not a version name (:data:`VERSION_PATTERN`).
        IntegrityError
            The card is missing, unreadable, or (with a secret) unsigned or mis-signed.
        StorageError
            The card cannot be read (permissions, disk).
        """
        return self._read_card(version, card_signature.card_key())

    def _read_card(self, version: str, key: bytes | None) -> ModelCard:
        """:func:`read_card` in ``root`` with the signing key resolved; ``key=None`` checks no signature."""
        root = self.root
        path = root / check_version_name(version) / CARD_FILE
        try:
            with _file_system(f"read the card of model {version}", root, write=False):
                card = ModelCard(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise IntegrityError(f"Model version {version!r} has no card ({CARD_FILE}); it was not saved by Huecast.") from None
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
            raise IntegrityError(f"The card of model {version!r} ({CARD_FILE}) is unreadable: {error}. Roll back to another version.") from None
        problem = key and card_signature.signature_problem(version, card.signature, card.signed_bytes(), key)
        if problem:
            raise IntegrityError(problem)
        return card

    def load_model(self, version: str):
        """Load a saved model after checking its SHA-256 against its card.

        Returns
        -------
        (model, ModelCard)

        Raises
        ------
        VersionNameError
            ``version`` is not a version name (:data:`VERSION_PATTERN`).
        IntegrityError
            The file is missing or its hash does not match the card (it was changed after
            saving), or the card is not signed by this server (see :func:`read_card`).
        StorageError
            A file cannot be read.
        """
        root = self.root
        card = self.read_card(version)
        model_path = root / version / MODEL_FILE
        _check_model_file(model_path, card)
        import joblib

        current = library_versions()
        for library in ("scikit-learn", "numpy"):
            if card.library_versions.get(library) != current[library]:
                warnings.warn(
                    f"Model {version!r} was saved with {library} {card.library_versions.get(library)}; this is "
                    f"{current[library]}. Predictions may differ slightly; retrain to be sure.",
                    stacklevel=2,
                )
        return joblib.load(model_path), card

    def load_serving(self, version: str) -> "tuple[snapshot_file.ServingSnapshot | None, ModelCard]":
        """Load a version's serving snapshot after checking its SHA-256 against the card (no scikit-learn, no pickle).

        Returns
        -------
        (ServingSnapshot or None, ModelCard)
            None when the version has no snapshot (its card records none: a model kind without
            one): load the full model with :func:`load_model`.

        Raises
        ------
        IntegrityError
            The card is unreadable; the version's ``model.joblib`` fails its check (a version
            is served only when every file of it matches its card, as :func:`load_model`
            says; hashing it costs about a millisecond, and nothing is unpickled); or the card
            names a snapshot whose file is missing, does not match its hash, or cannot be read.
        """
        root = self.root
        card = self.check_version(version)
        if card.serving_sha256 is None:
            return None, card
        try:
            return snapshot_file.load(root / version / SERVING_FILE), card
        except ValueError as error:
            raise IntegrityError(str(error)) from None

    def check_version(self, version: str) -> ModelCard:
        """Check a version without unpickling it: its card (signature too, with a secret) and the hash of
        every file it names. Returns the card; raises as :func:`load_model`."""
        root = self.root
        card = self.read_card(version)
        _check_files(root, card)
        return card

    def sign_card(self, version: str) -> ModelCard:
        """Sign the card of ``version`` with the server secret, after checking its files match it.

        For an admin on the server (``python -m model sign --version V``), for a version saved
        before a secret was configured or a card changed on purpose: signing says "I trust
        this card", so read it first. Files are hashed, never unpickled. Returns the signed card.

        Raises
        ------
        ValueError
            No server secret is configured (:func:`model.core.settings.server_secret`).
        VersionNameError, IntegrityError, StorageError
            As :func:`check_version`, except that the card's signature is what is being made.
        """
        key = card_signature.required_key()
        root = self.root
        card = self._read_card(version, None)
        _check_files(root, card)
        signed = _signed(card, key)
        with _file_system(f"sign the card of model {version}", root):
            atomic_write_text(root / version / CARD_FILE, signed.to_json())
        return signed

    def list_cards(self) -> list[ModelCard]:
        """Cards of every saved version, oldest first (unreadable ones are skipped)."""
        root = self.root
        if not root.is_dir():
            return []
        key, cards = card_signature.card_key(), []
        with _file_system("list the models folder", root, write=False):
            folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for folder in folders:
            try:
                cards.append(self._read_card(folder.name, key))
            except IntegrityError:  # also a folder that is not a version (search/) or a card not signed by this server
                continue
        return sorted(cards, key=lambda card: (card.created_at, card.version))

    def champion_version(self) -> str | None:
        """The version the champion pointer names, as written (loading it checks the name); None without one."""
        root = self.root
        pointer = root / POINTER_FILE
        if not pointer.is_file():
            return None
        with _file_system("read the champion pointer", root, write=False):
            return pointer.read_text(encoding="utf-8").strip() or None

    def promote(self, version: str, *, user: User, action: str = "promote", record: dict | None = None) -> None:
        """Make ``version`` the champion: verify it loads, then swap the pointer atomically.

        The pointer move behind the one door to the champion (:func:`model.registry.promotion.promote`, which
        shows the verdict of a comparison first); nothing else in the application calls it.

        Parameters
        ----------
        version : str
        user : User
            Who promotes; must be an admin (``access.PermissionDenied`` otherwise). There is
            no default: a caller that forgets to say who acts must not pass as an admin.
        action : ``"promote"`` or ``"rollback"``, recorded in the promotions log.
        record : dict, optional
            More fields for the promotions log entry (the door's verdict and override reason); they
            cannot replace ``at``, ``action``, ``version``, ``previous`` or ``user``.

        Raises
        ------
        VersionNameError, IntegrityError
            ``version`` is not a version name, or does not load (see :func:`load_model`).
        StorageError
            The folder cannot be written; checked before the pointer moves, so the pointer
            and the promotions log stay as they were.
        """
        require_admin(user, f"{action} a model")
        root = self.root
        self.load_model(version)  # refuse to point at something that would not load
        self.check_writable()
        previous = self.champion_version()
        entry = {**(record or {}), "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action, "version": version, "previous": previous, "user": user.name}
        with _file_system(f"{action} model {version}", root):
            atomic_write_text(root / POINTER_FILE, version + "\n")
            with open(root / PROMOTIONS_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")

    def promotion_history(self) -> list[dict]:
        """Every promotion and rollback, oldest first: ``at``, ``action``, ``version``, ``previous``, ``user``, and
        what the door recorded (``verdict``, ``verdict_sentence``, ``override_reason``), where it did."""
        root = self.root
        path = root / PROMOTIONS_FILE
        if not path.is_file():
            return []
        entries = []
        with _file_system("read the promotions log", root, write=False):
            text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                # A process killed mid-append leaves at most one partial line; the pointer file,
                # not this log, says who is champion, so skip it rather than fail the history.
                continue
        return entries

    def earlier_champions(self) -> list[str]:
        """Versions that were champion before the current one, most recently promoted first.

        This is the order to fall back in when the champion cannot be loaded: a challenger
        that was saved but never promoted is never on this list.
        """
        current = self.champion_version()
        promoted = [entry.get("version") for entry in reversed(self.promotion_history())]
        return [version for version in dict.fromkeys(promoted) if version and version != current]

    def load_champion(self, *, fallback: bool = False):
        """Load the champion named by the pointer.

        Parameters
        ----------
        fallback : bool
            When the champion fails its integrity check, warn and serve the most recent
            earlier champion (from the promotions log) that passes it. The pointer is not
            moved: an admin decides whether to roll back.

        Returns
        -------
        (model, ModelCard)

        Raises
        ------
        FileNotFoundError
            No champion has been promoted; train one with ``python -m model train``.
        IntegrityError
            The champion's file fails its hash check (and, with ``fallback``, so does
            every earlier champion).
        """
        if not fallback:
            return self._load_pointed_champion()
        model, card, reason = self.load_champion_or_fallback()
        if reason is not None:
            warnings.warn(reason, stacklevel=2)
        return model, card

    def load_champion_or_fallback(self):
        """:meth:`load_champion` with ``fallback=True``, returning why it fell back instead of warning.

        For a server, where collecting a warning (``warnings.catch_warnings``) is not thread-safe.

        Returns
        -------
        (model, ModelCard, reason)
            ``reason`` is None when the champion itself loaded; otherwise a sentence naming the
            failure and the earlier champion served instead.

        Raises
        ------
        As :meth:`load_champion`.
        """
        try:
            return (*self._load_pointed_champion(), None)
        except IntegrityError as error:
            failure = error
        for candidate in self.earlier_champions():
            try:
                model, card = self.load_model(candidate)
            except IntegrityError:
                continue
            return model, card, f"{failure} Serving the last good champion, {candidate}, instead."
        raise failure

    def _load_pointed_champion(self):
        version = self.champion_version()
        if version is None:
            raise FileNotFoundError(
                f"No champion model in {self.root}. Train and promote one: python -m model train --data data/demo --promote"
            )
        return self.load_model(version)


def load_from_path(path) -> tuple[object, ModelCard]:
    """Load from a version folder (holding ``card.json``) or a models directory (its champion)."""
    path = Path(path)
    if (path / CARD_FILE).is_file():
        return ModelRegistry(path.parent).load_model(path.name)
    if path.is_dir():
        return ModelRegistry(path).load_champion()
    raise FileNotFoundError(f"{path} is neither a model version folder nor a models directory.")


def load_predictor_from_path(path) -> tuple[object, ModelCard]:
    """What predicts for ``path``, as :func:`load_from_path` names it: the version's serving snapshot
    when it has one (no scikit-learn imported, nothing unpickled), else the full model."""
    path = Path(path)
    if (path / CARD_FILE).is_file():
        registry, version = ModelRegistry(path.parent), path.name
    else:
        registry = ModelRegistry(path)
        version = registry.champion_version() if path.is_dir() else None
    if version is None:
        return load_from_path(path)  # raises what it raises for a folder without a model
    snapshot, card = registry.load_serving(version)
    return (snapshot, card) if snapshot is not None else registry.load_model(version)
