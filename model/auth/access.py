"""Who may do what. Admin actions in ``model/`` check the caller here, not only in the UI.

Viewers predict and review. Admins also upload measurements, retrain, search,
promote and roll back. The dashboard decides who the user is (Streamlit secrets or
OIDC); this module enforces what that user may do, and holds the pieces of sign-in that
need no web framework: who the client is behind a proxy (:func:`client_address`), the
attempt limit (:class:`AttemptLimiter`) and the signed sign-in cookie
(:class:`SignInCookies`, :class:`OneTimeTokens`).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "User",
    "PermissionDenied",
    "require_admin",
    "LOCAL_ADMIN",
    "VIEWER",
    "ROLES",
    "is_loopback_address",
    "user_without_sign_in",
    "AttemptLimiter",
    "client_address",
    "SignInCookies",
    "OneTimeTokens",
    "load_or_create_key",
    "SIGNED_OUT_FILE",
]

_LOG = logging.getLogger("huecast.auth")

#: Where a server keeps its sign-outs, in the data folder (:class:`SignInCookies`); backed up with the store.
SIGNED_OUT_FILE = "signed-out.txt"

ROLES = ("viewer", "admin")


@dataclass(frozen=True)
class User:
    """A signed-in person (or the local single user). ``role`` is ``"viewer"`` or ``"admin"``."""

    name: str
    role: str = "viewer"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"User.role={self.role!r} is not a role; use one of {list(ROLES)}.")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class PermissionDenied(PermissionError):
    """A viewer asked for an admin action."""


def require_admin(user: User | None, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``user`` is an admin.

    Parameters
    ----------
    user : User or None (None is treated as an anonymous viewer)
    action : str, what was attempted, in words (``"promote a model"``).
    """
    if user is None or not user.is_admin:
        who = "An anonymous viewer" if user is None else f"{user.name} (viewer)"
        raise PermissionDenied(f"{who} cannot {action}: this needs an admin. Sign in as an admin and try again.")


#: The user of a local install with no sign-in configured: a single person who is admin.
LOCAL_ADMIN = User("local user", "admin")
#: A signed-out visitor of a hosted dashboard.
VIEWER = User("viewer", "viewer")


def is_loopback_address(address: str | None) -> bool:
    """True when a server bound to ``address`` can be reached only from this machine.

    ``None`` or ``""`` (Streamlit's default: every interface), ``0.0.0.0``, ``::`` and any
    host name other than ``localhost`` count as reachable from other machines: a name may
    resolve to anything, so only a literal loopback address (``127.0.0.0/8``, ``::1``) or
    ``localhost`` is trusted.
    """
    text = str(address or "").strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def user_without_sign_in(bind_address: str | None, *, forwarded: bool = False) -> User:
    """Who a visitor is when no sign-in is configured at all.

    Parameters
    ----------
    bind_address : str or None
        The address the server listens on (Streamlit's ``server.address``).
    forwarded : bool
        The request came through a proxy (it carries ``X-Forwarded-For`` or ``Forwarded``).
        A reverse proxy on the same machine makes a loopback server reachable from anywhere.

    Returns
    -------
    User
        :data:`LOCAL_ADMIN` on a loopback server reached directly; otherwise :data:`VIEWER`
        (secure by default: a server other machines can reach never hands out admin unasked).
    """
    return LOCAL_ADMIN if is_loopback_address(bind_address) and not forwarded else VIEWER


class AttemptLimiter:
    """At most ``max_attempts`` attempts per key in any ``window_s`` seconds (a sliding window).

    One limiter is shared by every session of a server process; the caller checks each
    key that must not exceed the limit (``"session:<id>"``, ``"address:<ip>"``), so a
    guesser who opens new sessions is still held by its address. Thread-safe.

    Parameters
    ----------
    max_attempts : int, default 5
    window_s : float, default 60
    clock : callable returning seconds, default :func:`time.monotonic` (a test passes its own)
    limits : mapping of key to int, optional
        Keys with a limit of their own (``{"account:admin": 10}``); every other key has ``max_attempts``.
    """

    def __init__(self, max_attempts: int = 5, window_s: float = 60.0, clock=time.monotonic, limits: Mapping[str, int] | None = None) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.clock = clock
        self.limits = dict(limits or {})
        self._attempts: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque:
        attempts = self._attempts.setdefault(key, collections.deque())
        while attempts and now - attempts[0] >= self.window_s:
            attempts.popleft()
        return attempts

    def try_attempt(self, *keys: str) -> float:
        """Count one attempt against every key, if all of them have room.

        Returns
        -------
        float
            0.0 when the attempt may go ahead (and is counted); otherwise the seconds to
            wait until the busiest key has room again (and nothing is counted).
        """
        with self._lock:
            now = self.clock()
            recents = [self._recent(key, now) for key in keys]
            full = [attempts for key, attempts in zip(keys, recents) if len(attempts) >= self.limits.get(key, self.max_attempts)]
            if full:
                return max(self.window_s - (now - attempts[0]) for attempts in full)
            for attempts in recents:
                attempts.append(now)
            if len(self._attempts) > 10_000:  # forget keys with no recent attempt, so memory stays bounded
                for key in [key for key, attempts in self._attempts.items() if not self._recent(key, now)]:
                    del self._attempts[key]
            return 0.0


