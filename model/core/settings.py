"""Where Huecast keeps things. Derived once here; everything else asks this module.

Each path can be overridden by an environment variable (the dashboard maps Streamlit
secrets onto them), so a hosted install keeps models and data outside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "models_dir", "data_dir", "demo_data_dir"]

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
