"""Long work as a person meets it, on a server that shows every task's progress at once
(GLASSWING_TASK_WAIT_SECONDS=0, where the suite's other server waits for the result): the Trust ranking's bar
names the method being scored and says the page may be left; the person looks at the Explain page meanwhile,
comes back, and the bar is followed to its table; a reload then shows the table again, with no other click."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect
from servers import start_dashboard, stop


@pytest.fixture(scope="module")
def server():
    """This module's own dashboard (it overrides the suite's ``server`` for the ``page`` fixture)."""
    home = Path(tempfile.mkdtemp(prefix="glasswing-browser-eager-"))
    proc, port = start_dashboard(home / "streamlit.log", {"GLASSWING_DATA": str(home / "data"),
                                                          "GLASSWING_RUNS": str(home / "runs"),
                                                          "GLASSWING_TASK_WAIT_SECONDS": "0"})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


def test_a_ranking_runs_on_while_the_person_looks_elsewhere_and_survives_a_reload(page):
    page.goto(page.base_url + "/trust")
    expect(page.get_by_role("heading", name="Can this explanation be trusted?")).to_be_visible()
    page.get_by_role("button", name="Rank the methods").click()
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text(re.compile(r"Ranking \d+ methods: .+\(\d+ of \d+\)"), timeout=120_000)
    expect(page.get_by_text("You can look at other pages meanwhile")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="Explain").click()
    expect(page.get_by_role("heading", name="Explain a prediction")).to_be_visible()
    expect(page.get_by_text("Egyptian cat").first).to_be_visible(timeout=120_000)
    sidebar.get_by_role("link", name="Trust").click()
    expect(page.get_by_role("heading", name="Can this explanation be trusted?")).to_be_visible()
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible(timeout=300_000)  # the bar followed to its end: the ranking's table
    expect(bar).to_have_count(0)
    expect(page.get_by_text("Explaining:").first).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Can this explanation be trusted?")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Press **Rank the methods**")).to_have_count(0)
    expect(page.get_by_text("Press Rank the methods", exact=False)).to_have_count(0)
