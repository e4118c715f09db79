"""The dashboard as a server process: ``streamlit run dashboard/app.py`` on a loopback port.

What the browser tests and the benches start, written once. The server is started from
the repository root, because Streamlit reads ``.streamlit/config.toml`` (the upload cap,
``showErrorDetails``) from the working directory, not from the script's folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PROJECT_ROOT", "free_loopback_port", "start_dashboard", "wait_until_healthy", "stop_dashboard", "running_dashboard"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_dashboard(
    log,
    env_overrides: dict | None = None,
    port: int | None = None,
    *,
    address: str = "127.0.0.1",
    secrets_file: Path | None = None,
    command_prefix: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, str]:
    """Start the server in the background; return the process and its loopback URL (not yet answering).

    Parameters
    ----------
    log : open file, receives the server's stdout and stderr.
    env_overrides : dict, optional, e.g. ``HUECAST_MODELS_DIR`` for an isolated install.
    port : int, optional, default a free loopback port.
    address : str, the bind address (``server.address``); ``"0.0.0.0"`` makes it a server other
        machines could reach (secure-by-default tests). The URL returned is always loopback.
    secrets_file : path, optional, a secrets.toml to use instead of ``.streamlit/secrets.toml``.
    command_prefix : e.g. ``("taskset", "-c", "1")`` to pin the server to a core (load benches).
    """
    port = port or free_loopback_port()
    command = [*command_prefix, sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
               "--server.port", str(port), "--server.headless", "true", "--server.address", address]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if secrets_file is not None:
        command += ["--secrets.files", str(secrets_file)]
        # model/ reads the same file without Streamlit (model.core.settings.secrets_file).
        environment["HUECAST_SECRETS_FILE"] = str(secrets_file)
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**environment, **(env_overrides or {})})
    return process, f"http://127.0.0.1:{port}"


def wait_until_healthy(url: str, timeout_s: float = 120.0) -> None:
    """Return once the server answers its health check (before it has run any page).

    Raises
    ------
    TimeoutError
        It did not answer within ``timeout_s`` seconds; its log says why.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"The dashboard at {url} did not answer its health check within {timeout_s:g} s; see its log.")
        time.sleep(0.05)


def stop_dashboard(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Ask the server to stop, and kill it if it has not within ``timeout_s`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_dashboard(log_path: Path, env_overrides: dict | None = None, **options) -> Iterator[tuple[str, subprocess.Popen]]:
    """The server for the length of a ``with`` block, its output in ``log_path``; yields ``(url, process)``.

    ``options`` go to :func:`start_dashboard` (``address``, ``secrets_file``, ``command_prefix``).
    """
    with open(log_path, "w") as log:
        process, url = start_dashboard(log, env_overrides, **options)
        try:
            yield url, process
        finally:
            stop_dashboard(process)
