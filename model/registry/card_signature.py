"""Signatures on model cards: proof that this server wrote a card, which a file's hash cannot give.

A card's SHA-256s prove that ``model.joblib`` and ``serving.npz`` are the files the card
names; anyone who can write the models folder can change both. When a server secret is
configured (:func:`model.core.settings.server_secret`), the registry signs each card with
HMAC-SHA256 (RFC 2104) over its canonical JSON, and refuses a card without this server's
signature before any file of its version is read. With no secret, nothing is signed or
checked.

The key is derived from the secret for this one purpose, so a signature the same secret
makes for something else (a sign-in cookie) never passes as a card's.
"""

from __future__ import annotations

import hashlib
import hmac

from model.core import settings

__all__ = ["card_key", "required_key", "signature", "signature_problem"]

_PREFIX = "hmac-sha256:"
_KEY_LABEL = b"huecast model card v1"


def card_key() -> bytes | None:
    """The key cards are signed with; None when no server secret is configured.

    Raises ``ValueError`` for a secret too short to sign with (see :func:`settings.server_secret`).
    """
    secret = settings.server_secret()
    return None if secret is None else hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def required_key() -> bytes:
    """:func:`card_key`, or a ``ValueError`` saying how to configure a secret when there is none."""
    key = card_key()
    if key is None:
        raise ValueError("No server secret is configured, so cards are not signed: set HUECAST_SECRET, or secret in the "
                         "[server] table of .streamlit/secrets.toml, then sign.")
    return key


def signature(payload: bytes, key: bytes) -> str:
    """``hmac-sha256:<hex>`` of ``payload`` (a card's canonical JSON) under ``key``."""
    return _PREFIX + hmac.new(key, payload, hashlib.sha256).hexdigest()


def signature_problem(version: str, stated: str | None, payload: bytes, key: bytes | None) -> str | None:
    """Why the card of ``version`` may not be loaded, or None when it may.

    Parameters
    ----------
    version : str, the card's version (named in the message).
    stated : str or None, the signature the card carries.
    payload : bytes, the card's canonical JSON without its signature.
    key : bytes or None, :func:`card_key`; None accepts every card.
    """
    if key is None:
        return None
    sign_command = f"python -m model sign --version {version}"
    if not stated:
        return (f"The card of model {version!r} is not signed, and this server only loads signed cards (a server secret is "
                f"configured). If you trust this version, an admin signs it on the server: {sign_command}; otherwise roll back.")
    if not hmac.compare_digest(stated, signature(payload, key)):
        return (f"The card of model {version!r} does not carry this server's signature: it was changed after it was saved, "
                f"or signed with another secret. It will not be loaded. If the change was yours and you trust the version, "
                f"an admin re-signs it on the server: {sign_command}; otherwise roll back or retrain.")
    return None
