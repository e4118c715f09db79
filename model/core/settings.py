"""Where Huecast keeps things. Derived once here; everything else asks this module.

Each path can be overridden by an environment variable (the dashboard maps Streamlit
secrets onto them), so a hosted install keeps models and data outside the checkout.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

__all__ = ["PROJECT_ROOT", "models_dir", "data_dir", "demo_data_dir", "secrets_file", "secrets_section", "server_secret"]

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
