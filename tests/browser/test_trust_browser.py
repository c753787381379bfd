"""A practitioner asks whether Grad-CAM can be trusted on the default model: the Trust page's sanity check
scrambles a copy of the model layer by layer, plots the similarity and gives a pass or fail per method."""

from __future__ import annotations

from playwright.sync_api import expect


def test_sanity_check_passes_grad_cam_on_the_default_model(page):
    page.goto(page.base_url + "/trust")
    expect(page.get_by_role("heading", name="Can this explanation be trusted?")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Sanity check", exact=True).click()
    expect(page.get_by_text("Sanity check: scramble the model, watch the explanation")).to_be_visible()
    page.get_by_role("button", name="Run the sanity check").click()
    # Grad-CAM depends on the learned weights, so scrambling them changes its map: it passes.
    expect(page.get_by_text("Grad-CAM: passed")).to_be_visible(timeout=240_000)
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart).to_be_visible()
    expect(chart.locator(".scatterlayer .trace")).not_to_have_count(0)  # similarity curves are drawn
