"""A person compresses a finished run on the Compress page in a real browser: the variants are built in the
background, then the table, the accuracy-against-size chart and the downloads show, read from the files the
work wrote. The server has its own runs folder holding one small_cnn run trained here."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect
from servers import start_dashboard, stop
from test_train_engine import make_colour_dataset, scratch_config  # tests/ is on sys.path under pytest

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture(scope="module")
def server():
    from core.train.engine import train

    home = Path(tempfile.mkdtemp(prefix="glasswing-compress-browser-"))
    data = make_colour_dataset(home / "colours", per_class=24)
    run = train(scratch_config(data, epochs=3).with_changes(name="browser compress run"),
                runs_root=home / "runs").run_dir
    proc, port = start_dashboard(home / "streamlit.log", {"GLASSWING_DATA": str(home / "data"),
                                                          "GLASSWING_RUNS": str(home / "runs")})
    try:
        yield f"http://127.0.0.1:{port}", run
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def page(browser, server, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    pg.base_url = server[0]
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def test_a_run_is_compressed_and_its_variants_compared(page, server):
    _url, run = server
    page.goto(page.base_url + "/compress")
    expect(page.get_by_role("heading", name="Compress a model")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Run")).to_have_value(re.compile(r"^browser compress run · "))
    expect(page.get_by_text("No variant of this run yet")).to_be_visible()
    sidebar.get_by_role("button", name="Compress").click()  # float16 and int8, the defaults
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    expect(page.get_by_text("Variants, measured on the run's val images")).to_be_visible()
    expect(page.get_by_role("button", name="Download int8")).to_be_visible()
    expect(page.get_by_role("button", name="Download float16")).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    written = {p.parent.name: json.loads(p.read_text()) for p in (run / "variants").glob("*/variant.json")}
    assert set(written) == {"float16", "int8"} and all(v["format"].startswith("tflite") for v in written.values())
