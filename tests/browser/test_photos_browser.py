"""A person picks a second sample photo on Explain, switches between the two, then opens Trust and Attack:
the same two photos are there, in the same place, with the same one chosen."""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect


def _photo_radio(page, name: str):
    return page.get_by_test_id("stRadio").filter(has_text="sample: cat").get_by_role("radio", name=name)


def _choose_photo(page, name: str) -> None:
    page.get_by_test_id("stRadio").filter(has_text="sample: cat").get_by_text(name, exact=True).click()


def _add_sample(page, option: str) -> None:
    """Open the sample picker and pick ``option``; again if a rerun closed the list before the click (the
    first page load on a busy machine reruns the page while its heatmap's scores arrive)."""
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Sample photos")
    for _ in range(4):
        box.click()
        try:
            page.get_by_role("option", name=option).click(timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    box.click()
    page.get_by_role("option", name=option).click()


def test_two_sample_photos_follow_the_user_to_trust_and_attack(page):
    from core.images import resize_for_model
    from core.samples import load_sample
    from core.zoo import load_model

    model = load_model("efficientnet_lite0")  # the server's default model (an independent load)
    probs = model.predict(resize_for_model(load_sample("coffee"), model.input_size)[None])[0]
    coffee = model.top_k(probs, 1)[0]["label"]

    page.goto(page.base_url)
    expect(page.get_by_text(re.compile(r"Prediction:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    _add_sample(page, "coffee (a cup of coffee)")
    page.keyboard.press("Escape")
    # The photo just picked is shown; the other stays one click away, and both work.
    expect(page.get_by_text(re.compile(rf"Prediction:\s*{coffee}"))).to_be_visible(timeout=120_000)
    _choose_photo(page, "sample: cat")
    expect(page.get_by_text(re.compile(r"Prediction:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    _choose_photo(page, "sample: coffee")
    expect(page.get_by_text(re.compile(rf"Prediction:\s*{coffee}"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Grad-CAM · "))).to_be_visible(timeout=120_000)
    assert not page.get_by_test_id("stException").count()

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="Trust").click()
    expect(page.get_by_role("heading", name="Can this explanation be trusted?")).to_be_visible()
    expect(_photo_radio(page, "sample: coffee")).to_be_checked()
    expect(page.get_by_role("button", name="Rank the methods")).to_be_visible()
    _choose_photo(page, "sample: cat")  # a widget touched with two photos on the page (it used to crash)
    expect(_photo_radio(page, "sample: cat")).to_be_checked()
    expect(page.get_by_role("button", name="Rank the methods")).to_be_visible()
    assert not page.get_by_test_id("stException").count()

    sidebar.get_by_role("link", name="Attack").click()
    expect(page.get_by_role("heading", name="Attack a prediction")).to_be_visible()
    expect(_photo_radio(page, "sample: cat")).to_be_checked()
    expect(page.get_by_text(re.compile(r"Before:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    _choose_photo(page, "sample: coffee")
    expect(page.get_by_text(re.compile(rf"Before:\s*{coffee}"))).to_be_visible(timeout=120_000)
    assert not page.get_by_test_id("stException").count()


def test_two_uploaded_photos_at_once_are_both_offered_and_carried_to_attack(page, tmp_path):
    """Two files in one upload: both are offered, the last one is shown, either can be chosen, and the
    choice is carried to the Attack page."""
    from PIL import Image

    from core.samples import load_sample

    paths = []
    for name in ("cat", "coffee"):
        path = tmp_path / f"my_{name}.png"
        Image.fromarray(load_sample(name)).save(path)
        paths.append(str(path))
    page.goto(page.base_url)
    expect(page.get_by_text(re.compile(r"Prediction:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    page.get_by_test_id("stRadio").filter(has_text="Image source").get_by_text("Upload", exact=True).click()
    page.locator("input[type='file']").first.set_input_files(paths)
    photos = page.get_by_test_id("stRadio").filter(has_text="my_cat.png")
    expect(photos.get_by_text("my_coffee.png", exact=True)).to_be_visible(timeout=120_000)
    photos.get_by_text("my_cat.png", exact=True).click()
    expect(page.get_by_text(re.compile(r"Prediction:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Grad-CAM · "))).to_be_visible(timeout=120_000)
    assert not page.get_by_test_id("stException").count()
    page.get_by_test_id("stSidebar").get_by_role("link", name="Attack").click()
    expect(page.get_by_role("heading", name="Attack a prediction")).to_be_visible()
    expect(page.get_by_test_id("stRadio").filter(has_text="my_cat.png").get_by_role(
        "radio", name="my_cat.png")).to_be_checked()
    expect(page.get_by_text(re.compile(r"Before:\s*Egyptian cat"))).to_be_visible(timeout=120_000)
    assert not page.get_by_test_id("stException").count()
