"""The Compress page under AppTest, on a small_cnn run trained here at 32 px: variants are built in the
background, listed from disk with the original (the same numbers as their variant.json), charted, compared
side by side with Grad-CAM and downloadable; a stop keeps what was finished and says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_train_engine import make_colour_dataset, scratch_config  # tests/ is on sys.path under pytest

ROOT = Path(__file__).resolve().parent.parent
SESSION = "compress-page-test"
PAGE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dashboard import state
from dashboard.i18n import init_language
from dashboard.views import compress
init_language()
state.init_session()
compress.main()
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    from core import config
    from core.train.engine import train

    data = make_colour_dataset(tmp_path_factory.mktemp("colours") / "colours", per_class=24)
    result = train(scratch_config(data, epochs=3).with_changes(name="compress-page-run"), runs_root=config.runs_dir(),
                   owner=SESSION)
    return result.run_dir


def _page(run: Path, lang: str | None = None) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=300)
    if lang:
        at.query_params["lang"] = lang
    at.session_state["session_id"] = SESSION
    at.session_state["compress_run"] = str(run)
    at.run()
    assert not at.exception, at.exception
    return at


def test_variants_are_built_listed_charted_and_compared(run):
    at = _page(run)
    assert any(i.value.startswith("No variant of this run yet") for i in at.info)
    at.sidebar.checkbox(key="compress_prune").check()
    at.sidebar.button[0].click().run()  # the form's Compress button
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    table = next(d.value for d in at.dataframe if "variant" in d.value.columns)
    assert list(table["variant"]) == ["original model", "float16", "int8", "prune-0.5"]
    on_disk = {p.parent.name: json.loads(p.read_text()) for p in (run / "variants").glob("*/variant.json")}
    assert set(on_disk) == {"float16", "int8", "prune-0.5"}
    for _, row in table.iloc[1:].iterrows():
        assert row["size (MB)"] == pytest.approx(on_disk[row["variant"]]["size_bytes"] / 1e6)
        assert row["accuracy"] == pytest.approx(100 * on_disk[row["variant"]]["accuracy"])
    assert row["sparsity"] == pytest.approx(50, abs=5)  # shown in percent
    assert any("compress_chart" in c.proto.id for c in at.get("plotly_chart"))
    assert [c for img in at.get("image") for c in img.captions].count("prune-0.5") == 3  # side by side
    assert len(at.get("download_button")) == 3
    # Another session's page (a reload) reads the same variants from disk.
    again = _page(run)
    assert list(next(d.value for d in again.dataframe if "variant" in d.value.columns)["variant"]) == \
        ["original model", "float16", "int8", "prune-0.5"]
    # In Chinese, the run itself is named in Chinese; a variant's name is its recipe, as on disk.
    chinese = _page(run, "zh")
    table = next(d.value for d in chinese.dataframe if len(d.value) == 4)
    assert list(table.iloc[:, 0]) == ["原始模型", "float16", "int8", "prune-0.5"]


def test_a_stop_keeps_the_variants_finished_before_it(run, monkeypatch):
    from gates import bars_until, hold_at, run_until_done

    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = hold_at(monkeypatch, "core.compress.compress_run", "int8-full (2 of 2): building")
    tasks.clear("compress")
    float16 = run / "variants" / "float16" / "variant.json"
    before = float16.stat().st_mtime_ns if float16.exists() else None
    at = _page(run)
    at.sidebar.checkbox(key="compress_int8").uncheck()
    at.sidebar.checkbox(key="compress_int8-full").check()
    at.sidebar.button[0].click().run()
    bars = bars_until(at, lambda b: "int8-full (2 of 2)" in b)
    assert any(b.startswith("Compressing ") and ": int8-full (2 of 2): building" in b for b in bars), bars
    reloaded = _page(run)  # a reload (a new script session) finds the compress under way, with its Stop button
    assert any(": int8-full (2 of 2): building" in b.proto.text for b in reloaded.get("progress"))
    assert reloaded.button(key="compress_stop")
    at.button(key="compress_stop").click().run()
    gate.set()
    run_until_done(at)
    assert any(e.value == "Stopped: the variants finished before the stop are kept." for e in at.error), \
        [e.value for e in at.error]
    assert not (run / "variants" / "int8-full").exists() and not list((run / "variants").glob(".int8-full*"))
    assert float16.is_file() and float16.stat().st_mtime_ns != before  # built again, before the stop, and kept
    # Compress again after the stop: the new press starts a new compress (the stopped one is not shown again).
    gate.set()
    at.sidebar.button[0].click().run()
    run_until_done(at)
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert (run / "variants" / "int8-full" / "variant.json").is_file()
