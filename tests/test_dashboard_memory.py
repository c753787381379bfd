"""dashboard.memory: after bursts of concurrent threads allocating big temporary arrays (a classroom's
sessions decoding uploads at the same moment), the process's memory goes back to where it was; closed
sessions' reference cycles are collected when no page runs."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

from core import priority
from dashboard.memory import cleanup_if_idle, start_idle_cleanup

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/status").exists(),
                                reason="glibc's allocator on Linux")
REPO = Path(__file__).resolve().parent.parent

BURSTS = """
import sys, threading, gc
import numpy as np
from dashboard.memory import return_large_blocks
took = return_large_blocks() if sys.argv[1] == "on" else None
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
barrier = threading.Barrier(19)
def session(seed):
    barrier.wait()
    photo = np.full((900, 1200, 3), float(seed))  # 26 MB, like a decoded upload (filled, not random: faster)
    scaled = (photo * 0.5).astype(np.float32)
    barrier.wait()  # all 19 alive at once, then all freed
before = rss_mb()
for burst in range(4):
    threads = [threading.Thread(target=session, args=(burst * 19 + i,)) for i in range(19)]
    [t.start() for t in threads]
    [t.join() for t in threads]
gc.collect()
print(took, rss_mb() - before)
"""


def _kept_after_bursts(mode: str, **env: str) -> tuple[str, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", BURSTS, mode], cwd=REPO, capture_output=True, text=True,
                         env={**clean, "PYTHONPATH": str(REPO), **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    took, kept = out.stdout.split()
    return took, float(kept)


@glibc_only
def test_memory_of_concurrent_bursts_goes_back_to_the_system():
    took, kept = _kept_after_bursts("on")
    assert took == "True"
    assert kept < 60, f"{kept:.0f} MB kept after four bursts of 19 threads x 45 MB"
    _, kept_without = _kept_after_bursts("off")
    assert kept_without > kept + 50, (kept_without, kept)  # glibc's default keeps them: the test can tell


@glibc_only
def test_an_operators_own_malloc_setting_is_left_alone():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", "from dashboard.memory import return_large_blocks as r; print(r())"],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**clean, "PYTHONPATH": str(REPO), "MALLOC_MMAP_THRESHOLD_": "262144"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"  # glibc keeps the operator's threshold; no bursts needed to see it


SMALL_BLOCKS = """
import threading, gc
from dashboard.memory import trim
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
barrier = threading.Barrier(8)
kept = []
def session():
    blocks = [bytes(4000) for _ in range(20_000)]  # 80 MB in blocks malloc keeps in this thread's heap
    barrier.wait()
    kept.append(blocks[::1000])  # a few survive, so the heaps cannot simply shrink from the top
    del blocks
threads = [threading.Thread(target=session) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
gc.collect()
before = rss_mb()
took = trim()
print(took, before - rss_mb())
"""


@glibc_only
def test_trimming_gives_back_free_pages_inside_the_heaps():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", SMALL_BLOCKS], cwd=REPO, capture_output=True, text=True,
                         env={**clean, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    took, released = out.stdout.split()
    assert took == "True" and float(released) > 200, out.stdout  # of ~640 MB freed by the threads


class _Session:
    """Stands in for Streamlit's session objects, which refer to each other."""


def test_closed_sessions_cycles_are_collected_when_idle_after_pages_ran():
    gc.collect()
    gc.disable()  # only the cleaner may collect during this test
    try:
        runner, state = _Session(), _Session()
        runner.state, state.runner = state, runner
        state.photo = np.zeros((900, 1200, 3), np.uint8)  # what makes a closed session weigh
        closed = weakref.ref(state)
        del runner, state
        assert closed() is not None  # reference counting alone cannot free a cycle

        with priority.foreground():  # a page runs ...
            assert not cleanup_if_idle() and closed() is not None  # ... and is never interrupted
        assert not cleanup_if_idle(window=0.0) and closed() is not None  # too long ago: a quiet server rests
        assert cleanup_if_idle() and closed() is None  # the page ended a moment ago: collect
    finally:
        gc.enable()


def test_the_cleaner_is_one_daemon_thread_per_process():
    thread = start_idle_cleanup()
    assert thread is start_idle_cleanup() and thread.daemon and thread.is_alive()
    assert thread.name == "glasswing-idle-cleanup"


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_a_nonsense_cleanup_interval_is_refused_by_name(monkeypatch, value):
    from dashboard.memory import cleanup_interval

    monkeypatch.setenv("GLASSWING_IDLE_CLEANUP_SECONDS", value)
    with pytest.raises(ValueError, match="GLASSWING_IDLE_CLEANUP_SECONDS must be a number of seconds"):
        cleanup_interval()


def test_the_launcher_refuses_a_nonsense_cleanup_interval_before_serving(monkeypatch, capsys):
    from streamlit.web import cli as stcli

    import dashboard.__main__ as launcher
    from dashboard import memory

    monkeypatch.setenv("GLASSWING_IDLE_CLEANUP_SECONDS", "soon")
    monkeypatch.setattr(memory, "start_idle_cleanup", memory.start_idle_cleanup.__wrapped__)  # not the cached one
    monkeypatch.setattr(memory, "return_large_blocks", lambda: False)  # leave this process's allocator alone
    started = []
    monkeypatch.setattr(launcher, "warm_up", lambda: started.append("warm-up"))
    monkeypatch.setattr(stcli, "main", lambda: started.append("server") or 0)
    assert launcher.main([]) == 2
    assert "GLASSWING_IDLE_CLEANUP_SECONDS" in capsys.readouterr().err
    assert started == []  # neither the server nor the warm-up


def test_the_app_shows_a_nonsense_cleanup_interval_instead_of_any_page(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import memory

    monkeypatch.setenv("GLASSWING_IDLE_CLEANUP_SECONDS", "-1")
    monkeypatch.setattr(memory, "start_idle_cleanup", memory.start_idle_cleanup.__wrapped__)  # not the cached one
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Server setting: GLASSWING_IDLE_CLEANUP_SECONDS must be a number of seconds from 0.1 to 86,400, got '-1'."]