def client_address(peer: str | None, forwarded_for: Iterable[str] = (), trusted_proxies: Iterable = ()) -> str | None:
    """The address of the client behind a request: ``peer`` unless ``peer`` is a proxy the admin trusts.

    Parameters
    ----------
    peer : str or None
        The address the TCP connection came from.
    forwarded_for : iterable of str
        The request's ``X-Forwarded-For`` header values, in order (each a comma-separated list
        that every proxy on the way appended its own client to).
    trusted_proxies : iterable of :class:`ipaddress.IPv4Network` / ``IPv6Network`` (or their text)
        The proxies whose ``X-Forwarded-For`` is believed (``[server] trusted_proxies``, see
        :func:`model.core.settings.trusted_proxies`). Default: none, so the header is ignored.

    Returns
    -------
    str or None
        Walking ``X-Forwarded-For`` from its right end while each hop is a trusted proxy, the
        first address that is not one; ``peer`` itself when ``peer`` is not trusted, when the
        header is absent, or when an entry is not an IP address (a client may write anything
        to the left of what the trusted proxy appended).
    """
    networks = [network if not isinstance(network, str) else ipaddress.ip_network(network, strict=False) for network in trusted_proxies]

    def trusted(address: str | None) -> bool:
        try:
            parsed = ipaddress.ip_address(str(address or "").strip().strip("[]"))
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in str(value).split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop.strip("[]"))
        except ValueError:
            return client  # not an address: stop at the last hop a trusted proxy vouched for
        client = hop.strip("[]")
        if not trusted(client):
            return client
    return client


def load_or_create_key(path: Path) -> bytes:
    """A random 32-byte signing key kept in ``path`` (mode 0600), made on first use.

    For a server with no ``[server] secret``: its sign-in cookies then survive a restart.
    Two processes starting at once both end up with the one key that was written first.

    Raises
    ------
    OSError
        The folder is not writable (or the file not readable); the message names the path.
    """
    path = Path(path)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except ValueError:
        raise OSError(f"{path} is not a key this server wrote; delete it and restart, or set [server] secret in secrets.") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_key(path)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(32))
    return load_or_create_key(path)


