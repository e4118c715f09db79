"""API keys for the JSON API: only their hashes live in secrets; a command makes them.

A key is 32 random bytes (``hck_…``, 256 bits), so a plain SHA-256 of it is as hard to
reverse as the key is to guess, and checking it costs microseconds on every request
(a password, which a person chooses, needs PBKDF2 instead: :mod:`model.auth.passwords`).
Secrets hold, per key, a name, a role and the hash::

    [api]
    read_access = "key"        # "open" (default): read-only endpoints need no key

    [[api.keys]]
    name = "lims"
    role = "viewer"            # or "admin": only an admin key reaches admin endpoints
    hash = "sha256$<hex>"

Make one with ``python3 -m model.auth.api_keys --name lims [--role admin]``; the key is
printed once and never stored. Never log or show a key or its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from model.auth.access import ROLES, User

__all__ = ["KEY_PREFIX", "READ_ACCESS", "ApiKey", "ApiKeys", "ApiAccessError", "new_key", "hash_key"]

KEY_PREFIX = "hck_"
SCHEME = "sha256"
#: How read-only endpoints (health, model, predict, formulate) are reached.
READ_ACCESS = ("open", "key")


def new_key() -> str:
    """A fresh random API key (``hck_`` and 43 URL-safe characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The storable hash of ``key``: ``sha256$<hex>``."""
    return f"{SCHEME}${hashlib.sha256(key.encode('utf-8')).hexdigest()}"


class ApiAccessError(PermissionError):
    """A request may not use an endpoint. ``status`` is 401 (no or unknown key) or 403 (a key without the role)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    digest: bytes  # SHA-256 of the key


@dataclass(frozen=True)
class ApiKeys:
    """The configured keys and whether read-only endpoints need one.

    Build it with :meth:`from_secrets`; :meth:`user_for` answers who a request is.
    """

    keys: tuple[ApiKey, ...] = ()
    read_access: str = "open"

    @classmethod
    def from_secrets(cls, section: Mapping | None) -> ApiKeys:
        """Read the ``[api]`` section of secrets (a mapping; None or empty: no keys, open reads).

        Raises
        ------
        ValueError
            A malformed entry; the message names the field, never the hash.
        """
        section = dict(section or {})
        read_access = str(section.get("read_access", "open"))
        if read_access not in READ_ACCESS:
            raise ValueError(f"[api] read_access={read_access!r} is not allowed; use one of {list(READ_ACCESS)}.")
        entries = section.get("keys", [])
        if isinstance(entries, Mapping):  # [api.keys.<name>] tables instead of [[api.keys]]
            entries = [{"name": name, **dict(entry)} for name, entry in entries.items()]
        keys = []
        for position, entry in enumerate(entries):
            entry = dict(entry)
            name = str(entry.get("name") or f"key {position + 1}")
            role = str(entry.get("role", "viewer"))
            if role not in ROLES:
                raise ValueError(f"[[api.keys]] {name!r}: role={role!r} is not a role; use one of {list(ROLES)}.")
            scheme, _, digest_hex = str(entry.get("hash", "")).partition("$")
            try:
                digest = bytes.fromhex(digest_hex)
            except ValueError:
                digest = b""
            if scheme != SCHEME or len(digest) != 32:
                raise ValueError(
                    f"[[api.keys]] {name!r}: hash is not a '{SCHEME}$<64 hex digits>' string; "
                    "make one with  python3 -m model.auth.api_keys --name NAME"
                )
            keys.append(ApiKey(name, role, digest))
        return cls(tuple(keys), read_access)

    def user_for(self, presented: str | None) -> User | None:
        """The key's user (named ``api key <name>``), or None when ``presented`` is no known key."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found = None
        for key in self.keys:  # compare with every key, in constant time each
            if hmac.compare_digest(digest, key.digest):
                found = key
        return None if found is None else User(f"api key {found.name}", found.role)

    def authorize(self, presented: str | None, *, admin: bool) -> User | None:
        """Who may make this request; raise :class:`ApiAccessError` if nobody.

        Parameters
        ----------
        presented : str or None, the key the request carried.
        admin : bool, the endpoint changes something (promote): only an admin key passes,
            whatever the bind address.

        Returns
        -------
        User or None
            The key's user, or None for an anonymous read where reads are open.
        """
        user = self.user_for(presented)
        if presented and user is None:
            raise ApiAccessError(401, "The API key is not known. Send a key made with `python3 -m model.auth.api_keys` in the header 'Authorization: Bearer <key>'.")
        if admin:
            if user is None:
                raise ApiAccessError(401, "This endpoint needs an admin API key in the header 'Authorization: Bearer <key>'.")
            if not user.is_admin:
                raise ApiAccessError(403, f"The key {user.name!r} is a viewer key; this endpoint needs an admin key.")
            return user
        if user is None and self.read_access == "key":
            raise ApiAccessError(401, "This server needs an API key: send it in the header 'Authorization: Bearer <key>'.")
        return user


def main(argv: list[str] | None = None) -> int:
    """``python -m model.auth.api_keys --name NAME [--role viewer|admin]``: make a key, print it once with its secrets entry."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m model.auth.api_keys",
        description="Make an API key. The key is printed once, for the client; only its hash goes in .streamlit/secrets.toml.",
    )
    parser.add_argument("--name", required=True, help="who uses the key (e.g. lims); shown in logs, never the key")
    parser.add_argument("--role", choices=ROLES, default="viewer", help="viewer (default) or admin")
    args = parser.parse_args(argv)
    key = new_key()
    print(f"API key for {args.name!r} (give it to the client; it is not stored anywhere):\n\n  {key}\n")
    print("Put this in .streamlit/secrets.toml:\n")
    print(f'[[api.keys]]\nname = "{args.name}"\nrole = "{args.role}"\nhash = "{hash_key(key)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
