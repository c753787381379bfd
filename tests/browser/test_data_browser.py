"""A person opens the Data page, picks the built-in shapes and sees its report and augmented views."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_pick_shapes_and_see_the_augmentation_grid(page):
    page.goto(page.base_url + "/data")
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile(r"^Synthetic shapes · built-in")).click()

    expect(page.get_by_role("heading", name="Synthetic shapes")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Usable images")).to_contain_text("800")
    expect(page.get_by_role("heading", name="Augmentation preview")).to_be_visible()
    # Two example images, each shown as the original and five augmented views.
    expect(page.get_by_text("view 5", exact=True)).to_have_count(2, timeout=120_000)
    views = page.get_by_test_id("stImageContainer").filter(has_text=re.compile(r"^view \d$"))
    expect(views).to_have_count(10)
    expect(views.first.locator("img")).to_be_visible()
    expect(page.locator("[data-testid='stCode']").filter(has_text="--augment light").first).to_be_attached()