class SignInCookies:
    """The admin's sign-in, kept across page reloads in a signed cookie (HMAC-SHA256, RFC 2104).

    A cookie is ``<payload>.<signature>``: the payload (base64url) says who and until when,
    with a random nonce; the signature is an HMAC of the payload under a key derived from
    the server's secret *and* the admin password's hash, so changing the password ends every
    sign-in made with the old one. Nothing secret is in the cookie.

    Parameters
    ----------
    secret : bytes
        The server's signing secret (``[server] secret``, or a key kept in the data folder).
    lifetime_s : float
        How long a sign-in lasts.
    password_hash : str, default ""
        The admin password's stored hash (see :mod:`model.auth.passwords`).
    clock : callable returning Unix seconds, default :func:`time.time`
    signed_out_file : path-like, optional
        Where sign-outs are kept (one ``<nonce> <expiry>`` line each, appended), so that a
        signed-out cookie stays refused after a restart and by every server process sharing
        the data folder. Without it, or when it cannot be written, sign-outs are kept in this
        process only (the log says so).
    """

    NAME = "huecast_admin"
    _VERSION = "v1"

    def __init__(self, secret: bytes, lifetime_s: float, password_hash: str = "", clock=time.time, signed_out_file=None) -> None:
        if lifetime_s <= 0:
            raise ValueError(f"lifetime_s={lifetime_s!r}: a sign-in must last a positive time.")
        self.lifetime_s = float(lifetime_s)
        self.clock = clock
        self._key = hmac.new(bytes(secret), b"huecast sign-in cookie\0" + str(password_hash).encode("utf-8"), hashlib.sha256).digest()
        self._revoked: dict[str, float] = {}  # nonce -> expiry, shared by every session of the process
        self._lock = threading.Lock()
        self._file = Path(signed_out_file) if signed_out_file is not None else None
        self._file_seen: tuple[int, int] | None = None  # (size, mtime_ns) of the file when last read

    def _signature(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self, role: str = "admin") -> str:
        """A new cookie value for ``role``, valid for ``lifetime_s`` from now."""
        expires = int(self.clock() + self.lifetime_s)
        body = f"{self._VERSION}|{role}|{expires}|{secrets.token_urlsafe(16)}"
        payload = base64.urlsafe_b64encode(body.encode("ascii")).decode("ascii").rstrip("=")
        return f"{payload}.{self._signature(payload)}"

    def _fields(self, value) -> tuple[str, int, str] | None:
        payload, _, signature = str(value or "").partition(".")
        if not payload or not hmac.compare_digest(signature.encode("ascii", "replace"), self._signature(payload).encode("ascii")):
            return None
        try:
            version, role, expires, nonce = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("ascii").split("|")
            expires_at = int(expires)
        except ValueError:
            return None
        if version != self._VERSION or role not in ROLES:
            return None
        return role, expires_at, nonce

    def role(self, value) -> str | None:
        """The role a cookie value signs in as, or None: not ours, tampered with, expired or signed out."""
        fields = self._fields(value)
        if fields is None:
            return None
        role, expires_at, nonce = fields
        with self._lock:
            self._read_signed_out_file()
            if self.clock() >= expires_at or nonce in self._revoked:
                return None
        return role

    def revoke(self, value) -> None:
        """End a sign-in (sign-out): its cookie is refused from now on, until it would expire anyway.

        Kept in ``signed_out_file`` when there is one, so a restart does not bring it back.
        """
        fields = self._fields(value)
        if fields is None:
            return
        _, expires_at, nonce = fields
        with self._lock:
            now = self.clock()
            self._revoked = {kept: until for kept, until in self._revoked.items() if until > now}
            self._revoked[nonce] = expires_at
            if self._file is not None:
                try:
                    self._file.parent.mkdir(parents=True, exist_ok=True)
                    # One short line in append mode: writes of other processes do not interleave with it.
                    with open(self._file, "a", encoding="ascii") as file:
                        file.write(f"{nonce} {expires_at}\n")
                except OSError as error:
                    _LOG.warning(
                        "A sign-out could not be kept in %s (%s): it holds until this server restarts. "
                        "Make the data folder writable.", self._file.name, error.strerror or error,
                    )

    def _read_signed_out_file(self) -> None:
        """Take in sign-outs that this or another process wrote since the file was last read (one ``stat`` otherwise)."""
        if self._file is None:
            return
        try:
            status = self._file.stat()
        except FileNotFoundError:
            return
        except OSError as error:
            _LOG.warning("Sign-outs cannot be read from %s (%s).", self._file.name, error.strerror or error)
            return
        seen = (status.st_size, status.st_mtime_ns)
        if seen == self._file_seen:
            return
        try:
            lines = self._file.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError as error:
            _LOG.warning("Sign-outs cannot be read from %s (%s).", self._file.name, error.strerror or error)
            return
        now = self.clock()
        for line in lines:
            nonce, _, until = line.partition(" ")
            try:
                expires_at = float(until)
            except ValueError:
                continue  # a line cut short by a crash: that sign-out is lost, the others hold
            if expires_at > now:
                self._revoked[nonce] = expires_at
        self._file_seen = seen


class OneTimeTokens:
    """Short-lived, single-use tokens: the page hands one to the browser, which trades it for the cookie.

    The sign-in form runs over Streamlit's websocket, which cannot set a cookie; a route of
    the app can. After a correct password the page makes a token here, and the browser
    posts it to that route (see ``dashboard/auth.py``). A token is 256 random bits, works
    once, and only for ``lifetime_s`` seconds.
    """

    def __init__(self, lifetime_s: float = 60.0, clock=time.monotonic) -> None:
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def issue(self, role: str = "admin") -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._tokens = {kept: entry for kept, entry in self._tokens.items() if entry[0] > now}
            self._tokens[token] = (now + self.lifetime_s, role)
        return token

    def redeem(self, token) -> str | None:
        """The role ``token`` was issued for, once; None for an unknown, used or expired token."""
        with self._lock:
            entry = self._tokens.pop(str(token or ""), None)
        if entry is None or self.clock() >= entry[0]:
            return None
        return entry[1]
