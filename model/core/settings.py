"""Where Huecast keeps things. Derived once here; everything else asks this module.

Each path can be overridden by an environment variable (the dashboard maps Streamlit
secrets onto them), so a hosted install keeps models and data outside the checkout.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path

__all__ = ["PROJECT_ROOT", "models_dir", "data_dir", "demo_data_dir", "secrets_file", "secrets_section", "server_secret", "trusted_proxies", "colorant_aliases", "cors_origins"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # model/core/settings.py -> the checkout


def models_dir(override=None) -> Path:
    """Versioned models and the champion pointer: ``override`` when a caller names a folder,
    else ``HUECAST_MODELS_DIR``, else ``trained_models/``."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get("HUECAST_MODELS_DIR", PROJECT_ROOT / "trained_models"))


def data_dir(override=None) -> Path:
    """The measurement store's folder: ``override`` when given, else ``HUECAST_DATA_DIR``, else ``data/store/``."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get("HUECAST_DATA_DIR", PROJECT_ROOT / "data" / "store"))


def demo_data_dir() -> Path:
    """The shipped synthetic demo data (instrument export plus recipe table)."""
    return PROJECT_ROOT / "data" / "demo"


def secrets_file() -> Path:
    """The secrets file Streamlit reads (``.streamlit/secrets.toml`` in the checkout), or ``HUECAST_SECRETS_FILE``.

    ``model/`` reads it with :mod:`tomllib`, never through Streamlit, so the CLI and the
    dashboard see the same settings.
    """
    return Path(os.environ.get("HUECAST_SECRETS_FILE", PROJECT_ROOT / ".streamlit" / "secrets.toml"))


def secrets_section(name: str) -> dict:
    """One ``[name]`` table of :func:`secrets_file` as a dict; empty when the file or table is absent.

    Raises
    ------
    ValueError
        The file exists but is not valid TOML (the message names the file and the line).
    """
    path = secrets_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        section = tomllib.loads(text).get(name, {})
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path.name} is not valid TOML ({error}); fix it, or remove it for a local install.") from None
    return dict(section) if isinstance(section, dict) else {}


def server_secret() -> bytes | None:
    """The server's secret for signing (model cards, sign-in cookies), or None when none is configured.

    ``HUECAST_SECRET``, else ``secret`` in the ``[server]`` table of :func:`secrets_file`
    (make one with ``python3 -c "import secrets; print(secrets.token_hex(32))"``). A hosted
    install sets one; a local install without one signs nothing and checks nothing.

    Raises
    ------
    ValueError
        A secret shorter than 16 characters: too easy to guess for an HMAC key.
    """
    value = os.environ.get("HUECAST_SECRET") or secrets_section("server").get("secret")
    if not value:
        return None
    value = str(value)
    if len(value) < 16:
        raise ValueError("The server secret is shorter than 16 characters; make a longer one with "
                         "python3 -c \"import secrets; print(secrets.token_hex(32))\".")
    return value.encode("utf-8")


def trusted_proxies() -> tuple:
    """The reverse proxies whose ``X-Forwarded-For`` names the client: ``[server] trusted_proxies`` in secrets.

    A list of addresses or networks (``["10.0.0.2", "192.0.2.0/24"]``), else
    ``HUECAST_TRUSTED_PROXIES`` (comma-separated). Default: none, so the header is ignored
    and the client is the address the connection came from
    (:func:`model.auth.access.client_address`).

    Returns
    -------
    tuple of :class:`ipaddress.IPv4Network` / :class:`ipaddress.IPv6Network`

    Raises
    ------
    ValueError
        An entry is not an IP address or network (the message names it and the setting).
    """
    configured = secrets_section("server").get("trusted_proxies")
    if configured is None:
        configured = [part for part in os.environ.get("HUECAST_TRUSTED_PROXIES", "").split(",") if part.strip()]
    if isinstance(configured, str) or not isinstance(configured, list):
        raise ValueError(f"[server] trusted_proxies = {configured!r} is not a list; expected e.g. [\"10.0.0.2\", \"192.0.2.0/24\"].")
    networks = []
    for entry in configured:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"[server] trusted_proxies: {entry!r} is not an IP address or network; "
                             "expected e.g. \"10.0.0.2\" or \"192.0.2.0/24\".") from None
    return tuple(networks)


def colorant_aliases() -> dict[str, str]:
    """Old colorant names the API accepts for the served model's: ``[api.aliases]`` in secrets.

    For example ``GXT = "GXT-10"``: the old system's clients send ``GXT`` where the data's
    column is ``GXT-10`` (:class:`model.serving.legacy.ColorantNames` matches them exactly).
    Default: none.

    Raises
    ------
    ValueError
        The table is not one of name = "colorant" texts (the message names the entry).
    """
    configured = secrets_section("api").get("aliases", {})
    if not isinstance(configured, dict):
        raise ValueError(f"[api] aliases = {configured!r} is not a table; expected [api.aliases] with lines such as GXT = \"GXT-10\".")
    for alias, colorant in configured.items():
        if not isinstance(colorant, str) or not colorant or not alias:
            raise ValueError(f"[api.aliases] {alias!r} = {colorant!r}: expected an old name = \"the colorant's name\", such as GXT = \"GXT-10\".")
    return dict(configured)


def cors_origins() -> tuple[str, ...]:
    """The web origins whose pages may call the API from a browser: ``[api] cors_origins`` in secrets.

    A list such as ``["http://localhost:5173"]`` (scheme, host and port, as a browser sends
    them in ``Origin``), else ``HUECAST_CORS_ORIGINS`` (comma-separated). Default: none, so a
    page on another origin cannot read the API's answers. ``"*"`` is refused: name each front end.

    Raises
    ------
    ValueError
        The setting is not a list of origins, or an entry is ``*`` or has a path.
    """
    configured = secrets_section("api").get("cors_origins")
    if configured is None:
        configured = [part.strip() for part in os.environ.get("HUECAST_CORS_ORIGINS", "").split(",") if part.strip()]
    if isinstance(configured, str) or not isinstance(configured, list):
        raise ValueError(f"[api] cors_origins = {configured!r} is not a list; expected e.g. [\"http://localhost:5173\"].")
    origins = []
    for entry in configured:
        origin = str(entry).strip().rstrip("/")
        scheme, _, rest = origin.partition("://")
        if origin == "*" or scheme not in ("http", "https") or not rest or "/" in rest:
            raise ValueError(f"[api] cors_origins: {entry!r} is not an origin; expected a scheme, host and optional port, "
                             "such as \"http://localhost:5173\" (no path; \"*\" is not allowed: name each front end).")
        origins.append(origin)
    return tuple(origins)
