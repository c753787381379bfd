"""A student opens Inside the network on the default model: the layer totals match the model's own
parameter count, and the Feature maps tab draws the most active channels of the default layer for the
sample cat."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_layer_totals_and_feature_maps_of_the_default_model(page):
    from core.zoo import load_model

    model = load_model("efficientnet_lite0")  # the server's default model (an independent load)
    layer = model.model.get_layer(model.default_cam_layer)
    _, h, w, c = layer.output.shape

    page.goto(page.base_url + "/architecture")
    expect(page.get_by_role("heading", name="Inside the network")).to_be_visible()
    parameters = page.get_by_test_id("stMetric").filter(has_text="Parameters").first
    expect(parameters).to_contain_text(f"{model.model.count_params():,}")
    expect(page.get_by_text("Blocks", exact=True)).to_be_visible()

    page.get_by_role("tab", name="Feature maps").click()
    expect(page.get_by_text(f"{layer.name}: {c} channels of {h} x {w} for sample: cat")).to_be_visible()
    grid = page.get_by_test_id("stImage").filter(has_text=re.compile("most active channels"))
    expect(grid.locator("img")).to_be_visible()
    assert grid.locator("img").evaluate("img => img.naturalWidth") > 0  # the image really decoded
