"""A person opens the Attack page, runs the default attack on the cat and sees the label change."""

from __future__ import annotations

import re

from playwright.sync_api import expect

RESULT = re.compile(r"Before:\s*(?P<before>[^(]+?)\s*\([\d.]+%\)\s*→\s*After:\s*(?P<after>[^(]+?)\s*\([\d.]+%\)")


def test_run_attack_changes_the_label(page):
    page.goto(page.base_url + "/attack")
    expect(page.get_by_text("Attack a prediction")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Before:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Run attack").click()
    line = page.get_by_text(re.compile(r"Before:.*→\s*After:"))  # JS regex: no Python named groups
    expect(line).to_be_visible(timeout=180_000)
    match = RESULT.search(line.inner_text())
    assert match is not None, line.inner_text()
    assert match["before"] == "Egyptian cat"
    assert match["after"] != match["before"]
    # The three images and the two Grad-CAM overlays are on the page, and the PNG can be downloaded.
    expect(page.get_by_text(re.compile(r"Perturbation magnified ×\d+"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Grad-CAM after · "))).to_be_visible(timeout=120_000)
    expect(page.locator("[data-testid='stImage'] img")).to_have_count(5)
    expect(page.get_by_role("button", name="Download the adversarial image (PNG)")).to_be_visible()
