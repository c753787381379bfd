"""A person opens the Train page, trains on the built-in shapes for a few epochs, watches the curves appear,
and sees the finished run with its confusion matrix and in the run list."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect


def test_train_on_shapes_shows_live_curves_and_the_finished_run(page):
    page.goto(page.base_url + "/train")
    expect(page.get_by_text("Train a classifier")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    # Defaults: the built-in shapes dataset (generated on first use) and the offline EfficientNet-Lite0.
    expect(sidebar.get_by_role("combobox", name="Dataset")).to_have_value(re.compile("Synthetic shapes"))
    expect(sidebar.get_by_role("combobox", name="Base model")).to_have_value(re.compile("EfficientNet-Lite0"))
    # Transfer learning on a frozen backbone: features are computed once, then the head trains in seconds.
    epochs = sidebar.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("3")
    epochs.press("Tab")
    started = time.monotonic()
    sidebar.get_by_role("button", name="Start training").click()

    # The job runs in the background while the page keeps redrawing its progress and curves.
    expect(page.get_by_text("Current training:")).to_be_visible(timeout=60_000)
    # A reload keeps the session (its id is in the address), so the running job is still shown.
    assert re.search(r"[?&]session=[0-9a-f]{32}", page.url), page.url
    page.reload()
    expect(page.get_by_text("Current training:")).to_be_visible(timeout=120_000)
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts.filter(has_text="Loss (lower is better)").first).to_be_visible(timeout=600_000)
    expect(page.get_by_text(re.compile(r"Finished\. Validation accuracy \d+(\.\d)?%"))).to_be_visible(
        timeout=600_000)
    print(f"\ntraining in the browser took {time.monotonic() - started:.1f}s")
    text = page.get_by_text(re.compile(r"Finished\. Validation accuracy")).first.inner_text()
    accuracy = float(re.search(r"([\d.]+)%", text).group(1))
    assert accuracy >= 70, text  # four very different shapes: a pretrained backbone separates them easily

    # The summary: the confusion matrix and the run in the list.
    expect(charts.filter(has_text="Confusion matrix (validation images)").first).to_be_visible()
    expect(page.get_by_text("Your runs")).to_be_visible()
    expect(page.get_by_role("combobox", name="Run")).to_have_value("efficientnet_lite0 on shapes · complete")
    expect(page.get_by_role("button", name="Stop training")).to_have_count(0)
