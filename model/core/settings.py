"""Where Huecast keeps things. Derived once here; everything else asks this module.

Each path can be overridden by an environment variable (the dashboard maps Streamlit
secrets onto them), so a hosted install keeps models and data outside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "models_dir", "data_dir", "demo_data_dir"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    """Versioned models and the champion pointer (``HUECAST_MODELS_DIR``, default ``trained_models/``)."""
    return Path(os.environ.get("HUECAST_MODELS_DIR", PROJECT_ROOT / "trained_models"))


def data_dir() -> Path:
    """The measurement store's folder (``HUECAST_DATA_DIR``, default ``data/store/``)."""
    return Path(os.environ.get("HUECAST_DATA_DIR", PROJECT_ROOT / "data" / "store"))


def demo_data_dir() -> Path:
    """The shipped synthetic demo data (instrument export plus recipe table)."""
    return PROJECT_ROOT / "data" / "demo"
