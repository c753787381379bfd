"""Real servers the tests start on free local ports: Redis, the dashboard, nginx (Debian's packages, which
scripts/system-packages.sh installs). Each returns its process; the caller stops it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode} before listening on port {port}.")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} did not listen on port {port} within {timeout:.0f} s.")


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """``redis-server`` without persistence on a free port: (process, its redis:// URL)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: scripts/system-packages.sh installs it (make test runs it).")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc, "redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


def start_dashboard(log: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """``python -m dashboard`` (what make run serves) on a free port, healthy: (process, port)."""
    port = free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"the dashboard was not healthy within 180 s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
