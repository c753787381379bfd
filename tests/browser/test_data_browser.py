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


def _digits_zip(path) -> None:
    """Handwritten digits (scikit-learn's, upscaled), class folders named "0".."9", 3 images each."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    with zipfile.ZipFile(path, "w") as zf:
        for label in range(10):
            for k, index in enumerate(np.flatnonzero(digits.target == label)[:3]):
                buf = io.BytesIO()
                pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
                Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).convert("RGB").save(buf, "PNG")
                zf.writestr(f"digits/{label}/{label}_{k}.png", buf.getvalue())


def test_switching_to_digits_names_their_class_and_file_and_warns_about_flips(page, tmp_path):
    page.goto(page.base_url + "/data")
    sidebar = page.get_by_test_id("stSidebar")
    expect(page.get_by_role("heading", name="Synthetic shapes")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("view 5", exact=True)).to_have_count(2, timeout=120_000)
    klass = page.get_by_role("combobox", name="Class")
    expect(klass).to_have_value("circle")
    zipped = tmp_path / "digits.zip"
    _digits_zip(zipped)
    sidebar.get_by_text("Add your own images").click()
    sidebar.locator("input[type='file']").first.set_input_files(str(zipped))
    expect(sidebar.get_by_role("button", name="Remove digits.zip")).to_be_visible()  # uploaded, as a person sees
    sidebar.get_by_role("button", name="Import zip").click()
    expect(page.get_by_role("heading", name=re.compile("Your upload: digits.zip"))).to_be_visible(timeout=120_000)
    # The class-count chart labels every digit (a numeric axis labelled every other one).
    counts = page.get_by_test_id("stPlotlyChart").first
    expect(counts.locator(".xtick text")).to_have_count(10)
    assert counts.locator(".xtick text").all_text_contents() == [str(d) for d in range(10)]
    # The preview names the new dataset's class and file, not the shapes' ones.
    expect(klass).to_have_value("0")
    expect(page.get_by_role("combobox", name="First image")).to_have_value("0_0.png")
    # The default preset does not flip; a flipping one warns, since these classes are digits.
    expect(page.get_by_text("These classes are digits or letters")).to_have_count(0)
    preset = page.get_by_role("combobox", name="Preset")
    preset.click()
    preset.fill("strong")  # the dropdown filters as one types: no hunt for an option that may be scrolled away
    page.keyboard.press("Enter")
    expect(preset).to_have_value("strong")
    expect(page.get_by_text("These classes are digits or letters")).to_be_visible()
