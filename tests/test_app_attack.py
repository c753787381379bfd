"""The Attack page under Streamlit's AppTest: the default attack on the cat flips the label and shows the
three images and Grad-CAM before/after; a nonsense parameter is rejected by name; the curve renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
RUN = "FormSubmitter:attack_form-Run attack"
CURVE = "FormSubmitter:attack_curve_form-Compute robustness curve"


def open_page(at: AppTest, url_path: str) -> AppTest:
    """Open a callable page registered with st.navigation (AppTest.switch_page only finds files)."""
    at.run()
    assert not at.exception, at.exception
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def at(lite0):
    """The Attack page with the cat sample and EfficientNet-Lite0 (the defaults), attacked once."""
    at = open_page(AppTest.from_file(APP, default_timeout=300), "attack")
    at.button(key=RUN).click().run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    captions = [c for img in at.get("image") for c in img.captions]
    return " ".join(captions + [m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [s.value for s in at.success])


def _before_after(at) -> tuple[str, str]:
    line = next(m.value for m in at.markdown if "**After:**" in m.value)
    before = line.split("**Before:**")[1].split("(")[0].strip()
    after = line.split("**After:**")[1].split("(")[0].strip()
    return before, after


def test_default_attack_changes_label_and_shows_images_and_heatmaps(at):
    assert not at.error, [e.value for e in at.error]
    before, after = _before_after(at)
    assert before == "Egyptian cat" and after != before
    assert any("label changed" in s.value for s in at.success)
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions[:3] == ["Original (as the model sees it)",
                            next(c for c in captions if c.startswith("Perturbation magnified ×")), "Adversarial"]
    assert any(c.startswith("Grad-CAM before · Egyptian cat") for c in captions)
    assert any(c.startswith(f"Grad-CAM after · {after}") for c in captions)
    # The norms shown are the ones used: L-inf within the default budget of 2 levels.
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epsilon (budget)"] == "2 / 255"
    assert metrics["L-inf used"].endswith(" / 255") and 0 < float(metrics["L-inf used"].split(" / ")[0]) <= 2.0 + 1e-6
    assert at.get("download_button"), "the adversarial PNG can be downloaded"
    assert len(at.get("plotly_chart")) == 2  # top-5 before and after


def test_nonsense_parameters_are_rejected_by_name(at):
    at.number_input(key="attack_pgd_eps").set_value(300.0)
    at.button(key=RUN).click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["eps must be at most 255 pixels, got 300.0."]
    at.number_input(key="attack_pgd_eps").set_value(2.0)
    at.number_input(key="attack_pgd_steps").set_value(0)
    at.button(key=RUN).click().run()
    assert any(e.value.startswith("steps must be") for e in at.error), [e.value for e in at.error]
    # Back to sensible values: the page works again (the cached result comes straight back).
    at.number_input(key="attack_pgd_steps").set_value(10)
    at.button(key=RUN).click().run()
    assert not at.error and not at.exception
    assert _before_after(at)[0] != _before_after(at)[1]


def test_targeted_attack_reaches_the_chosen_class(at):
    tiger_cat = 282
    at.selectbox(key="attack_target").set_value(tiger_cat)
    at.button(key=RUN).click().run()
    assert not at.exception, at.exception
    assert any("Targeted attack succeeded: the model now says tiger cat" in s.value for s in at.success)
    assert _before_after(at)[1] == "tiger cat"
    at.selectbox(key="attack_target").set_value(None)
    at.button(key=RUN).click().run()


def test_robustness_curve_renders_and_falls_with_epsilon(at):
    at.multiselect(key="attack_curve_eps").set_value([0.0, 2.0])
    at.button(key=CURVE).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 3  # top-5 before/after and the curve
    stored = at.session_state["attack_curve"]
    assert stored["epsilons"] == [0.0, 2.0] and set(stored["values"]) == {"fgsm", "pgd"}
    # Epsilon 0 is the clean probability of the label (Egyptian cat 0.771, the reference output) ...
    assert stored["values"]["pgd"][0] == pytest.approx(0.771, abs=0.01)
    # ... and the attacks at epsilon 2 lower it; PGD (which flipped the label above) takes it below half.
    assert stored["values"]["fgsm"][1] < stored["values"]["fgsm"][0]
    assert stored["values"]["pgd"][1] < 0.5
    assert "Measured on this photo" in _texts(at)


def test_magnified_perturbation_is_grey_where_unchanged_and_full_scale_at_the_largest_change():
    from dashboard.views.attack_results import magnified_perturbation

    original = np.full((2, 2, 3), 100.0, np.float32)
    adversarial = original.copy()
    adversarial[0, 0, 0] += 2.0
    adversarial[1, 1, 2] -= 1.0
    picture, factor = magnified_perturbation(original, adversarial)
    assert factor == pytest.approx(127.5 / 2.0)
    assert picture[0, 0, 0] == 255 and picture[1, 1, 2] == int(127.5 - 63.75)
    assert picture[0, 1, 1] == 127  # unchanged: mid-grey


def test_jpeg_sentence_says_what_jpeg_really_did(at):
    caption = next(c.value for c in at.caption if c.value.startswith("PNG is lossless"))
    assert "smooths away" not in caption
    before, after = _before_after(at)
    jpeg_label = caption.split("saved as JPEG (quality 90) the model says ")[1].split(" (")[0]
    if jpeg_label == before:
        assert "undid the attack here" in caption
    elif jpeg_label == after:
        assert "did not undo it" in caption
    else:
        assert "changed the answer again" in caption


def test_image_count_is_asked_only_for_a_dataset_and_zero_bars_are_labelled(at):
    import json

    labels = [n.label for n in at.number_input]
    assert not any(label.startswith("Images from") for label in labels)  # the source is one photo
    options = at.selectbox(key="attack_defence_source").options
    if len(options) > 1:  # a dataset on disk: now the count is asked for
        at.selectbox(key="attack_defence_source").set_value(at.selectbox(key="attack_defence_source").options[1])
        at.run()
        assert any(n.label == "Images from the dataset (at most)" for n in at.number_input)
        at.selectbox(key="attack_defence_source").set_value(options[0]).run()
    at.button(key="FormSubmitter:attack_defence_form-Compare defences").click().run()
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if "BPDA" in c.proto.spec)
    traces = json.loads(chart.proto.spec)["data"]
    assert traces and all(t.get("textposition") == "outside" and t.get("cliponaxis") is False for t in traces)


def test_the_before_chart_is_the_explain_pages_top_k_chart(at):
    """One top-k chart (dashboard.components.top_k) on both pages: for the same photo and model, the
    Attack page's "before" bars are the Explain page's bars, best at the top, with the same labels."""
    import json

    def bars(page: AppTest, key: str) -> dict:
        chart = next(c for c in page.get("plotly_chart") if key in c.proto.id)
        return json.loads(chart.proto.spec)

    before = bars(at, "attack_top_before")
    explain = bars(open_page(AppTest.from_file(APP, default_timeout=300), "explain"), "explain_top_chart")
    for fig in (before, explain):
        assert fig["data"][0]["orientation"] == "h" and fig["layout"]["yaxis"]["type"] == "category"
    assert before["data"][0]["y"] == explain["data"][0]["y"]  # the same classes, in the same order
    assert before["data"][0]["y"][-1] == "Egyptian cat"  # the top prediction at the top
    np.testing.assert_allclose(before["data"][0]["x"], explain["data"][0]["x"], atol=1e-6)
    assert before["data"][0]["text"] == explain["data"][0]["text"]
    assert before["layout"]["title"]["text"] == "Top predictions before"


def test_a_long_pgd_shows_its_steps_while_it_runs(at, monkeypatch):
    """Past the page's wait, PGD goes on in the background and its bar counts the steps."""
    import time

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    at.number_input(key="attack_pgd_steps").set_value(30)
    at.number_input(key="attack_pgd_eps").set_value(3.0)  # settings no other test ran
    at.button(key=RUN).click().run()
    seen = []
    for _ in range(200):
        seen += [b.proto.text for b in at.get("progress")]
        if any("**After:**" in m.value for m in at.markdown):
            break
        time.sleep(0.5)  # each rerun redraws the page: fewer of them leave the CPU to PGD
        at.run()
    assert not at.exception and not at.error, at.exception
    assert any("**After:**" in m.value for m in at.markdown), "the attack's result came"
    steps = [t for t in seen if t.startswith("Running PGD: PGD (projected gradient steps): step ")]
    assert steps and all(" of 30" in t for t in steps), seen
    assert not at.get("progress")


