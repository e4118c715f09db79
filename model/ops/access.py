"""Who may do what. Admin actions in ``model/`` check the caller here, not only in the UI.

Viewers predict and review. Admins also upload measurements, retrain, search,
promote and roll back. The dashboard decides who the user is (Streamlit secrets or
OIDC); this module only enforces what that user may do.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["User", "PermissionDenied", "require_admin", "LOCAL_ADMIN", "VIEWER", "ROLES"]

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
