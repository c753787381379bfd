"""Every page answers its own address: /explain is the Explain page, not 'Page not found' (#17)."""

from __future__ import annotations

from playwright.sync_api import expect


def test_explain_address_opens_the_explain_page(page):
    page.goto(page.base_url + "/explain")
    expect(page.get_by_role("heading", name="Explain a prediction")).to_be_visible()
    expect(page.get_by_text("Grad-CAM ·").first).to_be_visible()
    assert page.get_by_text("Page not found").count() == 0
    # The sidebar still lists Explain once, and its link brings back the same page.
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Explain", exact=True)).to_have_count(1)
    nav.get_by_text("Trust", exact=True).click()
    expect(page.get_by_role("heading", name="Trust").first).to_be_visible()
    nav.get_by_text("Explain", exact=True).click()
    expect(page.get_by_role("heading", name="Explain a prediction")).to_be_visible()
