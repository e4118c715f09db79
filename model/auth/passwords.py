"""Admin password hashing for a hosted dashboard (the hash goes into Streamlit secrets).

PBKDF2-HMAC-SHA256 with a random salt (``hashlib``, standard library): a stolen
secrets file does not give the password away cheaply, as a plain SHA-256 would. The
stored string carries its own iteration count and salt::

    pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>

Make one for ``.streamlit/secrets.toml`` (``[auth] admin_password_hash = "…"``) with::

    python3 -m model.auth.passwords

Comparison uses :func:`hmac.compare_digest` (constant time). Never log or show the hash.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import secrets
import sys

__all__ = ["SCHEME", "DEFAULT_ITERATIONS", "hash_password", "verify_password"]

SCHEME = "pbkdf2_sha256"
#: OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
DEFAULT_ITERATIONS = 600_000


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """The storable hash of ``password`` (``pbkdf2_sha256$iterations$salt$hash``)."""
    if not password:
        raise ValueError("An empty password cannot be used; choose a password.")
    if iterations < 1:
        raise ValueError(f"iterations={iterations!r}: use a positive count, e.g. {DEFAULT_ITERATIONS}.")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (from :func:`hash_password`).

    A malformed ``stored`` string never matches (and raises nothing that would echo it).
    """
    try:
        scheme, iterations, salt_hex, digest_hex = str(stored).split("$")
        if scheme != SCHEME:
            return False
        expected = bytes.fromhex(digest_hex)
        actual = hashlib.pbkdf2_hmac("sha256", str(password).encode("utf-8"), bytes.fromhex(salt_hex), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


#: The shortest admin password the command accepts (NIST SP 800-63B asks for at least 8; an admin deserves more).
MIN_PASSWORD_CHARS = 12


def main(argv: list[str] | None = None) -> int:
    """``python -m model.auth.passwords``: ask for a password twice and print the secrets line."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m model.auth.passwords",
        description="Make the PBKDF2 hash of an admin password for .streamlit/secrets.toml (the password is never stored).",
    ).parse_args(argv)
    try:
        first = getpass.getpass(f"New admin password (at least {MIN_PASSWORD_CHARS} characters): ")
    except (EOFError, KeyboardInterrupt):
        print("\nNo password given; nothing was written.", file=sys.stderr)
        return 1
    try:
        again = getpass.getpass("Again: ")
    except (EOFError, KeyboardInterrupt):
        print("\nThe password was not given a second time to check it; nothing was written.", file=sys.stderr)
        return 1
    if len(first) < MIN_PASSWORD_CHARS:
        # The admin can promote models and change the store; sign-in attempts are limited, but a short password is guessed offline from a leaked hash.
        print(f"The password has {len(first)} characters; use at least {MIN_PASSWORD_CHARS} (a phrase of a few words is easiest). "
              "Nothing was written.", file=sys.stderr)
        return 1
    if first != again:
        print("The two entries differ; nothing was written.", file=sys.stderr)
        return 1
    print('Put this in .streamlit/secrets.toml:\n\n[auth]\nadmin_password_hash = "' + hash_password(first) + '"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
