"""Shared test set-up: isolated data folders, and the offline default model converted once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import core  # noqa: F401 - sets TensorFlow's environment (core/__init__.py) before TensorFlow loads

# Every test session writes into its own folders, never into the developer's data/, runs/ or pretrained/.
# The converted zoo models are shared between sessions in a cache keyed by nothing but the file names,
# which is safe because conversion is deterministic and writes are atomic.
_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="glasswing-tests-"))
os.environ.setdefault("GLASSWING_PRETRAINED",
                      str(Path(tempfile.gettempdir()) / "glasswing-test-pretrained"))
os.environ["GLASSWING_DATA"] = str(_SESSION_ROOT / "data")
os.environ["GLASSWING_RUNS"] = str(_SESSION_ROOT / "runs")
# The dashboard's idle cleaner (a full garbage collection, ~0.2 s holding the GIL) stays out of the test
# process and the servers it starts, where it would stall timing-sensitive tests; the tests that check
# it call it directly or set their own interval.
os.environ["GLASSWING_IDLE_CLEANUP_SECONDS"] = "86400"
# Pages wait for background work as they did for work in the script (tests of the progress bars set 0).
os.environ["GLASSWING_TASK_WAIT_SECONDS"] = "600"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def lite0():
    """The offline default model with its real ImageNet weights (converted on first use)."""
    from core.zoo import load_model

    return load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def cat_image() -> np.ndarray:
    from core.samples import load_sample

    return load_sample("cat")


@pytest.fixture(scope="session")
def coffee_image() -> np.ndarray:
    from core.samples import load_sample

    return load_sample("coffee")


@pytest.fixture(autouse=True)
def fresh_page_memory():
    """Each test is a new visitor: what earlier tests chose on a page (several reuse one session id for
    their datasets) is not brought back by the server's page memory. A reload within a test still is."""
    from dashboard import page_memory

    page_memory.forget()


@pytest.fixture
def app(lite0):
    """The whole dashboard (dashboard/app.py) opened on its default page, the Explain page, as a visitor
    opens it (the default model, the cat sample)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"),
                           default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def cat_jpeg(tmp_path, cat_image) -> Path:
    from PIL import Image

    path = tmp_path / "cat.jpg"
    Image.fromarray(cat_image).save(path, quality=95)
    return path


# ---- nothing a test writes may land in the repository ------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent


def _untracked() -> set[str] | None:
    """Files in the checkout that git neither tracks nor ignores (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {line[3:] for line in out.stdout.splitlines() if line.startswith("?? ")} if out.returncode == 0 else None


def _controller(session) -> bool:
    return not hasattr(session.config, "workerinput")  # xdist's workers have it; the controller checks once


def pytest_sessionstart(session):
    if _controller(session):
        session.config._glasswing_untracked = _untracked()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_glasswing_untracked", None)
    after = _untracked() if _controller(session) and before is not None else None
    if after is not None and after - before:
        written = ", ".join(sorted(after - before))
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"FAILED: the tests wrote into the repository, outside their own folders: {written}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