def test_the_curve_and_the_defences_go_on_in_the_background(at, monkeypatch):
    """Past the page's wait, each is a background task: its bar names the attack and epsilon being run, the
    rest of the page stays, and the chart comes once it is done, without another click."""
    from gates import bars_until, hold_at, run_until_done

    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    module = "dashboard.views.attack_robustness"
    gate = hold_at(monkeypatch, f"{module}.dataset_curve", "FGSM at epsilon 4")
    tasks.clear("attack-curve")
    at.multiselect(key="attack_curve_eps").set_value([0.0, 4.0])  # epsilons no other test asked for
    at.button(key=CURVE).click().run()
    bars = bars_until(at, lambda b: "FGSM at epsilon 4" in b)
    gate.set()
    assert any(b.startswith("Attacking at every epsilon: FGSM at epsilon 4: batch 1 of 1") for b in bars), bars
    assert any(m.value.startswith("**Before:**") for m in at.markdown)  # the attack above stays on the page
    run_until_done(at)
    assert not at.exception and not at.error, at.exception
    assert at.session_state["attack_curve"]["epsilons"] == [0.0, 4.0]
    assert "attack_curve_chart" in " ".join(c.proto.id for c in at.get("plotly_chart"))

    gate = hold_at(monkeypatch, f"{module}.defence_table", "")  # its first report
    tasks.clear("attack-defences")
    at.multiselect(key="attack_defences").set_value(["jpeg"])
    at.button(key="FormSubmitter:attack_defence_form-Compare defences").click().run()
    bars = bars_until(at, lambda b: " at epsilon " in b)
    gate.set()
    assert any(b.startswith("Attacking each defence, naively and with BPDA: ") and " at epsilon " in b
               for b in bars), bars
    run_until_done(at)
    assert not at.exception and not at.error, at.exception
    assert {row.defence for row in at.session_state["attack_defences_result"]["rows"]} == {"none", "jpeg"}


