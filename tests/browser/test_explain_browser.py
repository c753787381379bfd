"""A person opens the dashboard, picks the cat photo and sees the label and the heatmap."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect


def test_cat_sample_shows_label_and_heatmap(page):
    page.goto(page.base_url)
    expect(page.get_by_text("Explain a prediction")).to_be_visible()
    # The sample cat is chosen by default: the top label and a Grad-CAM overlay appear.
    expect(page.get_by_text(re.compile(r"Prediction:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Grad-CAM · Egyptian cat"))).to_be_visible(timeout=120_000)
    images = page.locator("[data-testid='stImage'] img")
    expect(images).to_have_count(3)  # the photo, the overlay and its colour bar
    expect(page.get_by_text(re.compile(r"0 ← jet → 1"))).to_be_visible()


def test_upload_a_photo_and_see_its_heatmap(page, tmp_path, cat_image):
    from PIL import Image

    photo = Path(tmp_path) / "my_cat.png"
    Image.fromarray(cat_image).save(photo)
    page.goto(page.base_url)
    page.get_by_text("Upload", exact=True).click()
    page.locator("input[type='file']").first.set_input_files(str(photo))
    # The uploaded photo (not the sample) is the one shown and explained.
    expect(page.get_by_test_id("stImage").filter(has_text="my_cat.png")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Grad-CAM · Egyptian cat"))).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Download overlay")).to_be_visible()
    # The download is encoded on click: it must still be the overlay, a PNG of the photo's own size.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download overlay").click()
    saved = Path(tmp_path) / "overlay.png"
    info.value.save_as(saved)
    with Image.open(saved) as overlay:
        assert overlay.format == "PNG" and overlay.size == (cat_image.shape[1], cat_image.shape[0])
    # The faithfulness badges arrive from the background scorer without any click.
    expect(page.get_by_text(re.compile(r"deletion \d+%")).first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"insertion \d+%")).first).to_be_visible()
