"""A real dashboard server and a real headless Chromium (Debian's), driven by Playwright.

Screenshots are written to ``artifacts/browser/``; a failing test prints the page's console errors.
Set ``GLASSWING_SKIP_BROWSER=1`` to skip these tests on a machine without Chromium.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect
from servers import start_dashboard, stop

# The first script run imports TensorFlow and loads the model: give assertions time.
expect.set_options(timeout=90_000)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
    if os.environ.get("GLASSWING_SKIP_BROWSER") == "1":
        skip = pytest.mark.skip(reason="GLASSWING_SKIP_BROWSER=1")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def server():
    """``python -m dashboard`` (what make run serves) on a free local port, with its own data folders."""
    home = Path(tempfile.mkdtemp(prefix="glasswing-browser-"))
    proc, port = start_dashboard(home / "streamlit.log", {"GLASSWING_DATA": str(home / "data"),
                                                          "GLASSWING_RUNS": str(home / "runs")})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
                    "or set GLASSWING_SKIP_BROWSER=1.")
    from playwright.sync_api import sync_playwright

    # Playwright gives every launch a fresh, temporary profile (its own --user-data-dir).
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh browser page; console errors are collected and printed if the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(f"{msg.type}: {msg.text} {msg.location.get('url', '')}")
          if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.base_url = server
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed and errors:
        print("\nBrowser console errors:\n" + "\n".join(errors))
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
