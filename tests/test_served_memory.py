"""A served dashboard gives a closed session's memory back: the real server, real websocket sessions.

Each session uploads a big photo (its session state keeps the decoded pixels; Streamlit keeps the file).
Once the sessions close and Streamlit drops them, they are reference cycles that only Python's garbage
collector frees, and Streamlit's own collection after each run is off (.streamlit/config.toml): the idle
cleaner (dashboard/memory.py) must free them, here within a few of its ticks.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.load_sessions import _open_and_close, rss_mb, run_ws_session, start_server, wait_healthy

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="reads the server's memory from /proc")

TTL = 1  # seconds Streamlit keeps a closed session
TICK = 1.0  # the idle cleaner's interval in this server


def _photos(folder: Path, count: int) -> list[Path]:
    """JPEG photos of 2400 x 2000 pixels (14 MB each once decoded), different so nothing is shared between sessions."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 2400, dtype=np.float32)[None, :, None]
    paths = []
    for i in range(count):
        pixels = np.clip(ramp + rng.normal(0, 20, (2000, 2400, 3)), 0, 255).astype(np.uint8)
        paths.append(folder / f"big_{i}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=85)
    return paths


async def _visit(url: str, photos: list[Path]) -> list:
    """Sessions each uploading one of ``photos`` at the same time and waiting for its heatmap (the load
    bench's session); returned open."""
    results = await asyncio.gather(*(run_ws_session(url, i, [p], 120) for i, p in enumerate(photos)))
    sessions = [r.context for r in results]
    errors = [r.error for r in results if r.error]
    if errors:
        await _close(sessions)
    assert not errors, errors
    return sessions


async def _close(sessions: list) -> None:
    for session in sessions:
        await session.__aexit__(None, None, None)


async def _settled_rss(pid: int, url: str, below: float = 0.0, wait: float = 30.0) -> float:
    """The server's memory once closed sessions are dropped and the cleaner has had its ticks.

    Streamlit drops expired sessions when another one disconnects: one more visit does that. The
    lowest reading over ``wait`` seconds counts (background work such as the badges' scoring may still
    hold a photo for a moment on a busy machine), stopping early once it is under ``below``.
    """
    await asyncio.sleep(TTL + 0.5)
    await _open_and_close(url)
    await asyncio.sleep(TTL + 2 * TICK)
    lowest = rss_mb(pid)
    deadline = time.monotonic() + wait
    while lowest >= below and time.monotonic() < deadline:
        await asyncio.sleep(TICK)
        lowest = min(lowest, rss_mb(pid))
    return lowest


async def _scenario(url: str, pid: int, small: Path, big: list[Path]) -> tuple[float, float, float]:
    # The baseline: a warm server that has served one upload already (the upload path and the model's
    # and the badges' compiled functions are loaded once per process).
    await _close(await _visit(url, [small]))
    baseline = await _settled_rss(pid, url, wait=4 * TICK)
    sessions = await _visit(url, big)
    loaded = rss_mb(pid)
    await _close(sessions)
    return baseline, loaded, await _settled_rss(pid, url, below=baseline + 0.25 * (loaded - baseline))


def test_closed_sessions_memory_returns_to_the_baseline(tmp_path):
    small, *big = _photos(tmp_path, 5)
    small_path = tmp_path / "small.jpg"
    Image.open(small).resize((480, 400)).save(small_path)
    env = {**os.environ, "GLASSWING_DATA": str(tmp_path / "data"), "GLASSWING_RUNS": str(tmp_path / "runs"),
           "GLASSWING_IDLE_CLEANUP_SECONDS": str(TICK), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server, url = start_server(env, tmp_path / "server.log", TTL)
    try:
        wait_healthy(url, server)
        # Its own thread and event loop: another test may have left one running in this thread.
        with ThreadPoolExecutor(1) as pool:
            baseline, loaded, after = pool.submit(asyncio.run, _scenario(url, server.pid, small_path, big)).result()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    held = loaded - baseline
    assert held > 4 * 14, f"four sessions with 14 MB photos held only {held:.0f} MB: the test cannot tell"
    assert after - baseline < 0.25 * held, (
        f"baseline {baseline:.0f} MB, {loaded:.0f} MB with the four sessions, {after:.0f} MB after they closed")
