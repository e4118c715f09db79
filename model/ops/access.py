"""Who may do what. Admin actions in ``model/`` check the caller here, not only in the UI.

Viewers predict and review. Admins also upload measurements, retrain, search,
promote and roll back. The dashboard decides who the user is (Streamlit secrets or
OIDC); this module only enforces what that user may do.
"""

from __future__ import annotations

import collections
import ipaddress
import threading
import time
from dataclasses import dataclass

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
]

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
    """

    def __init__(self, max_attempts: int = 5, window_s: float = 60.0, clock=time.monotonic) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.clock = clock
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
            full = [attempts for attempts in recents if len(attempts) >= self.max_attempts]
            if full:
                return max(self.window_s - (now - attempts[0]) for attempts in full)
            for attempts in recents:
                attempts.append(now)
            if len(self._attempts) > 10_000:  # forget keys with no recent attempt, so memory stays bounded
                for key in [key for key, attempts in self._attempts.items() if not self._recent(key, now)]:
                    del self._attempts[key]
            return 0.0
