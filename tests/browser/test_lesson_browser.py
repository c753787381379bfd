"""A student follows the Lesson in the browser with no upload: looks at the data, previews augmentation,
trains a small model in the background (the page follows it live) and evaluates it on clean test images."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def _next(page, title: str) -> None:
    page.get_by_role("button", name="Next →").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()


def test_lesson_data_augment_train_and_evaluate(page):
    page.goto(page.base_url + "/lesson")
    expect(page.get_by_role("heading", name="1. Look at the data")).to_be_visible(timeout=120_000)
    sidebar = page.get_by_test_id("stSidebar")
    per_class = sidebar.get_by_role("spinbutton", name="Images per class")
    per_class.fill("20")  # 14 training images per class: the tiny lesson the AppTest runs too
    per_class.press("Tab")
    expect(page.get_by_text("64 x 64 pixels x 3").first).to_be_visible()

    _next(page, "2. Augment")
    expect(page.get_by_test_id("stImage").first).to_be_visible()
    _next(page, "3. Train")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Training finished").first).to_be_visible(timeout=300_000)

    _next(page, "4. Evaluate")
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Test accuracy").first
    expect(accuracy).to_contain_text(re.compile(r"\d+(\.\d+)?%"))
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()


def test_lesson_in_chinese_first_steps(page):
    """The Lesson at /lesson?lang=zh: Chinese headings, none of the English title; the screenshot that the
    page fixture keeps (artifacts/browser/test_lesson_in_chinese_first_steps.png) shows it as students do."""
    page.goto(page.base_url + "/lesson?lang=zh")
    expect(page.get_by_role("heading", name="课程：训练、测试、解释并骗过一个图像分类器")).to_be_visible(
        timeout=120_000)
    expect(page.get_by_role("heading", name="1. 查看数据")).to_be_visible()
    expect(page.get_by_role("heading", name="Lesson: train, test, explain and fool an image classifier")) \
        .to_have_count(0)
    expect(page.get_by_role("heading", name="1. Look at the data")).to_have_count(0)
    per_class = page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="每类图像数")
    per_class.fill("20")
    per_class.press("Tab")
    expect(page.get_by_text("64 x 64 像素 x 3 个颜色通道").first).to_be_visible()
    page.get_by_role("button", name="下一步 →").click()
    expect(page.get_by_role("heading", name="2. 数据增强")).to_be_visible()
    expect(page.get_by_text("为什么有用？").first).to_be_visible()
    expect(page.get_by_test_id("stImage").first).to_be_visible()
