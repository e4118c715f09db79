"""Signed model cards: with a server secret, a card the server did not sign is never loaded.

A card's SHA-256 proves which files it names, not who wrote it: someone who can write the
models folder can change a metric on the card, or replace the pickle and its hash together.
With a secret configured (``HUECAST_SECRET``), cards are signed when saved (HMAC-SHA256)
and refused unsigned or mis-signed; ``python -m model sign`` lets an admin sign one. With
no secret, nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import joblib
import pytest

import model.__main__ as cli
from model.auth.access import LOCAL_ADMIN
from model.registry import registry
from model.registry.registry import ModelRegistry

SECRET = "a-test-secret-of-sufficient-length"


class MarkerPickle:
    """Unpickling this creates a marker file: proof that someone unpickled it (as in test_tampering.py)."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def no_secret(monkeypatch, tmp_path):
    """No secret anywhere: neither the variable nor a secrets file (the checkout's, if a developer has one)."""
    monkeypatch.delenv("HUECAST_SECRET", raising=False)
    monkeypatch.setenv("HUECAST_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))


@pytest.fixture
def signed_install(isolated_install, shipped, no_secret, monkeypatch):
    """Two versions of the shipped model saved and promoted under a secret (``v1``, then ``v2``, the champion)."""
    monkeypatch.setenv("HUECAST_SECRET", SECRET)
    model, card = shipped
    root = isolated_install.models_dir
    for version in ("v1", "v2"):
        ModelRegistry(root).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version=version)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ModelRegistry(root).promote(version, user=LOCAL_ADMIN)
    return root


def _edit_card(root, version, change) -> None:
    path = root / version / registry.CARD_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def test_a_saved_card_is_signed_and_loads(signed_install):
    card = ModelRegistry(signed_install).read_card("v2")
    assert card.signature and card.signature.startswith("hmac-sha256:")
    model, loaded = ModelRegistry(signed_install).load_model("v2")
    assert loaded == card
    snapshot, _ = ModelRegistry(signed_install).load_serving("v2")
    assert snapshot is not None


def test_a_changed_metric_on_a_signed_card_is_refused(signed_install):
    # The probe's example: a mean ΔE00 of 0.48 shown as 9.48, the files untouched.
    _edit_card(signed_install, "v2", lambda data: data["metrics"].update(delta_e00_mean_headline=9.48))
    models = ModelRegistry(signed_install)
    for load in (models.read_card, models.load_model, models.load_serving, models.check_version):
        with pytest.raises(registry.IntegrityError, match=r"does not carry this server's signature.*python -m model sign --version v2"):
            load("v2")
    assert "v2" not in {card.version for card in ModelRegistry(signed_install).list_cards()}


def test_a_replaced_pickle_with_a_matching_hash_is_never_unpickled(signed_install, tmp_path):
    marker = tmp_path / "unpickled.marker"
    model_path = signed_install / "v2" / registry.MODEL_FILE
    joblib.dump(MarkerPickle(marker), model_path)
    sha256 = hashlib.sha256(model_path.read_bytes()).hexdigest()
    _edit_card(signed_install, "v2", lambda data: data.update(sha256=sha256))  # the hash matches again
    with pytest.raises(registry.IntegrityError, match="does not carry this server's signature"):
        ModelRegistry(signed_install).load_champion()
    with pytest.warns(UserWarning, match="Serving the last good champion, v1"):
        _, card = ModelRegistry(signed_install).load_champion(fallback=True)
    assert card.version == "v1"
    assert not marker.exists(), "a pickle behind a card this server did not sign was unpickled"


def test_an_unsigned_card_is_refused_and_the_admin_is_told_how_to_sign_it(isolated_install, shipped, no_secret, monkeypatch, capsys):
    model, card = shipped
    root = isolated_install.models_dir
    ModelRegistry(root).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version="old")
    card_path = root / "old" / registry.CARD_FILE
    before = json.loads(card_path.read_text(encoding="utf-8"))
    assert before["signature"] is None  # saved before a secret was configured
    monkeypatch.setenv("HUECAST_SECRET", SECRET)
    with pytest.raises(registry.IntegrityError, match=r"is not signed.*python -m model sign --version old"):
        ModelRegistry(root).load_model("old")
    assert cli.main(["sign", "--version", "old", "--models-dir", str(root)]) == 0
    assert "Signed old" in capsys.readouterr().out
    _, signed = ModelRegistry(root).load_model("old")
    after = json.loads(card_path.read_text(encoding="utf-8"))
    assert signed.signature and after == {**before, "signature": signed.signature}  # only the signature was added


def test_sign_refuses_a_version_whose_files_do_not_match_and_needs_a_secret(signed_install, monkeypatch, capsys):
    with open(signed_install / "v2" / registry.MODEL_FILE, "ab") as handle:
        handle.write(b"\x00")
    assert cli.main(["sign", "--version", "v2", "--models-dir", str(signed_install)]) == 2
    assert "was modified after it was saved" in capsys.readouterr().err
    monkeypatch.delenv("HUECAST_SECRET")
    assert cli.main(["sign", "--all", "--models-dir", str(signed_install)]) == 2
    assert "No server secret is configured" in capsys.readouterr().err


def test_a_card_signed_with_another_secret_is_refused(signed_install, monkeypatch):
    monkeypatch.setenv("HUECAST_SECRET", "another-secret-of-sufficient-length")
    with pytest.raises(registry.IntegrityError, match="signed with another secret"):
        ModelRegistry(signed_install).read_card("v1")
    assert ModelRegistry(signed_install).list_cards() == []


def test_without_a_secret_cards_are_neither_signed_nor_checked(isolated_install, shipped, no_secret):
    """As before signing existed: the shipped demo champion is unsigned and must keep loading."""
    model, card = shipped
    root = isolated_install.models_dir
    saved = ModelRegistry(root).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version="v1")
    assert saved.signature is None and card.signature is None
    _edit_card(root, "v1", lambda data: data["metrics"].update(delta_e00_mean_headline=9.48))
    _, loaded = ModelRegistry(root).load_model("v1")
    assert loaded.metrics["delta_e00_mean_headline"] == 9.48  # the hash proves the files, not the card: why a hosted server sets a secret