# ---- in Chinese ------------------------------------------------------------------------------------

# Texts of the shared components (photo picker, model picker, top-k chart, parameter widgets: helper h1's
# part of issue #20), left out of this page's check until they are translated. The parameters' labels and
# help are this page's (core.attacks, in the catalogue) but shown by dashboard.widgets.param_widgets.
SHARED = {"Image source", "Sample photos", "Upload", "Camera", "Sample photos ship with Glasswing and work offline.",
          "Model", "Zoo models with ImageNet weights, your finished training runs and the models you uploaded.",
          "Use your own model (.keras)", "automatic", "probability", "class"}
SHARED_ENDINGS = (" · ready", " · ready to convert", " · needs download", "Leave empty for the automatic value.")
SAMPLES = ("cat (", "coffee (", "astronaut (", "rocket (")  # the sample photos' descriptions


def _own_english(at: AppTest, lite0) -> list[str]:
    import re

    from i18n_check import untranslated, visible_texts
    from test_i18n import class_names

    from core.attacks import get_attack, get_defence, list_attacks, list_defences

    params = [p for n in list_attacks() for p in get_attack(n).params]
    params += [p for n in list_defences() for p in get_defence(n).params]
    widgets = {text for p in params for text in (p.title, p.help)}
    texts = [re.sub(r" Allowed: .*$", "", t) for t in visible_texts(at)]  # param_widgets' range sentence
    texts = [t for t in texts if t not in SHARED | widgets and not t.endswith(SHARED_ENDINGS)
             and not t.startswith(SAMPLES) and not t.startswith("Run: ")]
    return untranslated(texts, class_names(lite0))  # class_names holds other tests' runs


def test_the_page_reads_as_chinese_after_an_attack_a_curve_and_the_defences(lite0):
    import json

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at = open_page(at, "attack")
    assert at.title[0].value == "攻击一次预测"
    assert not _own_english(at, lite0), "\n".join(_own_english(at, lite0))
    at.button(key="FormSubmitter:attack_form-运行攻击").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any(s.value.startswith("标签从 Egyptian cat 变成了") for s in at.success), [s.value for s in at.success]
    assert {m.label for m in at.metric} == {"ε（扰动预算）", "实际 L∞", "实际 L2", "改变的数值"}
    assert next(m for m in at.markdown if "**攻击后：**" in m.value).value.startswith("**攻击前：**Egyptian cat")
    at.multiselect(key="attack_curve_eps").set_value([0.0, 2.0])
    at.button(key="FormSubmitter:attack_curve_form-计算鲁棒性曲线").click().run()
    at.button(key="FormSubmitter:attack_defence_form-比较防御").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text") for c in at.get("plotly_chart")]
    assert "Egyptian cat 的概率随 ε 的变化" in titles and "准确率：原图、朴素攻击下、BPDA 攻击下" in titles, titles
    verdicts = [w.value for w in [*at.warning, *at.markdown] if "JPEG" in w.value]
    assert any(v.startswith(("JPEG 重新压缩掩盖了梯度", "JPEG 重新压缩：")) for v in verdicts), verdicts
    left = _own_english(at, lite0)
    assert not left, f"{len(left)} English texts:\n" + "\n".join(left)


def test_core_progress_texts_are_said_in_chinese():
    """The attacks' progress (written by core in English) is reworded for the bar, and said in the language
    of the page that shows it; unknown texts pass as they are."""
    from dashboard.components.core_words import reword
    from dashboard.i18n import catalogue
    from dashboard.views import attack_compute

    zh = catalogue("zh").gettext
    said, names = attack_compute.progress_words()
    step = reword("PGD (projected gradient steps): step 3 of 60", said, names)
    assert step.translated(zh) == "PGD（投影梯度多步）：第 3 步，共 60 步"
    assert str(step) == "PGD (projected gradient steps): step 3 of 60"  # the same words, in English
    assert reword("PGD at epsilon 2 through JPEG re-compression (BPDA): batch 1 of 2", said, names).translated(
        zh) == "PGD，ε = 2，穿过JPEG 重新压缩（BPDA）：第 1 批，共 2 批"
    assert reword("something new", said, names) == "something new"
